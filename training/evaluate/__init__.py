"""Evaluation: the server's own completion pipeline, scored on benchmarks and held-out files."""
