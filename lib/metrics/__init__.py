"""Parquet metrics: the record of every run (Ray Train V2 keeps no metrics without a
checkpoint, so these files are what reports read)."""
