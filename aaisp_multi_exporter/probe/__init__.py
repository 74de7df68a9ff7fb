"""One ``/probe`` request, from query to exposition text, in the order it happens.

- ``request``: the query's rules (every 400) and the deadline (blackbox_exporter's rule);
- ``run``: the CHAOS replies each module needs, as results (a failure is a result too);
- ``fetching``: the one way to a snapshot (its key, the CHAOS call behind it), discovery's too;
- ``slots``: ``--web.max-requests``, held by probes that start CHAOS calls, not those that wait;
- ``results``: what a probe found, per command, module and probe;
- ``render``: a result in, the answer's bytes out, with what is kept between probes;
- ``metrics``: results to Prometheus families (pure mapping);
- ``exposition``: the negotiated format, and the bytes of families and samples in each;
- ``log``: the probe's own log;
- ``report``: the ``debug=true`` answer built from it.
"""
