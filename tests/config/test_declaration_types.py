"""What a declaration can say (SPEC 6b): every type, map, state set, payload path, entry rule and
label, accepted or refused with its exact message (file, table and key)."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.config import parse_config
from tests.config.support import MINIMAL, problems_of
from tests.config.test_commands import TELEPHONY, T, gauge

LOGIN = '[commands."login/info"]\npayload = "info"\nkey = "login"\n'
L = 'modules.toml: commands."login/info"'


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ('parse = "bool"\n', "bool"),
        ('parse = "present"\n', "present"),
        ('parse = "date"\n', "date"),
        ('parse = "duration"\n', "duration"),
        ('parse = "duration"\nscale = 0.001\n', "duration"),
        ("map = { up = 1, down = 0 }\n", "map"),
        ("map = { up = 1, down = 0.5 }\ndefault = -1\n", "map"),
        ('states = ["Active", "Suspended", "Ceased"]\n', "states"),
        ('parse = "date"\nomit_zero = "calls"\n', "date"),
        ("", "number"),
    ],
)
def test_gauge_kinds_load(extra: str, kind: str) -> None:
    declared = (
        TELEPHONY
        + gauge("calls", "aaisp_telephony_calls")
        + gauge("state", "aaisp_telephony_state", extra)
    )
    config = parse_config(MINIMAL + declared, env={})
    assert config.commands["telephony/info"].gauges[-1].kind == kind


NUMBERS_ONLY = "applies to numbers only (parse = count, number, duration)"


@pytest.mark.parametrize(
    ("extra", "problems"),
    [
        pytest.param(
            'parse = "bool"\nmap = { y = 1 }\n',
            [f"{T}.gauges[1].map: parse and map are alternatives: give one of parse, map, states"],
            id="parse-and-map",
        ),
        pytest.param(
            'map = { y = 1 }\nstates = ["a"]\n',
            [
                f"{T}.gauges[1].states: map and states are alternatives: give one of parse, map, "
                "states"
            ],
            id="map-and-states",
        ),
        pytest.param(
            "default = 0\n",
            [f"{T}.gauges[1].default: needs map: it is the number for a text map leaves out"],
            id="default-without-map",
        ),
        pytest.param(
            'parse = "bool"\nscale = 2.0\n',
            [f"{T}.gauges[1].scale: {NUMBERS_ONLY}"],
            id="scale-on-a-flag",
        ),
        pytest.param(
            'states = ["a", "b"]\nomit_zero = true\n',
            [f"{T}.gauges[1].omit_zero: {NUMBERS_ONLY}"],
            id="omit-zero-on-a-state-set",
        ),
        pytest.param(
            "map = {}\n",
            [f"{T}.gauges[1].map: must map 1 to 256 texts to numbers, got 0"],
            id="empty-map",
        ),
        pytest.param(
            "map = { Up = 1, up = 2 }\n",
            [f'{T}.gauges[1].map: "Up" and "up" are one text (case is ignored)'],
            id="map-keys-alike",
        ),
        pytest.param(
            'map = { up = "1" }\n',
            [f'{T}.gauges[1].map.up: expected a number, got string "1"'],
            id="map-value-text",
        ),
        pytest.param(
            "map = { up = nan }\n",
            [f"{T}.gauges[1].map.up: must be a finite number, got float nan"],
            id="map-value-nan",
        ),
        pytest.param(
            "states = []\n",
            [f"{T}.gauges[1].states: must list 1 to 64 states, got 0"],
            id="no-states",
        ),
        pytest.param(
            "states = [" + ", ".join(f'"s{i}"' for i in range(65)) + "]\n",
            [f"{T}.gauges[1].states: must list 1 to 64 states, got 65"],
            id="too-many-states",
        ),
        pytest.param(
            'states = ["Active", "ACTIVE"]\n',
            [f'{T}.gauges[1].states: "Active" and "ACTIVE" are one state (case is ignored)'],
            id="states-alike",
        ),
        pytest.param(
            'states = [""]\n',
            [f'{T}.gauges[1].states: each state must be 1 to 128 printable characters, got ""'],
            id="empty-state",
        ),
        pytest.param(
            'states = ["a\\nb"]\n',
            [
                f"{T}.gauges[1].states: each state must be 1 to 128 printable characters, "
                'got "a\\nb"'
            ],
            id="state-with-newline",
        ),
    ],
)
def test_gauge_problems(extra: str, problems: list[str]) -> None:
    declared = TELEPHONY + gauge("state", "aaisp_telephony_state", extra)
    assert problems_of(MINIMAL + declared, env={}) == problems


@pytest.mark.parametrize(
    ("declared", "problems"),
    [
        pytest.param(
            LOGIN + 'entries = "latest"\n',
            [f'{L}.order_by: entries = "latest" needs order_by, a date field'],
            id="latest-without-order",
        ),
        pytest.param(
            LOGIN + 'order_by = "when"\n',
            [f'{L}.order_by: is read with entries = "latest" only'],
            id="order-without-latest",
        ),
        pytest.param(
            LOGIN + 'entries = "each"\n',
            [f'{L}.labels: entries = "each" needs labels that tell entries apart'],
            id="each-without-labels",
        ),
        pytest.param(
            LOGIN + 'entries = "all"\n',
            [f'{L}.labels: entries = "all" needs labels that tell entries apart'],
            id="all-without-labels",
        ),
        pytest.param(
            LOGIN + 'labels = ["day"]\n',
            [f'{L}.labels: label entries with entries = "each" or "all" only'],
            id="labels-on-first",
        ),
        pytest.param(
            LOGIN + 'entries = "each"\nlabels = ["day", "Day"]\n',
            [f'{L}.labels: "day" is given twice'],
            id="label-twice",
        ),
        pytest.param(
            LOGIN + 'entries = "each"\nlabels = ["login"]\n',
            [f'{L}.labels: "login" is the key\'s label already'],
            id="label-is-the-key",
        ),
        pytest.param(
            LOGIN + 'entries = "each"\nlabels = ["job"]\n',
            [f'{L}.labels: "job" is a label Prometheus or the exporter sets'],
            id="reserved-label",
        ),
        pytest.param(
            LOGIN
            + 'entries = "each"\nlabels = ["aaisp_login_state"]\n'
            + gauge("state", "aaisp_login_state", 'states = ["up"]\n', "login/info"),
            [f'{L}.labels: "aaisp_login_state" is a state set\'s name already'],
            id="label-is-a-state-set",
        ),
        pytest.param(
            LOGIN + 'entries = "all"\nlabels = ["day"]\nsettings = true\n',
            [f'{L}.settings: settings are one service\'s: entries = "first" only'],
            id="settings-of-a-table",
        ),
        pytest.param(
            LOGIN + 'entries = "several"\n',
            [f'{L}.entries: must be "first" or "latest" or "each" or "all", got string "several"'],
            id="unknown-entries",
        ),
        pytest.param(
            '[commands."telephony/ratecard"]\npayload = "rate_card..rate"\n',
            [
                'modules.toml: commands."telephony/ratecard".payload: must be a field name, '
                "or field names joined by dots (letters, digits, _ and -), got "
                '"rate_card..rate"'
            ],
            id="payload-empty-step",
        ),
        pytest.param(
            '[commands."broadband/quota"]\ninfo_labels = ["quota_monthly"]\n',
            [
                'modules.toml: commands."broadband/quota".info_labels: needs info_metric, the '
                "always-1 gauge that carries them",
                'modules.toml: commands."broadband/quota".info_labels: broadband/quota already '
                'reads "quota_monthly"',
            ],
            id="built-in-without-info-metric",
        ),
        pytest.param(
            '[commands."broadband/info"]\ninfo_labels = ["tx_rate"]\n',
            [
                'modules.toml: commands."broadband/info".info_labels: broadband/info already '
                'reads "tx_rate"'
            ],
            id="built-in-label-on-a-gauge-field",
        ),
    ],
)
def test_command_problems(declared: str, problems: list[str]) -> None:
    assert sorted(problems_of(MINIMAL + declared, env={})) == sorted(problems)


@pytest.mark.parametrize(
    ("declared", "check"),
    [
        pytest.param(
            '[commands."telephony/ratecard"]\npayload = "rate_card.rates.rate"\n'
            'entries = "all"\nlabels = ["prefix", "band"]\n',
            lambda d: d.payload_path == ("rate_card", "rates", "rate") and d.entries == "all",
            id="nested-table",
        ),
        pytest.param(
            LOGIN + 'entries = "latest"\norder_by = "Last-Seen"\n',
            lambda d: d.order_by == "Last-Seen" and "last_seen" in d.fields_read(),
            id="latest",
        ),
        pytest.param(
            '[commands."broadband/info"]\ninfo_labels = ["Care-Level"]\n',
            lambda d: d.info_labels == ("login", "postcode", "care_level"),
            id="built-in-info-label",
        ),
    ],
)
def test_command_shapes_load(declared: str, check: object) -> None:
    config = parse_config(MINIMAL + declared, env={})
    name = declared.split('"')[1]
    assert callable(check)
    assert check(config.commands[name])
