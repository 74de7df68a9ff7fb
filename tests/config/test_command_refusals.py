"""Declarations that loaded and then failed or wrote wrong series (issue 23: N2, N4, N5,
N13, N14), each refused at load with its exact message, and those at the edges that load."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.config import parse_config
from tests.config.support import MINIMAL, problems_of
from tests.config.test_commands import PHONES, TELEPHONY, T, gauge


@pytest.mark.parametrize(
    ("declared", "problems"),
    [
        *(
            pytest.param(
                TELEPHONY.replace('info_labels = ["name"]', f'info_labels = ["{label}"]'),
                [
                    f'{T}.info_labels: "{label}" is the label of a histogram\'s or a '
                    "summary's series, not a gauge's"
                ],
                id=f"label-{label}",
            )
            for label in ("le", "quantile")
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["9name"]'),
            [
                f'{T}.info_labels: "9name" cannot be a label name (letters, digits and _, '
                "not starting with a digit)"
            ],
            id="label-starting-with-a-digit",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', f'info_labels = ["{"n" * 65}"]'),
            [f'{T}.info_labels: must be a field name (letters, digits, _ and -), got "{"n" * 65}"'],
            id="label-longer-than-a-field-name",
        ),
        # N2: two spellings of one field made two labels of one name, and a 500 per probe.
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["name", "NAME"]'),
            [
                f'{T}.info_labels: "name" and "NAME" are one field (names are compared '
                'case-insensitively, with "-" as "_")'
            ],
            id="info-labels-one-field-two-cases",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["a-b", "a_b"]'),
            [
                f'{T}.info_labels: "a-b" and "a_b" are one field (names are compared '
                'case-insensitively, with "-" as "_")'
            ],
            id="info-labels-one-field-dash-and-underscore",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["name", "name"]'),
            [f'{T}.info_labels: "name" is given twice'],
            id="info-label-twice",
        ),
        # N5: discovery writes __meta_aaisp_auth itself.
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["Auth"]'),
            [
                f'{T}.info_labels: "auth" is a label /discover writes itself: '
                "__meta_aaisp_auth carries the credential set's name"
            ],
            id="info-label-discovery-writes",
        ),
        # N4: the key's own name is the info metric's label unless key_label says otherwise.
        *(
            pytest.param(
                TELEPHONY.replace('key = "number"', f'key = "{key}"'),
                [f"{T}.key: the key's label: {problem}; name it with key_label"],
                id=f"key-label-{key}",
            )
            for key, problem in [
                (
                    "__name__",
                    '"__name__" cannot be a label name: names starting with "__" are '
                    "reserved for Prometheus",
                ),
                ("instance", '"instance" is a label Prometheus or the exporter sets'),
                ("job", '"job" is a label Prometheus or the exporter sets'),
                ("Module", '"module" is a label Prometheus or the exporter sets'),
                (
                    "9number",
                    '"9number" cannot be a label name (letters, digits and _, not starting '
                    "with a digit)",
                ),
            ]
        ),
        pytest.param(
            TELEPHONY.replace('key = "number"', 'key = "number"\nkey_label = "job"'),
            [f'{T}.key_label: "job" is a label Prometheus or the exporter sets'],
            id="key-label-reserved",
        ),
        pytest.param(
            TELEPHONY.replace('key = "number"', 'key = "number"\nkey_label = "name"'),
            [f'{T}.info_labels: "name" is the key\'s label already'],
            id="key-label-is-an-info-label",
        ),
        pytest.param(
            TELEPHONY.replace('key = "number"', 'key = "number"\nkey_label = "phone"').replace(
                'info_labels = ["name"]', 'info_labels = ["Number"]'
            ),
            [
                f'{T}.info_labels: "number" is the key, which the info metric carries '
                'already (label "phone")'
            ],
            id="key-field-as-info-label",
        ),
        # N13: accepted, then quietly wrong.
        *(
            pytest.param(
                TELEPHONY.replace('payload = "info"', f'payload = "{member}"'),
                [
                    f'{T}.payload: "{member}" is a member of every CHAOS reply, not a payload '
                    "(the envelope: subsystem, command, request, prices, state, options, error)"
                ],
                id=f"payload-envelope-{member}",
            )
            for member in ("error", "request", "options", "Error", "subsystem")
        ),
        *(
            pytest.param(
                TELEPHONY + gauge("calls", "aaisp_telephony_calls", f"scale = {scale}\n"),
                [
                    f"{T}.gauges[1].scale: must be at most 1e12 in size (a unit conversion, "
                    f"such as 0.125 or 1000), got {shown}"
                ],
                id=f"scale-{scale}",
            )
            for scale, shown in [("1e308", "1e+308"), ("-2e12", "-2000000000000.0")]
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_calls", "scale = inf\n"),
            [f"{T}.gauges[1].scale: must be a finite number, got float inf"],
            id="scale-infinite",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', f'info_help = "{"h" * 301}"'),
            [f"{T}.info_help: String should have at most 300 characters"],
            id="info-help-too-long",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_help = ""'),
            [f"{T}.info_help: String should have at least 1 character"],
            id="info-help-empty",
        ),
    ],
)
def test_declaration_problems(declared: str, problems: list[str]) -> None:
    assert problems_of(MINIMAL + declared, env={}) == problems


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param(
            TELEPHONY.replace('key = "number"', 'key = "9number"\nkey_label = "number"'),
            id="key-label-names-an-odd-key",
        ),
        pytest.param(
            TELEPHONY.replace('key = "number"', 'key = "job"').replace(
                'info_metric = "aaisp_telephony_number_info"\ninfo_labels = ["name"]\n', ""
            ),
            id="key-is-no-label-without-info-metric",
        ),
        pytest.param(
            TELEPHONY + gauge("calls", "aaisp_telephony_calls", "scale = -1e12\n"),
            id="scale-at-the-bound",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', f'info_help = "{"h" * 300}"'),
            id="info-help-at-the-bound",
        ),
        pytest.param(
            TELEPHONY.replace('info_labels = ["name"]', 'info_labels = ["a-b", "c_d"]'),
            id="labels-with-dashes",
        ),
    ],
)
def test_declarations_at_the_edges_load(declared: str) -> None:
    assert "telephony/info" in parse_config(MINIMAL + PHONES + declared, env={}).commands


def test_an_unknown_command_lists_each_allowed_once() -> None:
    """N14: a built-in extended in the file was listed twice among the allowed."""
    extended = gauge("snr", "aaisp_broadband_line_snr_db", command="broadband/info")
    assert problems_of(MINIMAL + PHONES + extended, env={}) == [
        'modules.toml: modules.phones.commands: unknown command "telephony/info"; allowed: '
        'broadband/info, broadband/quota; declare it as [commands."telephony/info"] to read it'
    ]
