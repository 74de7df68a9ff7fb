"""Multi-target Prometheus exporter for the Andrews & Arnold CHAOS v2 API."""

__version__ = "0.1.0"
