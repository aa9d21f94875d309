"""Benchmarks: `python -m bench`. Each prints its figures beside a baseline measured in the same run."""
