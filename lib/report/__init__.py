"""`raydapt report`: runs' Parquet metrics into tables, figures and a page."""
