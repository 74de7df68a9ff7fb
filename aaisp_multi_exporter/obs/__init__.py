"""Leaves any layer may use: how the process tells what it does.

- ``logs``: logfmt or JSON lines on stderr, as Prometheus exporters print them;
- ``throttle``: one log line per key per interval, whatever an attack or outage sends;
- ``metrics``: the exporter's own metrics for ``/metrics``, fixed cardinality.
"""
