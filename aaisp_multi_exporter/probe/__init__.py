"""One ``/probe`` request, from query to exposition text, in the order it happens.

- ``request``: the query's rules (every 400) and the deadline (blackbox_exporter's rule);
- ``run``: the CHAOS answers each module needs, as results (a failure is a result too);
- ``metrics``: results to Prometheus families and text, from registries made for the request;
- ``log``: the probe's own log and the ``debug=true`` answer built from it.
"""
