"""``[commands."<subsystem>/<command>"]``: every rule, each with its exact message.

The rules are the contract of docs/commands.md; a change in wording shows up here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aaisp_multi_exporter.config import (
    ConfigError,
    builtin_declarations,
    load_config,
    parse_config,
)
from aaisp_multi_exporter.demo import TELEPHONY_COMMAND
from tests.config.support import MINIMAL, problems_of

PHONES = '[modules.phones]\ncommands = ["telephony/info"]\n'
TELEPHONY = TELEPHONY_COMMAND


def gauge(field: str, metric: str, extra: str = "", command: str = "telephony/info") -> str:
    return (
        f'\n[[commands."{command}".gauges]]\nfield = "{field}"\nmetric = "{metric}"\n'
        f'help = "h"\n{extra}'
    )


READ_ONLY = "read-only: info, quota, services, usage, ratecard"
T = 'modules.toml: commands."telephony/info"'


@pytest.mark.parametrize(
    ("declared", "problems"),
    [
        pytest.param(
            '[commands."telephony/kill"]\npayload = "kill"\n',
            [
                'modules.toml: commands."telephony/kill": "kill" is not a read-only command, '
                f"and the exporter never calls one that changes a line; {READ_ONLY}"
            ],
            id="write-command",
        ),
        pytest.param(
            '[commands."broadband/cease"]\npayload = "x"\n',
            [
                'modules.toml: commands."broadband/cease": "cease" is not a read-only command, '
                f"and the exporter never calls one that changes a line; {READ_ONLY}"
            ],
            id="built-in-subsystem-write-command",
        ),
        pytest.param(
            '[commands."Telephony/Info"]\npayload = "info"\n',
            [
                'modules.toml: commands."Telephony/Info": expected "<subsystem>/<command>" in '
                'lower case, such as "telephony/info", got "Telephony/Info"'
            ],
            id="upper-case-name",
        ),
        pytest.param(
            '[commands.telephony.info]\npayload = "info"\n',
            [
                'modules.toml: commands.telephony: expected "<subsystem>/<command>" in lower '
                'case, such as "telephony/info", got "telephony"; write the name in quotes: '
                '[commands."telephony/info"]'
            ],
            id="dotted-name-unquoted",
        ),
        pytest.param(
            TELEPHONY.replace("payload =", "paylaod ="),
            [f'{T}.paylaod: unknown key; did you mean "payload"?'],
            id="misspelt-key",
        ),
        pytest.param(
            TELEPHONY.replace('metric = "aaisp_telephony_credit_gbp"', 'metric = "credit"'),
            [f'{T}.gauges[0].metric: must start with "aaisp_", got "credit"'],
            id="metric-prefix",
        ),
        pytest.param(
            TELEPHONY.replace('"aaisp_telephony_credit_gbp"', '"aaisp_probe_credit"'),
            [
                f'{T}.gauges[0].metric: must not start with "aaisp_probe_" or '
                '"aaisp_exporter_", got "aaisp_probe_credit"'
            ],
            id="metric-exporter-prefix",
        ),
        pytest.param(
            TELEPHONY.replace('"aaisp_telephony_credit_gbp"', '"aaisp_telephony_calls_total"'),
            [
                f'{T}.gauges[0].metric: must not end in "_total", "_created", "_bucket", '
                '"_count", "_sum": they are for counters and histograms'
            ],
            id="metric-counter-suffix",
        ),
        pytest.param(
            TELEPHONY.replace('"aaisp_telephony_credit_gbp"', '"aaisp_telephony:credit"'),
            [
                f"{T}.gauges[0].metric: must be a metric name (letters, digits and _), "
                'got "aaisp_telephony:credit"'
            ],
            id="metric-characters",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["instance"]'),
            [f'{T}.info_labels: "instance" is a label Prometheus or the exporter sets'],
            id="reserved-label",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["__name"]'),
            [
                f'{T}.info_labels: "__name" cannot be a label name: names starting with "__" '
                "are reserved for Prometheus"
            ],
            id="double-underscore-label",
        ),
        pytest.param(
            TELEPHONY.replace('info_metric = "aaisp_telephony_number_info"\n', ""),
            [f"{T}.info_labels: needs info_metric, the always-1 gauge that carries them"],
            id="labels-without-info-metric",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["number"]'),
            [f'{T}.info_labels: "number" is the key\'s label already'],
            id="key-as-info-label",
        ),
        pytest.param(
            TELEPHONY + gauge("number", "aaisp_telephony_number"),
            [f'{T}.gauges[1].field: "number" is already read (the key)'],
            id="key-as-gauge",
        ),
        pytest.param(
            TELEPHONY + gauge("Credit", "aaisp_telephony_credit_again"),
            [f'{T}.gauges[1].field: "credit" is already read (gauges[0])'],
            id="field-read-twice",
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_calls", 'parse = "float"\n'),
            [
                f'{T}.gauges[1].parse: must be "count" or "number" or "uk_time" or "bool" or '
                '"present" or "date" or "duration", got string "float"'
            ],
            id="parser-unknown",
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_calls", "scale = 0\n"),
            [f"{T}.gauges[1].scale: must not be 0"],
            id="scale-zero",
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_calls", 'omit_zero = "minutes"\n'),
            [f'{T}.gauges[1].omit_zero: names "minutes", which no gauge of telephony/info reads'],
            id="omit-zero-names-no-gauge",
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_credit_gbp"),
            [f'{T}.gauges[1].metric: "aaisp_telephony_credit_gbp" is exported twice here'],
            id="metric-twice-in-one-command",
        ),
        pytest.param(
            TELEPHONY
            + '[commands."telephony/usage"]\npayload = "usage"\n'
            + gauge("spend", "aaisp_telephony_credit_gbp", command="telephony/usage"),
            [
                'modules.toml: commands."telephony/usage".gauges[0].metric: '
                '"aaisp_telephony_credit_gbp" is already exported by telephony/info '
                '("modules.toml"); a metric has one owner'
            ],
            id="second-owner-across-commands",
        ),
        pytest.param(
            TELEPHONY + gauge("minutes", "aaisp_broadband_quota_total_bytes"),
            [
                f'{T}.gauges[1].metric: "aaisp_broadband_quota_total_bytes" is already '
                'exported by broadband/quota ("built-in"); a metric has one owner'
            ],
            id="second-owner-of-a-built-in-metric",
        ),
        pytest.param(
            '[commands."broadband/info"]\npayload = "lines"\nkey = "service"\n',
            [
                'modules.toml: commands."broadband/info".key: broadband/info is built in; '
                "only gauges and info_labels may be added to it",
                'modules.toml: commands."broadband/info".payload: broadband/info is built in; '
                "only gauges and info_labels may be added to it",
            ],
            id="built-in-changed",
        ),
        pytest.param(
            gauge("tx_rate", "aaisp_broadband_tx", command="broadband/info"),
            [
                'modules.toml: commands."broadband/info".gauges[0].field: broadband/info '
                'already reads "tx_rate" (gauges[0])'
            ],
            id="built-in-field-read-again",
        ),
        pytest.param(
            gauge("login", "aaisp_broadband_login", command="broadband/info"),
            [
                'modules.toml: commands."broadband/info".gauges[0].field: broadband/info '
                'already reads "login" (info_labels)'
            ],
            id="built-in-label-as-gauge",
        ),
        pytest.param(
            gauge("quota_monthly", "aaisp_broadband_monthly", command="broadband/info"),
            [
                'modules.toml: commands."broadband/info".gauges[0].field: "quota_monthly" is '
                "exported by broadband/quota; a field has one owner"
            ],
            id="built-in-field-another-command-owns",
        ),
    ],
)
def test_declaration_problems(declared: str, problems: list[str]) -> None:
    assert problems_of(MINIMAL + declared, env={}) == problems


def test_a_module_may_use_a_declared_command() -> None:
    config = parse_config(MINIMAL + PHONES + TELEPHONY, env={})
    assert config.modules["phones"].commands == ("telephony/info",)
    declared = config.commands["telephony/info"]
    assert (declared.payload_key, declared.key_field, declared.key_label_name) == (
        "info",
        "number",
        "number",
    )
    assert [gauge.metric for gauge in declared.gauges] == ["aaisp_telephony_credit_gbp"]
    assert list(config.commands) == ["broadband/info", "broadband/quota", "telephony/info"]


@pytest.mark.parametrize(
    ("name", "payload"),
    [("telephony/info", "info"), ("telephony/ratecard", "ratecard"), ("login/usage", "usage")],
)
def test_an_empty_declaration_reads_the_payload_named_after_its_command(
    name: str, payload: str
) -> None:
    """The first step of declaring a command (docs/commands.md): its name, and a module.
    ``--chaos.check`` then shows whether the payload is there, and ``--chaos.suggest`` says
    where it is, and which field names the entries, when it is not."""
    module = f'[modules.m]\ncommands = ["{name}"]\n'
    config = parse_config(f'{MINIMAL}{module}[commands."{name}"]\n', env={})
    declared = config.commands[name]
    assert (declared.payload_key, declared.key_field, declared.entries) == (payload, "id", "first")


def test_a_module_cannot_use_an_undeclared_command() -> None:
    assert problems_of(MINIMAL + PHONES, env={}) == [
        'modules.toml: modules.phones.commands: unknown command "telephony/info"; allowed: '
        'broadband/info, broadband/quota; declare it as [commands."telephony/info"] to read it'
    ]


def test_a_built_in_takes_new_gauges() -> None:
    config = parse_config(
        MINIMAL + gauge("snr", "aaisp_broadband_line_snr_db", command="broadband/info"), env={}
    )
    builtin = builtin_declarations()["broadband/info"]
    info = config.commands["broadband/info"]
    assert info.gauges[: len(builtin.gauges)] == builtin.gauges
    assert info.gauges[-1].field == "snr"
    assert builtin_declarations()["broadband/info"] == builtin  # the package's is untouched


def test_tables_of_one_command_add_up_across_files(tmp_path: Path) -> None:
    """A --chaos.suggest file adds gauges to a command declared elsewhere; any other key is
    set in one file only."""
    (tmp_path / "modules.toml").write_text(MINIMAL + PHONES + TELEPHONY)
    (tmp_path / "more.toml").write_text(gauge("calls_today", "aaisp_telephony_calls_today"))
    config = load_config([tmp_path / "modules.toml", tmp_path / "more.toml"], env={})
    metrics = [gauge.metric for gauge in config.commands["telephony/info"].gauges]
    assert metrics == ["aaisp_telephony_credit_gbp", "aaisp_telephony_calls_today"]
    (tmp_path / "more.toml").write_text('[commands."telephony/info"]\npayload = "numbers"\n')
    with pytest.raises(ConfigError) as caught:
        load_config([tmp_path / "modules.toml", tmp_path / "more.toml"], env={})
    assert caught.value.problems == [
        f'{tmp_path / "more.toml"}: commands."telephony/info".payload: already set in '
        f'"{tmp_path / "modules.toml"}"'
    ]
