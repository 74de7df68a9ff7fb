"""End to end: the exporter and the simulator as real servers; assertions on exposition text."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from aaisp_multi_exporter.chaos import records
from aaisp_multi_exporter.simulator import Fault, SimAccount, Simulator, generate_lines
from tests.conftest import HOME_LOGIN, SENTINEL, Exporter, ExporterFactory, config_text

LINE = "aaisp_broadband_line"


def expected_info_samples(raw: dict[str, str]) -> dict[str, float]:
    """What the README's metrics table says broadband/info's fields become, computed
    independently."""
    out: dict[str, float] = {}
    if "login" in raw or "postcode" in raw:
        labels = (
            f'line_id="{raw["ID"]}",login="{raw.get("login", "").strip()}",'
            f'postcode="{raw.get("postcode", "").strip()}"'
        )
        out[f"{LINE}_info{{{labels}}}"] = 1
    for field, name in (
        ("tx_rate", "sync_download"),
        ("rx_rate", "sync_upload"),
        ("tx_rate_adjusted", "adjusted_download"),
    ):
        if field in raw:
            out[f"{LINE}_{name}_bytes_per_second"] = int(raw[field]) / 8
    return out


def expected_quota_samples(raw: dict[str, str]) -> dict[str, float]:
    """broadband/quota's series: the only owner of the quota gauges (README, "Metrics")."""
    out: dict[str, float] = {}
    if raw.get("quota_monthly", "0") != "0":
        out["aaisp_broadband_quota_total_bytes"] = float(raw["quota_monthly"])
        if "quota_remaining" in raw:
            out["aaisp_broadband_quota_remaining_bytes"] = float(raw["quota_remaining"])
    if "quota_timestamp" in raw:
        local = datetime.strptime(raw["quota_timestamp"], "%Y-%m-%d %H:%M:%S")
        out["aaisp_broadband_quota_timestamp_seconds"] = local.replace(
            tzinfo=ZoneInfo("Europe/London")
        ).timestamp()
    return out


def expected_line_samples(raw: dict[str, str]) -> dict[str, float]:
    """Both tiers together: each series once."""
    return {**expected_info_samples(raw), **expected_quota_samples(raw)}


def line_part(samples: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in samples.items() if k.startswith("aaisp_broadband_")}


async def test_every_line_matches_chaos(exporter: Exporter, simulator: Simulator) -> None:
    lines = simulator.accounts[0].lines
    for raw in lines:
        got = await exporter.samples(f"target={raw['ID']}&module=line")
        assert got["probe_success"] == 1
        assert got['aaisp_probe_module_success{module="line"}'] == 1
        assert line_part(got) == expected_info_samples(raw), raw["ID"]
    # Account scope: one CHAOS call served every line.
    assert simulator.total_calls == 1


async def test_quota_module_exports_quota_only(exporter: Exporter, simulator: Simulator) -> None:
    raw = next(
        line for line in simulator.accounts[0].lines if line.get("quota_monthly", "0") != "0"
    )
    got = await exporter.samples(f"target={raw['ID']}&module=quota")
    assert got["probe_success"] == 1
    assert set(line_part(got)) == {
        "aaisp_broadband_quota_total_bytes",
        "aaisp_broadband_quota_remaining_bytes",
        "aaisp_broadband_quota_timestamp_seconds",
    }
    assert simulator.calls[(HOME_LOGIN, "broadband/quota", "")] == 1


async def test_standard_probe_metrics(exporter: Exporter) -> None:
    got = await exporter.samples("target=10001&module=line")
    assert got["probe_timeout_seconds"] == 5
    assert 0 < got["probe_duration_seconds"] < 5
    assert got['aaisp_probe_data_age_seconds{module="line"}'] == 0


async def test_cached_answer_reports_its_age(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="60")
    await exporter.samples("target=10001&module=line")
    await asyncio.sleep(0.05)
    got = await exporter.samples("target=10002&module=line")
    assert got['aaisp_probe_data_age_seconds{module="line"}'] >= 0.05
    assert simulator.total_calls == 1
    lookups = await exporter.self_metrics()
    assert lookups['aaisp_exporter_snapshot_lookups_total{result="fetched"}'] == 1
    assert lookups['aaisp_exporter_snapshot_lookups_total{result="cached"}'] == 1


