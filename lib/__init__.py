"""raydapt library: data, models, training loops and reports behind the jobs/ entry points."""
