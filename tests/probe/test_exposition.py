"""``probe.exposition`` writes what prometheus_client's encoders write, byte for byte.

Every case compares ``encode`` with the library's own encoder for the format that
``choose_encoder`` negotiates, so the reference is never restated here.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from aaisp_multi_exporter.probe.exposition import EOF, _Families, encode, gzip_wanted, negotiate

ACCEPT_HEADERS = [
    "",
    "*/*",
    "text/plain",
    "text/plain;version=0.0.4",
    "text/plain;version=1.0.0;escaping=underscores",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text",
    "application/openmetrics-text;version=1.0.0",
    "application/openmetrics-text;version=0.0.1",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=values",
    "application/openmetrics-text;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=2.0.0",
    # What Prometheus 2 and 3 send by default.
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
]


def reference(families: list[Metric], accept: str) -> bytes:
    encoder, content_type = choose_encoder(accept)
    text = encoder(_Families(families))
    return text.removesuffix(EOF) if content_type.startswith("application/openmetrics") else text


def gauge(
    name: str = "probe_success",
    documentation: str = "1 if it worked.",
    samples: list[tuple[dict[str, str], float]] | None = None,
) -> GaugeMetricFamily:
    if samples is None:
        return GaugeMetricFamily(name, documentation, value=1)
    labels = sorted({key for sample_labels, _ in samples for key in sample_labels})
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for sample_labels, value in samples:
        family.add_metric([sample_labels.get(label, "") for label in labels], value)
    return family


CASES: dict[str, list[Metric]] = {
    "one gauge": [gauge()],
    "no families": [],
    "empty family": [gauge(samples=[])],
    "labels sorted by name": [gauge(samples=[({"module": "quota", "line_id": "1"}, 2.5)])],
    "several samples": [gauge(samples=[({"module": "a"}, 0), ({"module": "b"}, 1)])],
    "label value escapes": [gauge(samples=[({"v": 'a"b\\c\nd'}, 1)])],
    "unicode label value": [gauge(samples=[({"v": "Café ☎ line"}, 1)])],
    "help escapes": [gauge(documentation='say "why"\\ and\nhow')],
    "empty help": [gauge(documentation="")],
    "colon name": [gauge(name="aaisp:probe_success")],
    "large and small values": [
        gauge(name=f"g{index}", samples=[({}, value)])
        for index, value in enumerate(
            [0, -0.0, 1, 123456789, 1e7, 1234567.5, 2**63, 1e-7, -1e10, 0.1 + 0.2, 4.0]
        )
    ],
    "special values": [
        gauge(name=f"g{index}", samples=[({}, value)])
        for index, value in enumerate([math.inf, -math.inf, math.nan])
    ],
    # Not written here: they must come out as the library writes them all the same.
    "counter": [CounterMetricFamily("aaisp_calls", "Calls.", value=3)],
    "gauge with unit": [GaugeMetricFamily("aaisp_age_seconds", "Age.", value=3, unit="seconds")],
    "gauge then counter": [gauge(), CounterMetricFamily("aaisp_calls", "Calls.", value=3)],
    "utf-8 metric name": [gauge(name="probe.success")],
    "utf-8 label name": [gauge(samples=[({"line.id": "1"}, 1)])],
}


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
@pytest.mark.parametrize("case", CASES)
def test_encode_writes_the_librarys_bytes(case: str, accept: str) -> None:
    families = CASES[case]
    assert encode(families, negotiate(accept)) == reference(families, accept)


@pytest.mark.parametrize(
    ("accept", "openmetrics", "written_here"),
    [
        ("", False, True),
        ("text/plain;version=1.0.0;escaping=allow-utf-8", False, True),
        ("application/openmetrics-text;version=1.0.0", True, True),
        ("application/openmetrics-text;version=1.0.0;escaping=dots", True, False),
        ("application/openmetrics-text;version=1.0.0;escaping=values", True, False),
        ("text/plain;version=1.0.0;escaping=dots", False, False),
    ],
)
def test_negotiate_keeps_the_librarys_choice(
    accept: str, openmetrics: bool, written_here: bool
) -> None:
    fmt = negotiate(accept)
    assert fmt.content_type == choose_encoder(accept)[1]
    assert (fmt.openmetrics, fmt.written_here) == (openmetrics, written_here)


@pytest.mark.parametrize(
    ("accept_encoding", "wanted"),
    [("", False), ("gzip", True), ("br, GZIP;q=0.5", True), ("identity", False)],
)
def test_gzip_wanted(accept_encoding: str, wanted: bool) -> None:
    assert gzip_wanted(accept_encoding) is wanted


names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:.]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_.]{0,10}", fullmatch=True)
values = st.one_of(st.floats(allow_nan=True), st.integers(-(2**70), 2**70))


@st.composite
def families(draw: st.DrawFn) -> list[Metric]:
    out: list[Metric] = []
    for name in draw(st.lists(names, max_size=4, unique=True)):
        keys = draw(st.lists(label_names, max_size=3, unique=True))
        family = GaugeMetricFamily(name, draw(st.text(max_size=30)), labels=keys)
        for _ in range(draw(st.integers(0, 3))):
            family.add_metric([draw(st.text(max_size=12)) for _ in keys], draw(values))
        out.append(family)
    return out


@given(families(), st.sampled_from(ACCEPT_HEADERS))
def test_encode_matches_the_library_for_any_gauges(metrics: list[Metric], accept: str) -> None:
    assert encode(metrics, negotiate(accept)) == reference(metrics, accept)
