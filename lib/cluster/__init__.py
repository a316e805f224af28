"""Submitting jobs to a Ray cluster and following them (`raydapt submit`, `raydapt job`)."""
