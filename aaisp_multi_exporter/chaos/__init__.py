"""Everything about talking to CHAOS, A&A's control API: what each command is, how a reply is
read, how calls are made and shared.

- ``commands``: each read-only command as a probe runs it (declarations compiled to parsers);
- ``parsers``: one parser per attribute type of the CHAOS manual (count, number, dates...);
- ``errors``: how a call can end (``Outcome``) and the one error that carries it;
- ``text``: characters from CHAOS made writable (charsets, lone surrogates);
- ``jsonwalk``: a large reply read a piece at a time, pausing for the event loop;
- ``replies``: a reply's envelope and refusals, and its entries into compact rows;
- ``shapes``: where a reply's entries are (nested payloads) and which of them a probe reads;
- ``records``: compact rows, parsed into line records only when asked for;
- ``settings``: a service's adjustable settings from the reply's ``options``;
- ``client``: the HTTP client (one aiohttp session, tenacity retries, per-credential limits);
- ``proxy``: which proxy, if any, a call goes through (``proxy_url``, else the environment);
- ``snapshots``: replies and failures shared between probes, cached, refreshed ahead.
"""
