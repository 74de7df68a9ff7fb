"""Everything about talking to CHAOS, A&A's control API.

- ``commands``: the one table of what each read-only command is (payload key, fields and how
  each is parsed, the metric families it owns);
- ``errors``: how a call can end (``Outcome``) and the one error that carries it
  (``ChaosError``);
- ``replies``: pure, bounded parsing of a reply into line records;
- ``client``: the HTTP client (one aiohttp session, tenacity retries, per-credential limits);
- ``snapshots``: answers and failures shared between probes, cached, refreshed ahead;
- ``check`` and ``capture``: ``--chaos.check`` and its redacted ``--chaos.capture`` files.
"""