def steady(text: str) -> str:
    """An answer without the lines that change from probe to probe."""
    moving = ("probe_duration_seconds", "aaisp_probe_data_age_seconds")
    return "\n".join(line for line in text.splitlines() if not any(m in line for m in moving))


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text; version=1.0.0"])
async def test_a_cached_probe_parses_no_row(
    make_exporter: ExporterFactory, monkeypatch: pytest.MonkeyPatch, accept: str
) -> None:
    """A line's series are rendered once per reply and kept: the next probes of the line, in
    any format, read no row of the reply again (parsing every field, UK times included, on
    each probe cost a fifth of the cached probe rate)."""
    parsed: list[str] = []
    real = records.LineIndex.__getitem__

    def counting(self: records.LineIndex, line_id: str) -> records.LineRecord:
        parsed.append(line_id)
        return real(self, line_id)

    monkeypatch.setattr(records.LineIndex, "__getitem__", counting)
    exporter = await make_exporter(cache_seconds="60")
    query = "target=10001&module=quota,line"
    first = await exporter.probe(query, headers={"Accept": accept})
    assert parsed == ["10001", "10001"]  # once per command
    for _ in range(3):
        again = await exporter.probe(query, headers={"Accept": accept})
        assert again[0] == first[0] == 200
        assert steady(again[1]) == steady(first[1])
        assert "aaisp_broadband_quota_timestamp_seconds" in steady(again[1])
    assert parsed == ["10001", "10001"]
    assert len(exporter.state.renderer.lines) == 2


async def test_scrape_timeout_header_sets_deadline(exporter: Exporter) -> None:
    status, text, _ = await exporter.get(
        "/probe?target=10001&module=line",
        headers={"X-Prometheus-Scrape-Timeout-Seconds": "3"},
    )
    assert status == 200
    assert "probe_timeout_seconds 2.5" in text


async def test_line_missing_from_account_fails_without_another_call(
    exporter: Exporter, simulator: Simulator
) -> None:
    await exporter.samples("target=10001&module=line")
    got = await exporter.samples("target=99999&module=line")
    assert got["probe_success"] == 0
    assert got['aaisp_probe_module_success{module="line"}'] == 0
    assert line_part(got) == {}
    assert simulator.total_calls == 1


