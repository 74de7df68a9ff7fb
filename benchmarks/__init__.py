"""Benchmarks of the exporter against Debian's blackbox_exporter; see README.md."""
