"""The HTTP surface: content negotiation on /probe, and /metrics' own shape."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from aaisp_multi_exporter.server.history import HistoryEntry
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import Exporter, ExporterFactory, samples

QUERY = "/probe?target=10001&module=line"


async def raw_get(
    exporter: Exporter, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """The body exactly as sent: no automatic decompression, so gzip is seen as gzip."""
    async with exporter.http.get(
        exporter.url + path, headers=headers, auto_decompress=False
    ) as response:
        return response.status, dict(response.headers), await response.read()


async def test_plain_text_by_default(exporter: Exporter) -> None:
    status, headers, body = await raw_get(exporter, QUERY, {"Accept-Encoding": "identity"})
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Encoding" not in headers
    assert samples(body.decode())["probe_success"] == 1


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        # What Prometheus sends (scrape_protocols default, 2.4x):
        "application/openmetrics-text;version=1.0.0;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    ],
)
async def test_openmetrics_when_asked(exporter: Exporter, accept: str) -> None:
    status, headers, body = await raw_get(
        exporter, QUERY, {"Accept": accept, "Accept-Encoding": "identity"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    parsed = text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    families = {family.name: family for family in parsed}
    assert families["probe_success"].samples[0].value == 1
    assert "aaisp_broadband_line_sync_upload_bytes_per_second" in families


async def test_gzip_when_accepted(exporter: Exporter) -> None:
    status, headers, body = await raw_get(exporter, QUERY, {"Accept-Encoding": "gzip, deflate"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert samples(gzip.decompress(body).decode())["probe_success"] == 1


async def test_debug_stays_plain_text(exporter: Exporter) -> None:
    status, headers, body = await raw_get(
        exporter, QUERY + "&debug=true", {"Accept": "application/openmetrics-text"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert body.decode().startswith("Probe of target 10001 succeeded")


async def test_metrics_has_no_created_series(exporter: Exporter) -> None:
    await exporter.samples("target=10001&module=line")
    status, text, _ = await exporter.get("/metrics")
    assert status == 200
    assert "_created" not in text
    assert 'aaisp_exporter_probes_total{module="line",result="success"} 1.0' in text


async def test_probes_in_flight_is_read_at_scrape_time(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="0")
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate))
    held = [
        asyncio.create_task(exporter.samples(f"target={10000 + i}&module=line")) for i in range(3)
    ]
    for _ in range(500):
        if simulator.in_flight == 1:  # the three probes share one held CHAOS call
            break
        await asyncio.sleep(0.01)
    assert (await exporter.self_metrics())["aaisp_exporter_probes_in_flight"] == 3
    gate.set()
    assert [result["probe_success"] for result in await asyncio.gather(*held)] == [1, 1, 1]
    assert (await exporter.self_metrics())["aaisp_exporter_probes_in_flight"] == 0


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/plain; version=abc", "text/plain; version=0.0.4; charset=utf-8"),
        ("application/openmetrics-text; version=1.x", "text/plain; version=0.0.4; charset=utf-8"),
        (
            "application/openmetrics-text;version=1.0.0;escaping=bogus",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
        ),
    ],
)
async def test_metrics_is_negotiated_like_a_probe(
    exporter: Exporter, accept: str, content_type: str
) -> None:
    """No header is a 500: prometheus_client's own handler answered 500 to the first two."""
    status, headers, body = await raw_get(
        exporter, "/metrics", {"Accept": accept, "Accept-Encoding": "gzip;q=0"}
    )
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert "Content-Encoding" not in headers
    assert b"aaisp_exporter_build_info" in body


async def test_metrics_takes_name_filters(exporter: Exporter) -> None:
    status, text, _ = await exporter.get("/metrics?name[]=aaisp_exporter_probes_in_flight")
    assert status == 200
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "aaisp_exporter_probes_in_flight 0.0"
    ]


async def test_an_internal_error_is_logged_once_per_interval(
    exporter: Exporter, caplog: pytest.LogCaptureFixture
) -> None:
    """An exporter bug is a 500 for that request, never a traceback per request
    (docs/design.md, "No input is a 500")."""
    history = exporter.state.history

    def broken() -> list[HistoryEntry]:
        raise RuntimeError("a bug")

    history.recent = broken  # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="aaisp_multi_exporter"):
        statuses = [(await exporter.get("/"))[0] for _ in range(50)]
    assert statuses == [500] * 50
    logged = [record for record in caplog.records if record.getMessage() == "internal error"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