async def test_line_scope_passes_target_as_service(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(scope='"line"', cache_seconds="60")
    raw = simulator.accounts[0].lines[3]
    got = await exporter.samples(f"target={raw['ID']}&module=line")
    assert line_part(got) == expected_info_samples(raw)
    await exporter.samples(f"target={raw['ID']}&module=line")
    assert simulator.calls[(HOME_LOGIN, "broadband/info", raw["ID"])] == 1
    assert simulator.total_calls == 1


async def test_concurrent_probes_share_one_chaos_call(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="0")
    simulator.add_fault(Fault("latency", latency_seconds=0.3))
    ids = [line["ID"] for line in simulator.accounts[0].lines]
    results = await asyncio.gather(
        *(exporter.samples(f"target={line_id}&module=line") for line_id in ids)
    )
    assert all(result["probe_success"] == 1 for result in results)
    assert simulator.total_calls == 1
    metrics = await exporter.self_metrics()
    assert metrics['aaisp_exporter_snapshot_lookups_total{result="fetched"}'] == 1
    assert metrics['aaisp_exporter_snapshot_lookups_total{result="coalesced"}'] == len(ids) - 1


async def test_several_modules_in_one_probe(exporter: Exporter, simulator: Simulator) -> None:
    raw = next(
        line for line in simulator.accounts[0].lines if line.get("quota_monthly", "0") != "0"
    )
    status, text = await exporter.probe(f"target={raw['ID']}&module=quota,line&module=quota")
    assert status == 200
    lines = text.splitlines()
    assert sum(line.startswith("aaisp_broadband_quota_total_bytes ") for line in lines) == 1
    assert lines.count("# TYPE aaisp_broadband_quota_total_bytes gauge") == 1
    got = await exporter.samples(f"target={raw['ID']}&module=line,quota")
    assert got['aaisp_probe_module_success{module="quota"}'] == 1
    assert got['aaisp_probe_module_success{module="line"}'] == 1
    assert line_part(got) == expected_line_samples(raw)


async def test_auth_param_overrides_module_auth(exporter: Exporter, simulator: Simulator) -> None:
    other_line = simulator.accounts[1].lines[0]["ID"]
    got = await exporter.samples(f"target={other_line}&module=line")
    assert got["probe_success"] == 0  # not a line of "home"
    got = await exporter.samples(f"target={other_line}&module=line&auth=other")
    assert got["probe_success"] == 1


@pytest.mark.parametrize(
    ("query", "reason", "message"),
    [
        pytest.param(
            "module=line", "missing_target", 'parameter "target" is required', id="missing-target"
        ),
        pytest.param(
            "target=1&target=2&module=line",
            "invalid_target",
            'parameter "target" must be given exactly once',
            id="duplicate-target",
        ),
        pytest.param(
            "target=" + "1" * 65 + "&module=line",
            "invalid_target",
            'invalid target "' + "1" * 64 + '...": use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -',
            id="too-long",
        ),
        pytest.param(
            "target=&module=line",
            "invalid_target",
            'invalid target "": use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -',
            id="empty-target",
        ),
        pytest.param(
            "target=a%2Fb&module=line",
            "invalid_target",
            'invalid target "a/b": use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -',
            id="slash",
        ),
        pytest.param(
            "target=a%0Ab&module=line",
            "invalid_target",
            'invalid target "a\\nb": use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -',
            id="newline-escaped",
        ),
        pytest.param(
            "target=1&module=nope",
            "unknown_module",
            'unknown module "nope"; known: quota, line',
            id="unknown-module",
        ),
        pytest.param(
            "target=1&module=line,",
            "unknown_module",
            'empty module name in "line,"; known: quota, line',
            id="empty-module",
        ),
        pytest.param(
            "target=1",
            "missing_module",
            'parameter "module" is required when several modules exist; known: quota, line',
            id="missing-module",
        ),
        pytest.param(
            "target=1&module=line&auth=nope",
            "unknown_auth",
            'unknown auth "nope"; known: home, other',
            id="unknown-auth",
        ),
        pytest.param(
            "target=1&module=line&auth=home&auth=home",
            "unknown_auth",
            'parameter "auth" may be given at most once',
            id="duplicate-auth",
        ),
        pytest.param(
            "target=1&module=line&debug=yes",
            "invalid_parameter",
            'parameter "debug" must be "true" or "false"',
            id="bad-debug",
        ),
    ],
)
async def test_bad_requests(
    exporter: Exporter, simulator: Simulator, query: str, reason: str, message: str
) -> None:
    status, text, response = await exporter.get(f"/probe?{query}")
    assert (status, text) == (400, message + "\n")
    assert response.content_type == "text/plain"
    metrics = await exporter.self_metrics()
    assert metrics[f'aaisp_exporter_probe_requests_rejected_total{{reason="{reason}"}}'] == 1
    assert simulator.total_calls == 0


async def test_bad_timeout_header_is_rejected(exporter: Exporter) -> None:
    status, text, _ = await exporter.get(
        "/probe?target=1&module=line", headers={"X-Prometheus-Scrape-Timeout-Seconds": "soon"}
    )
    assert status == 400
    assert "X-Prometheus-Scrape-Timeout-Seconds is not a number" in text


async def test_module_without_auth_uses_the_only_credential_set(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    text = f"""
[chaos]
url = "{simulator.url}"
[auths.only]
control_login = "{HOME_LOGIN}"
control_password = "{simulator.accounts[0].control_password}"
[modules.line]
commands = ["broadband/info"]
"""
    exporter = await make_exporter(text)
    got = await exporter.samples("target=10001")  # the only module, the only auth
    assert got["probe_success"] == 1


async def test_module_without_auth_needs_auth_when_several_exist(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    text = config_text(simulator.url) + '[modules.bare]\ncommands = ["broadband/info"]\n'
    exporter = await make_exporter(text)
    status, body = await exporter.probe("target=10001&module=bare")
    assert status == 400
    assert body == (
        'module "bare" names no auth and several exist; pass "auth"; known: home, other\n'
    )
    got = await exporter.samples("target=10001&module=bare&auth=home")
    assert got["probe_success"] == 1


async def test_debug_output(exporter: Exporter) -> None:
    status, text, response = await exporter.get("/probe?target=10001&module=line&debug=true")
    assert status == 200
    assert response.content_type == "text/plain"
    assert "Logs for the probe:" in text
    assert "Metrics that would have been returned:" in text
    assert "probe_success 1.0" in text
    assert "Module configuration:" in text
    assert "[modules.line]" in text
    assert "[auths.home]" in text
    assert "[modules.quota]" not in text
    assert 'control_password = "<secret>"' in text


async def test_debug_output_explains_failure(exporter: Exporter) -> None:
    status, text, _ = await exporter.get("/probe?target=99999&module=line&debug=true")
    assert status == 200
    assert "failed" in text.splitlines()[0]
    assert 'line "99999" not found for auth "home"' in text
    assert "probe_success 0.0" in text


async def test_snapshot_expires_after_cache_seconds(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="0.3")
    await exporter.samples("target=10001&module=line")
    await exporter.samples("target=10002&module=line")
    assert simulator.total_calls == 1
    await asyncio.sleep(0.35)
    got = await exporter.samples("target=10003&module=line")
    assert got['aaisp_probe_data_age_seconds{module="line"}'] == 0
    assert simulator.total_calls == 2


async def test_large_account_reply_is_read_whole(make_exporter: ExporterFactory) -> None:
    """A 3,000-line reply (about 800 kB) arrives in many network reads."""
    lines = generate_lines(3000, start_id=50000)
    big = Simulator([SimAccount(HOME_LOGIN, SENTINEL, lines)])
    await big.start()
    try:
        exporter = await make_exporter(config_text(big.url))
        for raw in (lines[0], lines[1500], lines[-1]):
            got = await exporter.samples(f"target={raw['ID']}&module=line")
            assert got["probe_success"] == 1
            assert line_part(got) == expected_info_samples(raw)
        discovered = await exporter.get("/discover?auth=home")
        assert discovered[1].count('"targets"') == 3000
        assert big.total_calls == 1
    finally:
        await big.stop()


async def test_debug_says_which_fields_chaos_left_out(
    exporter: Exporter, simulator: Simulator
) -> None:
    lines = simulator.accounts[0].lines
    no_tx = next(line for line in lines if "tx_rate" not in line)
    unlimited = next(line for line in lines if line.get("quota_monthly") == "0")
    _, text = await exporter.probe(f"target={no_tx['ID']}&module=line&debug=true")
    assert (
        'msg="CHAOS left fields out; their metrics are not exported" '
        "command=broadband/info fields=tx_rate"
    ) in text
    _, text = await exporter.probe(f"target={unlimited['ID']}&module=quota&debug=true")
    # The omit_zero rule of broadband/quota's declaration (was a quota-only message).
    assert (
        'msg="field absent or 0; its gauges are left out" command=broadband/quota '
        "field=quota_monthly "
        "metrics=aaisp_broadband_quota_total_bytes,aaisp_broadband_quota_remaining_bytes"
    ) in text
    returned = text.split("Metrics that would have been returned:")[1]
    assert "aaisp_broadband_quota_total_bytes" not in returned.split("Module configuration:")[0]


async def test_chaos_requests_per_credential_set_are_limited(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    text = (
        config_text(simulator.url, scope='"line"', cache_seconds="0")
        .replace(
            'control_password = "other-password"',
            'control_password = "other-password"\nmax_concurrency = 3',
        )
        .replace(
            f'control_password = "{SENTINEL}"',
            f'control_password = "{SENTINEL}"\nmax_concurrency = 2',
        )
    )
    exporter = await make_exporter(text)
    simulator.add_fault(Fault("latency", latency_seconds=0.2))
    home = [exporter.samples(f"target={10000 + i}&module=line") for i in range(8)]
    results = await asyncio.gather(*home)
    assert all(result["probe_success"] == 1 for result in results)
    assert simulator.total_calls == 8
    assert simulator.peak_in_flight == 2
    simulator.reset_calls()
    other = [exporter.samples(f"target={20000 + i}&module=line&auth=other") for i in range(5)]
    assert all(r["probe_success"] == 1 for r in await asyncio.gather(*other))
    assert simulator.peak_in_flight == 3
