"""The diagnostics: one-shot command-line tools that call CHAOS once per credential set and
command, before the first scrape, and tell what came back. They sit between the command line
and the server, and ask the client for each call (``chaos.client.call_once``).

- ``check``: ``--chaos.check``: one call per credential set and command, reported;
- ``capture``: ``--chaos.capture``'s redaction of a reply, and the files it writes;
- ``suggest``: ``--chaos.suggest``: what the check saw, and the file written from it;
- ``suggest_types``: the type each field's values fit (flag, number, date, state set...);
- ``suggest_shapes``: for a reply a declaration does not fit, its payload, key and entries;
- ``suggest_text``: the suggestions as TOML that always loads.
"""
