"""Mapping a command's line record to the families it owns: what is exported, what is not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.core import GaugeMetricFamily, Metric

from aaisp_multi_exporter.chaos.commands import INFO, QUOTA, Command
from aaisp_multi_exporter.chaos.records import LineRecord
from aaisp_multi_exporter.probe.exposition import EOF, FORMATS, Format
from aaisp_multi_exporter.probe.metrics import line_families, timing_families
from aaisp_multi_exporter.probe.render import timing_text
from aaisp_multi_exporter.probe.results import CommandResult, ModuleResult, ProbeResult


def flatten(families: list[Metric]) -> dict[str, float]:
    """``name{labels}`` -> value, for compact table assertions."""
    out: dict[str, float] = {}
    for family in families:
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


FULL_INFO = LineRecord(
    "32891",
    {
        "login": "gb12@a.1",
        "postcode": "SA65 9RR",
        "tx_rate": 5181000,
        "rx_rate": 1205000,
        "tx_rate_adjusted": 5087000,
        # Not owned by broadband/info: never exported from it, even when present.
        "quota_monthly": 100000000000,
    },
)


@pytest.mark.parametrize(
    ("command", "record", "expected"),
    [
        pytest.param(
            INFO,
            FULL_INFO,
            {
                "aaisp_broadband_line_info"
                '{line_id="32891",login="gb12@a.1",postcode="SA65 9RR"}': 1,
                "aaisp_broadband_line_sync_download_bytes_per_second": 5181000 / 8,
                "aaisp_broadband_line_sync_upload_bytes_per_second": 1205000 / 8,
                "aaisp_broadband_line_adjusted_download_bytes_per_second": 5087000 / 8,
            },
            id="info-every-field-bits-to-bytes",
        ),
        pytest.param(
            INFO,
            LineRecord("1", {"login": "a@a", "rx_rate": 10}),
            {
                'aaisp_broadband_line_info{line_id="1",login="a@a",postcode=""}': 1,
                "aaisp_broadband_line_sync_upload_bytes_per_second": 1.25,
            },
            id="missing-fields-left-out-not-zero",
        ),
        pytest.param(
            INFO,
            LineRecord("1", {"tx_rate": 8}),
            {
                "aaisp_broadband_line_sync_download_bytes_per_second": 1,
            },
            id="no-login-no-info-series",
        ),
        pytest.param(
            QUOTA,
            LineRecord(
                "32891",
                {
                    "quota_monthly": 100000000000,
                    "quota_remaining": 84667320096,
                    "quota_timestamp": 1479258000.0,
                },
            ),
            {
                "aaisp_broadband_quota_total_bytes": 100000000000,
                "aaisp_broadband_quota_remaining_bytes": 84667320096,
                "aaisp_broadband_quota_timestamp_seconds": 1479258000.0,
            },
            id="quota-every-field",
        ),
        pytest.param(
            QUOTA,
            LineRecord("2", {"quota_monthly": 0, "quota_remaining": 0, "quota_timestamp": 5.0}),
            {"aaisp_broadband_quota_timestamp_seconds": 5.0},
            id="unlimited-zero-quota-no-quota-gauges",
        ),
        pytest.param(
            QUOTA,
            LineRecord("3", {"quota_remaining": 7}),
            {},
            id="absent-monthly-no-quota-gauges",
        ),
        pytest.param(
            QUOTA,
            LineRecord("4", {"quota_monthly": 10, "quota_remaining": 18}),
            {
                "aaisp_broadband_quota_total_bytes": 10,
                "aaisp_broadband_quota_remaining_bytes": 18,
            },
            id="remaining-above-total-kept",
        ),
        pytest.param(
            QUOTA,
            LineRecord("5", {"quota_monthly": 10}),
            {"aaisp_broadband_quota_total_bytes": 10},
            id="total-without-remaining",
        ),
        pytest.param(
            QUOTA,
            LineRecord("6", {"quota_monthly": 2**63 - 1}),
            {"aaisp_broadband_quota_total_bytes": float(2**63 - 1)},
            id="largest-sane-number",
        ),
    ],
)
def test_line_families(command: Command, record: LineRecord, expected: dict[str, float]) -> None:
    assert flatten(line_families(command, record)) == expected


def made_by_the_constructor(result: ProbeResult) -> list[GaugeMetricFamily]:
    """What GaugeMetricFamily's own constructor and add_metric make for the same values."""
    duration = GaugeMetricFamily(
        "probe_duration_seconds", "How long the probe took.", value=result.duration
    )
    age = GaugeMetricFamily(
        "aaisp_probe_data_age_seconds",
        "Age of the CHAOS answer used (0 when fetched for this probe; answers are shared "
        "for the module's cache_seconds).",
        labels=["module"],
    )
    for module in result.modules:
        if module.data_age is not None:
            age.add_metric([module.name], module.data_age)
    return [duration, age]


def module(name: str, *ages: float | None) -> ModuleResult:
    results = tuple(CommandResult(INFO, age=age) for age in ages)
    return ModuleResult(name, "home", all(age is not None for age in ages), results)


@pytest.mark.parametrize(
    "modules",
    [
        pytest.param((module("line", 1.5),), id="one-module"),
        pytest.param((module("line", 0.0), module("quota", 12.25, 3.0)), id="oldest-answer"),
        pytest.param((module("line", None),), id="no-answer"),
        pytest.param((), id="no-modules"),
    ],
)
def test_timing_families_are_what_the_constructor_makes(modules: tuple[ModuleResult, ...]) -> None:
    """Made from checked templates for speed, they must not differ in any attribute."""
    result = ProbeResult("10001", True, 0.00123, 10.0, modules)
    made = timing_families(result)
    expected = made_by_the_constructor(result)
    assert made == expected
    assert [vars(family) for family in made] == [vars(family) for family in expected]
    assert all(type(family) is GaugeMetricFamily for family in made)


DURATIONS = st.floats(min_value=0, max_value=1e6, allow_nan=False) | st.sampled_from(
    [0.0, 1.5e-05, 8.965100005298154e-05, 0.001, 123456.789, 1e-300]
)
MODULE_NAMES = st.text(min_size=1, max_size=12) | st.sampled_from(["line", 'a"b', "a\\b\nc"])


class Collected:
    """What a registry's ``collect`` gives, for the library's own encoders."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


@given(
    duration=DURATIONS,
    ages=st.lists(st.tuples(MODULE_NAMES, DURATIONS | st.none()), max_size=4),
    fmt=st.sampled_from(FORMATS),
)
def test_timing_text_is_what_the_library_writes(
    duration: float, ages: list[tuple[str, float | None]], fmt: Format
) -> None:
    """Written straight to text for speed, the per-probe gauges must be prometheus_client's
    bytes in every format, whatever the figures and module names."""
    modules = tuple(module(name, age) for name, age in ages)
    result = ProbeResult("10001", True, duration, 10.0, modules)
    library = fmt.encoder(Collected(made_by_the_constructor(result)))  # type: ignore[arg-type]
    assert timing_text(result, fmt) == library.removesuffix(EOF)
