"""python -m jobs: the same suite as the `raydapt` console script."""

from jobs import main

main()
