"""A declared command end to end: served by the simulator from a replay file, probed in both
scopes, discovered, explained in the debug text, captured with redaction, suggested from a
real reply, and added and removed by a reload.

The telephony reply is illustrative (tests/fixtures/README.md): no public reply shows what
``telephony/info`` sends.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import DISCOVERY_LABELS
from aaisp_multi_exporter.demo import TELEPHONY_COMMAND
from aaisp_multi_exporter.diagnostics.check import check_chaos
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, SENTINEL, Exporter, ExporterFactory, config_text, samples
from tests.processes import run_exporter
from tests.realprograms import promtool_clean

FIXTURE = Path(__file__).parent.parent / "fixtures" / "illustrative-telephony-info.json"
PHONE = "01632960001"
TELEPHONY = (
    TELEPHONY_COMMAND
    + """
[modules.phones]
commands = ["telephony/info"]
auth = "home"

[modules.phone]
commands = ["telephony/info"]
auth = "home"
scope = "line"
"""
)


async def telephony(make_exporter: ExporterFactory, simulator: Simulator) -> Exporter:
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    return await make_exporter(config_text(simulator.url, extra=TELEPHONY))


@pytest.mark.parametrize("module", ["phones", "phone"])
async def test_a_declared_command_is_probed_in_both_scopes(
    make_exporter: ExporterFactory, simulator: Simulator, module: str
) -> None:
    exporter = await telephony(make_exporter, simulator)
    status, text = await exporter.probe(f"target={PHONE}&module={module}")
    assert status == 200, text
    got = samples(text)
    assert got["probe_success"] == 1
    assert got[f'aaisp_telephony_number_info{{name="Office",number="{PHONE}"}}'] == 1
    assert got["aaisp_telephony_credit_gbp"] == 12.5
    assert not [name for name in got if name.startswith("aaisp_broadband")]
    promtool_clean(text)
    service = PHONE if module == "phone" else ""
    assert simulator.calls[(HOME_LOGIN, "telephony/info", service)] == 1
    _, text = await exporter.probe(f"target=01632960999&module={module}")
    assert samples(text)["probe_success"] == 0


async def test_a_declared_command_in_the_debug_text_and_the_landing_page(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await telephony(make_exporter, simulator)
    _, text = await exporter.probe("target=01632960003&module=phones&debug=true")
    assert 'msg="CHAOS answer" command=telephony/info lookup=fetched' in text
    assert "aaisp_telephony_credit_gbp 3.25" in text
    assert '[commands."telephony/info"]' in text  # the configuration used
    assert SENTINEL not in text
    _, page, _ = await exporter.get("/")
    assert "telephony/info (declared)" in page
    _, config, _ = await exporter.get("/config")
    assert 'key = "number"' in config


async def test_a_declared_module_is_discovered_by_its_keys(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await telephony(make_exporter, simulator)
    status, body, _ = await exporter.get("/discover?module=phones&auth=home")
    assert status == 200, body
    groups = json.loads(body)
    assert [group["targets"] for group in groups] == [
        ["01632960001"],
        ["01632960002"],
        ["01632960003"],
    ]
    assert groups[0]["labels"] == {
        "__param_auth": "home",
        "__meta_aaisp_auth": "home",
        "__meta_aaisp_name": "Office",
        "__param_module": "phones",
    }
    # Without the module, discovery lists the broadband lines, as before.
    _, body, _ = await exporter.get("/discover?auth=home")
    assert len(json.loads(body)) == 40


async def test_a_built_in_takes_a_field_a_and_a_adds(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    extension = """
[[commands."broadband/info".gauges]]
field = "snr"
metric = "aaisp_broadband_line_snr_decibels"
help = "Signal to noise margin (CHAOS snr), in decibels."
"""
    line = dict(simulator.accounts[0].lines[1], snr="6.5")
    simulator.add_fault(Fault("body", command="broadband/info", body={"info": [line]}))
    exporter = await make_exporter(config_text(simulator.url, extra=extension))
    got = await exporter.samples(f"target={line['ID']}&module=line")
    assert got["aaisp_broadband_line_snr_decibels"] == 6.5
    assert got["aaisp_broadband_line_sync_upload_bytes_per_second"] == int(line["rx_rate"]) / 8


async def test_a_declared_commands_capture_is_redacted(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """Declared label fields are personal unless known harmless: ``name`` is replaced."""
    exporter = await telephony(make_exporter, simulator)
    assert exporter.state.loaded is not None
    out = io.StringIO()
    await check_chaos(exporter.state.loaded.config, out, tmp_path)
    report = out.getvalue()
    assert "[home] telephony/info: answered" in report
    assert "3 entries" in report
    captured = json.loads((tmp_path / "home-telephony-info.json").read_text())
    entry = captured["info"][0]
    assert entry["name"].startswith("label-")
    assert entry["number"].startswith("phone-")
    assert entry["postcode"].startswith("postcode-")
    assert entry["status"] == "active"  # harmless: kept
    assert entry["credit"] == "12.50"
    for secret in ("Office", PHONE, "XX1 1XX", SENTINEL):
        assert secret not in json.dumps(captured)
        assert secret not in report


async def test_suggest_round_trip(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """An unknown numeric field in a real reply: --chaos.suggest writes its declaration, the
    file loads beside the configuration unchanged, and the next probe exports it."""
    exporter = await telephony(make_exporter, simulator)
    assert exporter.state.loaded is not None
    suggested = tmp_path / "suggested.toml"
    await check_chaos(exporter.state.loaded.config, io.StringIO(), suggest_path=suggested)
    text = suggested.read_text()
    assert '[[commands."telephony/info".gauges]]' in text
    assert 'field = "calls_today"' in text
    assert 'metric = "aaisp_telephony_calls_today"' in text
    assert 'field = "minutes_left"' in text
    assert 'states = ["active", "suspended"]' in text  # SPEC 6b: a few texts, repeated
    for not_suggested in ("name", "postcode", "credit"):  # personal data, or exported already
        assert f'field = "{not_suggested}"' not in text
    assert '# Texts, left out as a text may be personal data: "postcode"' in text
    assert "password" not in text
    assert SENTINEL not in text
    modules = tmp_path / "modules.toml"
    modules.write_text(config_text(simulator.url, extra=TELEPHONY))
    both = await make_exporter(path=[modules, suggested])
    got = await both.samples(f"target={PHONE}&module=phones")
    assert got["aaisp_telephony_calls_today"] == 7
    assert "aaisp_telephony_minutes_left" not in got  # that number has none
    assert got['aaisp_telephony_status{aaisp_telephony_status="active"}'] == 1
    assert got['aaisp_telephony_status{aaisp_telephony_status="suspended"}'] == 0
    got = await both.samples("target=01632960003&module=phones")
    assert got["aaisp_telephony_minutes_left"] == 120


async def test_the_check_names_a_probe_to_try_without_printing_a_number(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """A phone number is personal data the report does not print: the probe to try next
    names the key instead, with a module that reads the command."""
    exporter = await telephony(make_exporter, simulator)
    assert exporter.state.loaded is not None
    phones_only = exporter.state.loaded.config.model_copy(
        update={"modules": {"phones": exporter.state.loaded.config.modules["phones"]}}
    )
    report = io.StringIO()
    assert await check_chaos(phones_only, report) == 0
    assert report.getvalue().endswith("open /probe?target=<number>&module=phones&auth=home\n"), (
        report.getvalue()
    )
    assert PHONE not in report.getvalue()


async def test_a_reload_adds_and_removes_a_declared_command(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url))
    exporter = await make_exporter(path=path)
    series = (
        'aaisp_exporter_chaos_requests_total{auth="home",command="telephony/info",outcome="ok"}'
    )
    assert series not in await exporter.self_metrics()
    status, _ = await exporter.probe(f"target={PHONE}&module=phones")
    assert status == 400
    await asyncio.to_thread(path.write_text, config_text(simulator.url, extra=TELEPHONY))
    exporter.state.reload()
    assert (await exporter.samples(f"target={PHONE}&module=phones"))["probe_success"] == 1
    assert (await exporter.self_metrics())[series] == 1
    await asyncio.to_thread(path.write_text, config_text(simulator.url))
    exporter.state.reload()
    assert not [name for name in await exporter.self_metrics() if "telephony" in name]


#: Issue 23's rows that loaded and then failed or wrote wrong series, each refused at load now.
REFUSED_ROWS = {
    "n2": (
        TELEPHONY_COMMAND.replace('info_labels = ["name"]', 'info_labels = ["name", "NAME"]'),
        'info_labels: "name" and "NAME" are one field (names are compared case-insensitively, '
        'with "-" as "_")',
    ),
    "n4": (
        TELEPHONY_COMMAND.replace('key = "number"', 'key = "__name__"'),
        'key: the key\'s label: "__name__" cannot be a label name: names starting with "__" are '
        "reserved for Prometheus; name it with key_label",
    ),
    "n5": (
        TELEPHONY_COMMAND.replace('info_labels = ["name"]', 'info_labels = ["auth"]'),
        'info_labels: "auth" is a label /discover writes itself: __meta_aaisp_auth carries the '
        "credential set's name",
    ),
    "n13-payload": (
        TELEPHONY_COMMAND.replace('payload = "info"', 'payload = "error"'),
        'payload: "error" is a member of every CHAOS reply, not a payload (the envelope: '
        "subsystem, command, request, prices, state, options, error)",
    ),
    "n13-scale": (
        TELEPHONY_COMMAND + "scale = 1e308\n",
        "gauges[0].scale: must be at most 1e12 in size (a unit conversion, such as 0.125 or "
        "1000), got 1e+308",
    ),
    "n13-info-help": (
        TELEPHONY_COMMAND.replace('info_labels = ["name"]', f'info_help = "{"h" * 301}"'),
        "info_help: String should have at most 300 characters",
    ),
}


def test_config_check_refuses_each_row_with_file_table_and_key(tmp_path: Path) -> None:
    """``--config.check`` as a process, one file per row: each problem names its file."""
    base = tmp_path / "base.toml"
    base.write_text(config_text("http://127.0.0.1:9"))
    files = ["--config.file", str(base)]
    for row, (declared, _) in REFUSED_ROWS.items():
        path = tmp_path / f"{row}.toml"
        path.write_text(declared.replace('"telephony/info"', f'"{row.replace("-", "_")}/info"'))
        files += ["--config.file", str(path)]
    result = run_exporter("--config.check", *files)
    assert result.returncode == 1
    expected = [
        f'{tmp_path / f"{row}.toml"}: commands."{row.replace("-", "_")}/info".{problem}'
        for row, (_, problem) in REFUSED_ROWS.items()
    ]
    assert sorted(result.stderr.splitlines()[:-1]) == sorted(expected)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("row", list(REFUSED_ROWS))
async def test_a_reload_refuses_each_row_and_keeps_serving(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path, row: str
) -> None:
    """Before: the reload succeeded, and every probe and /discover of the command was a 500
    (N2), or wrote a reserved label (N4), a label twice (N5), +Inf or nothing (N13)."""
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url, extra=TELEPHONY))
    exporter = await make_exporter(path=path)
    declared, problem = REFUSED_ROWS[row]
    await asyncio.to_thread(
        path.write_text,
        config_text(simulator.url, extra=TELEPHONY.replace(TELEPHONY_COMMAND, declared)),
    )
    async with exporter.http.post(exporter.url + "/-/reload") as response:
        assert response.status == 500
        assert f'{path}: commands."telephony/info".{problem}' in await response.text()
    got = await exporter.samples(f"target={PHONE}&module=phones")
    assert got[f'aaisp_telephony_number_info{{name="Office",number="{PHONE}"}}'] == 1
    status, body, _ = await exporter.get("/discover?module=phones&auth=home")
    assert status == 200, body


async def test_an_info_metric_without_info_labels_is_served_with_the_key(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """N13: it loaded and was never written; SPEC 6a: the info labels "plus the key"."""
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    alone = TELEPHONY.replace('info_labels = ["name"]\n', "")
    exporter = await make_exporter(config_text(simulator.url, extra=alone))
    for accept in ("text/plain", "application/openmetrics-text;version=1.0.0"):
        status, text = await exporter.probe(
            f"target={PHONE}&module=phones", headers={"Accept": accept}
        )
        assert status == 200, text
        assert f'aaisp_telephony_number_info{{number="{PHONE}"}} 1.0' in text.splitlines()
    promtool_clean((await exporter.probe(f"target={PHONE}&module=phones"))[1])
    status, body, _ = await exporter.get("/discover?module=phones&auth=home")
    assert json.loads(body)[0]["labels"] == {
        "__param_auth": "home",
        "__meta_aaisp_auth": "home",
        "__param_module": "phones",
    }


async def test_discovery_writes_only_the_meta_labels_the_loader_keeps_from_info_labels(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """N5: the loader refuses an info label named as one of discovery's own; this holds its
    list to what discovery writes."""
    exporter = await telephony(make_exporter, simulator)
    _, body, _ = await exporter.get("/discover?module=phones&auth=home")
    own = {
        name.removeprefix("__meta_aaisp_")
        for group in json.loads(body)
        for name in group["labels"]
        if name.startswith("__meta_aaisp_")
    } - {"name"}
    assert own == set(DISCOVERY_LABELS)
