"""``probe.exposition``: negotiation as RFC 9110 says, and ``encode`` writing what
prometheus_client's encoders write, byte for byte.

Every case compares ``encode`` with the library's own encoder for the negotiated format, so
the reference is never restated here.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics

from aaisp_multi_exporter.probe.exposition import (
    EOF,
    FORMATS,
    _Families,
    encode,
    gzip_wanted,
    negotiate,
)

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
    fmt = negotiate(accept)
    text = fmt.encoder(_Families(families))
    return text.removesuffix(EOF) if fmt.openmetrics else text


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


TEXT_004 = "text/plain; version=0.0.4; charset=utf-8"
OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("", TEXT_004),
        ("*/*", TEXT_004),
        ("text/plain", TEXT_004),
        ("TEXT/Plain; Version=0.0.4", TEXT_004),
        (
            "text/plain;version=1.0.0",
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
        ),
        (
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        ),
        ("application/openmetrics-text", OM),
        ("application/openmetrics-text;version=1.0.0", OM + "; escaping=underscores"),
        ("application/openmetrics-text;version=1.0.0;escaping=dots", OM + "; escaping=dots"),
        (
            "application/openmetrics-text;version=1.0.0;escaping=nonsense",
            OM + "; escaping=underscores",
        ),
        # Prometheus 2 and 3 by default: the first range it lists is taken.
        (ACCEPT_HEADERS[-2], OM + "; escaping=underscores"),
        (ACCEPT_HEADERS[-1], OM + "; escaping=allow-utf-8"),
        # Versions the exporter does not write are passed over, never echoed.
        ("application/openmetrics-text;version=0.0.1", TEXT_004),
        ("application/openmetrics-text;version=2.0.0", TEXT_004),
        ("application/openmetrics-text; version=1.x", TEXT_004),
        ("text/plain; version=abc", TEXT_004),
        ("text/plain; version=abc, application/openmetrics-text", OM),
        # Weights: the highest q wins, q=0 excludes, a bad q drops the range.
        ("text/plain;q=0.2, application/openmetrics-text;q=0.9", OM),
        ("application/openmetrics-text;q=0, text/plain", TEXT_004),
        ("application/openmetrics-text;q=0", TEXT_004),
        ("text/plain;q=0, */*", OM),
        ("text/plain;q=0, application/openmetrics-text;q=0, */*", TEXT_004),
        ("application/openmetrics-text;q=abc, text/plain", TEXT_004),
        ("application/openmetrics-text;q=2", TEXT_004),
        ("image/png, application/json", TEXT_004),
        (",,;;==,", TEXT_004),
    ],
)
def test_negotiate_picks_a_fixed_format(accept: str, content_type: str) -> None:
    fmt = negotiate(accept)
    assert fmt.content_type == content_type
    assert fmt in FORMATS


@pytest.mark.parametrize(
    ("content_type", "library_encoder", "written_here"),
    [
        (TEXT_004, generate_latest, True),
        (OM, openmetrics.generate_latest, True),
        (OM + "; escaping=dots", openmetrics.generate_latest, False),
        (OM + "; escaping=values", openmetrics.generate_latest, False),
        ("text/plain; version=1.0.0; charset=utf-8; escaping=dots", generate_latest, False),
        ("text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8", generate_latest, True),
    ],
)
def test_each_format_names_the_librarys_encoder(
    content_type: str, library_encoder: object, written_here: bool
) -> None:
    (fmt,) = [fmt for fmt in FORMATS if fmt.content_type == content_type]
    encoder = fmt.encoder
    assert getattr(encoder, "func", encoder) is library_encoder
    assert fmt.openmetrics is content_type.startswith("application/openmetrics-text")
    assert fmt.written_here is written_here


@pytest.mark.parametrize(
    ("accept_encoding", "wanted"),
    [
        ("", False),
        ("gzip", True),
        ("br, GZIP;q=0.5", True),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
        ("deflate, br;q=1", False),
    ],
)
def test_gzip_wanted(accept_encoding: str, wanted: bool) -> None:
    assert gzip_wanted(accept_encoding) is wanted


@given(st.text(max_size=300), st.text(max_size=100))
def test_any_header_negotiates_without_raising(accept: str, accept_encoding: str) -> None:
    assert negotiate(accept) in FORMATS
    assert gzip_wanted(accept_encoding) in (True, False)


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
