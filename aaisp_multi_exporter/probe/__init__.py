"""One ``/probe`` request, from query to exposition text, in the order it happens, and the
diagnostics that call CHAOS once from the command line.

- ``request``: the query's rules (every 400) and the deadline (blackbox_exporter's rule);
- ``run``: the CHAOS replies each module needs, as results (a failure is a result too);
- ``slots``: ``--web.max-requests``, held by probes that start CHAOS calls, not those that wait;
- ``results``: what a probe found, per command, module and probe;
- ``render``: a result in, the answer's bytes out, with what is kept between probes;
- ``metrics``: results to Prometheus families (pure mapping);
- ``exposition``: the negotiated format, and the bytes of families and samples in each;
- ``log``: the probe's own log;
- ``report``: the ``debug=true`` answer built from it;
- ``check``: ``--chaos.check`` and ``--chaos.capture``;
- ``suggest``: ``--chaos.suggest``: what the check saw, and the file written from it;
- ``suggest_types``: the type each field's values fit (flag, number, date, state set...);
- ``suggest_shapes``: for a reply a declaration does not fit, its payload, key and entries;
- ``suggest_text``: the suggestions as TOML that always loads.
"""
