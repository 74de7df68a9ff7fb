"""``--chaos.suggest`` on declarations the reply does not fit (SPEC 6b): where the entries
are, what names them or tells them apart, the settings; set where the configuration does not
set it already, a comment where it does, and the file loads either way."""

from __future__ import annotations

from typing import Any

import pytest

from tests.diagnostics.test_suggest import (
    _UNCOMMENT,
    PHONES,
    RATECARD,
    SETTINGS,
    USAGE,
    gauges_loaded,
    load_beside,
    suggested,
    table,
    unwrapped,
)

_READ = ("payload_key", "key", "entries", "order_by", "labels", "settings")


@pytest.mark.parametrize(
    ("name", "document", "body", "scope", "read", "lines"),
    [
        pytest.param(
            "telephony/ratecard",
            RATECARD,
            "",
            "account",
            ("rate_card.rates.rate", "ID", "all", None, ("rate",), False),
            ['payload = "rate_card.rates.rate"', 'entries = "all"', 'labels = ["rate"]'],
            id="a-nested-table-of-the-account",
        ),
        pytest.param(
            "telephony/ratecard",
            RATECARD,
            'payload = "ratecard"\n',
            "account",
            ("ratecard", "ID", "all", None, ("rate",), False),
            [
                '# payload = "rate_card.rates.rate"',
                "# Commented out: your configuration sets payload of telephony/ratecard",
            ],
            id="a-payload-set-already-is-a-comment",
        ),
        pytest.param(
            "telephony/info",
            PHONES,
            "",
            "account",
            ("info", "number", "first", None, (), False),
            ['key = "number"'],
            id="the-field-that-names-each-entry",
        ),
        pytest.param(
            "telephony/info",
            PHONES,
            'key = "ID"\n',
            "account",
            ("info", "ID", "first", None, (), False),
            ['# key = "number"'],
            id="a-key-set-already-is-a-comment",
        ),
        pytest.param(
            "broadband/usage",
            USAGE,
            "",
            "account",
            ("usage", "ID", "latest", "date", (), False),
            ['entries = "latest"', 'order_by = "date"'],
            id="rows-per-line-the-latest",
        ),
        pytest.param(
            "broadband/usage",
            {"usage": [{"ID": "1", "period": "a", "n": "1"}, {"ID": "1", "period": "b"}]},
            "",
            "account",
            ("usage", "ID", "each", None, ("period",), False),
            ['entries = "each"', 'labels = ["period"]'],
            id="rows-per-line-each",
        ),
        pytest.param(
            "broadband/usage",
            {"usage": [{"ID": "1", "n": "1"}, {"ID": "1", "n": "1"}]},
            "",
            "account",
            ("usage", "ID", "first", None, (), False),
            ['# Entries repeat "ID" and no field tells them apart: a probe reads the first.'],
            id="rows-nothing-tells-apart",
        ),
        pytest.param(
            "login/info",
            {"info": [{"a": "x", "n": "1"}, {"a": "x", "n": "1"}]},
            "",
            "account",
            ("info", "ID", "first", None, (), False),
            ['# No entry carries "ID", and no field names the entries or tells them apart.'],
            id="nothing-names-the-entries",
        ),
        pytest.param(
            "login/info",
            {"command": "info", "logins": "none"},
            "",
            "account",
            ("info", "ID", "first", None, (), False),
            ['# The reply has no "info" and no array of objects; its members: "command"'],
            id="no-table-at-all",
        ),
        pytest.param(
            "telephony/info",
            SETTINGS,
            "",
            "line",
            ("info", "ID", "first", None, (), True),
            ["settings = true", '# The reply holds one entry without "ID": a module with'],
            id="a-line-scope-entry-and-its-settings",
        ),
        pytest.param(
            "telephony/info",
            SETTINGS,
            "",
            "account",
            ("info", "ID", "first", None, (), False),
            ["# settings = true", "# settings = true needs every module of this command"],
            id="settings-need-line-scope",
        ),
        pytest.param(
            "login/info",
            {"info": [{"status": "up", "n": "1"}, {"status": "down", "n": "2"}]},
            'key_label = "status"\n',
            "account",
            ("info", "ID", "first", None, (), False),
            [
                '# entries = "all"',
                '# Commented out, as your declaration would refuse it: "status" is the '
                "key's label already.",
            ],
            id="a-proposal-the-declaration-refuses-is-a-comment",
        ),
        pytest.param(
            "telephony/ratecard",
            RATECARD,
            'payload = "rate_card.rates.rate"\nentries = "all"\nlabels = ["rate"]\n',
            "account",
            ("rate_card.rates.rate", "ID", "all", None, ("rate",), False),
            ['# "peak_ppm": carried by 3 entries; numbers'],
            id="declared-already",
        ),
    ],
)
def test_where_the_entries_are(
    name: str,
    document: dict[str, Any],
    body: str,
    scope: str,
    read: tuple[object, ...],
    lines: list[str],
) -> None:
    """What the file says about a declaration's shape; set where the configuration does not
    set it already, a comment where it does, and the result loads (SPEC 6b)."""
    declared = table(name, body, scope)
    text = suggested(declared=declared, name=name, document=document)
    for line in lines:
        assert line in unwrapped(text), f"{line!r}:\n{text}"
    gauges_loaded(text, declared, name)
    loaded = load_beside(declared, text).commands[name]
    assert tuple(getattr(loaded, key) for key in _READ) == read


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("", '# info_labels = ["care_level"]'),
        (
            'info_labels = ["tariff"]',
            "# To carry them as labels of an info metric, add them to info_labels",
        ),
    ],
)
def test_a_built_in_takes_text_labels(body: str, line: str) -> None:
    """``broadband/info`` has its info metric: uncommenting adds the labels to it, unless the
    configuration adds some already (then it says to add them there)."""
    declared = f'[commands."broadband/info"]\n{body}\n'
    entries = [
        {"ID": "1", "care_level": "Enhanced", "tariff": "Home"},
        {"ID": "2", "care_level": "Standard", "tariff": "Office"},
    ]
    text = suggested(declared=declared, name="broadband/info", document={"info": entries})
    assert line in text, text
    assert "info_metric" not in text
    gauges_loaded(text, declared, "broadband/info")
    labels = load_beside(declared, _UNCOMMENT.sub(r"\1 = ", text)).commands["broadband/info"]
    assert ("care_level" in labels.info_labels) == (not body)
