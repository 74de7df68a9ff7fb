"""Multi-target Prometheus exporter for the Andrews & Arnold CHAOS v2 API.

Folders are layers, imported downward only (docs/design.md, "Layers"); the top level starts
the process:

- ``__main__``: ``python -m aaisp_multi_exporter``;
- ``cli``: the command line, its flags, and one-shot commands such as ``--config.check``;
- ``diagnostics``: ``--chaos.check``, ``--chaos.capture`` and ``--chaos.suggest``, which call
  CHAOS once per credential set and command;
- ``serve``: the exporter as a process: start in order, reload on SIGHUP, stop cleanly;
- ``demo``: ``--demo``, the simulator and a configuration that points at it;
- ``versioninfo``: ``--version``, laid out as Prometheus' Go exporters do;
- ``eventloop``: uvloop where it is installed, else asyncio's own loop;
- ``server``: what the endpoints serve and remember;
- ``web``: exporter-toolkit's parts: listeners, connection limits, TLS and basic auth;
- ``probe``: one ``/probe`` request, from query to exposition text;
- ``chaos``: talking to CHAOS: commands, replies, the client, shared snapshots;
- ``config``: ``modules.toml``, validated and merged;
- ``obs``: leaves any layer may use: logs, throttled log lines, the exporter's own metrics;
- ``simulator``: the CHAOS look-alike, apart from the rest (only ``--demo`` starts it).
"""

__version__ = "0.1.0"
