"""``--chaos.check`` and ``--chaos.capture`` against the simulator over real sockets."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aaisp_multi_exporter.chaos.client import make_session
from aaisp_multi_exporter.chaos.commands import BUILTIN, INFO
from aaisp_multi_exporter.chaos.errors import Outcome
from aaisp_multi_exporter.chaos.replies import parse_reply
from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.diagnostics.capture import REMOVED
from aaisp_multi_exporter.diagnostics.check import call_chaos, check_chaos
from aaisp_multi_exporter.simulator import (
    HUGE_FLOAT,
    Fault,
    SimAccount,
    Simulator,
    generate_lines,
)
from tests.conftest import HOME_LOGIN, OTHER_LOGIN, SENTINEL, ExporterFactory, config_text, samples

SENTINEL_LOGIN = "s3ntinel-login@a"
SENTINEL_LINE_LOGIN = "s3ntinel-line@a.1"
SENTINEL_POSTCODE = "ZZ99 9ZZ"
SENTINEL_PHONE = "01632 960999"
SENTINEL_ADDRESS = "1 S3ntinel Street, Nowhere"
PERSONAL = (SENTINEL, SENTINEL_LOGIN, SENTINEL_LINE_LOGIN, SENTINEL_POSTCODE, SENTINEL_ADDRESS)


async def run_check(config: Config, capture_dir: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    status = await check_chaos(config, out, capture_dir)
    return status, out.getvalue()


def make_config(url: str, **changes: str) -> Config:
    return parse_config(config_text(url, **changes), source="test.toml")


def block(text: str, head: str) -> str:
    """The report block that starts with ``head`` (blocks are separated by blank lines)."""
    for part in text.split("\n\n"):
        if part.startswith(head):
            return part
    raise AssertionError(f"no block {head!r} in:\n{text}")


def assert_no_personal_data(text: str, values: tuple[str, ...] = PERSONAL) -> None:
    folded = text.casefold()
    squashed = re.sub(r"\s", "", folded)
    for value in values:
        assert value.casefold() not in folded, value
        assert re.sub(r"\s", "", value.casefold()) not in squashed, value
    assert "960999" not in text


def captured_files(directory: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(directory.iterdir())}


def series_in(report_block: str) -> dict[str, float]:
    """The samples listed under "series a probe ... would export", parsed as exposition."""
    _, _, after = report_block.partition(" would export from ")
    listed = [line[4:] for line in after.splitlines()[1:] if line.startswith("    aaisp_")]
    assert listed, report_block
    return samples("\n".join(listed) + "\n")


# -- the check ----------------------------------------------------------------------------------


async def test_check_reports_every_set_and_command(simulator: Simulator) -> None:
    status, text = await run_check(make_config(simulator.url))
    assert status == 0
    assert text.startswith(
        f"Checking CHAOS at {simulator.url} directly (no proxy applies): "
        "2 credential set(s) (home, other)"
    )
    # Exactly one call per credential set and command, all in account scope.
    assert simulator.calls == {
        (login, command, ""): 1
        for login in (HOME_LOGIN, OTHER_LOGIN)
        for command in ("broadband/info", "broadband/quota")
    }
    lines = simulator.accounts[0].lines
    info = block(text, "[home] broadband/info: answered in ")
    assert ", 40 line(s)\n" in info
    ids = ", ".join(line["ID"] for line in lines[:20])
    assert f"  line IDs: {ids} (first 20 of 40)\n" in info
    for field in ("ID", "login", "postcode", "tx_rate", "quota_monthly", "quota_timestamp"):
        carrying = sum(field in line for line in lines)
        assert re.search(rf"^    {field} +{carrying}(  \(.*\))?$", info, re.MULTILINE), field
    assert "fields CHAOS sent that the exporter does not use: none" in info
    assert "  series a probe of line 10000 would export from broadband/info:\n" in info
    series = series_in(info)
    info_series = [name for name in series if name.startswith("aaisp_broadband_line_info{")]
    assert len(info_series) == 1
    assert re.fullmatch(
        r'aaisp_broadband_line_info\{line_id="10000",login="login-\d+",postcode="postcode-\d+"\}',
        info_series[0],
    )
    assert series["aaisp_broadband_line_sync_upload_bytes_per_second"] == (
        int(lines[0]["rx_rate"]) / 8
    )
    # One owner per metric: broadband/info carries the quota fields but does not export them.
    assert not any(name.startswith("aaisp_broadband_quota_") for name in series)
    assert re.search(
        r"^    quota_monthly +\d+  \(exported from broadband/quota only\)$", info, re.MULTILINE
    )
    quota = block(text, "[home] broadband/quota: answered")
    with_quota = sum("quota_monthly" in line for line in lines)
    assert with_quota < len(lines)
    assert re.search(rf"^    quota_monthly +{with_quota}$", quota, re.MULTILINE)
    assert series_in(quota)["aaisp_broadband_quota_total_bytes"] == float(lines[0]["quota_monthly"])
    assert "login " not in quota  # quota[] carries no login field
    other = block(text, "[other] broadband/info: answered")
    assert "5 line(s)" in other
    assert "  line IDs: 20000, 20001, 20002, 20003, 20004\n" in other
    assert text.endswith(
        "OK: every credential set (2) answered every command.\n"
        "Next: start the exporter with this configuration and open "
        "/probe?target=10000&module=line&auth=home\n"  # a module that reads broadband/info
    )
    # Logins and postcodes are placeholders, as in a capture; no password anywhere.
    assert_no_personal_data(
        text, (SENTINEL, HOME_LOGIN, *(line["login"] for line in lines), lines[0]["postcode"])
    )


async def test_unused_and_unreadable_fields_are_named(simulator: Simulator) -> None:
    lines = simulator.accounts[0].lines
    lines[0]["sync_state"] = "up"
    lines[1]["Sync-State"] = "down"
    lines[2]["tx_rate"] = "fast"
    lines[3]["lns"] = "a.gormless"
    _, text = await run_check(make_config(simulator.url))
    info = block(text, "[home] broadband/info: answered")
    assert "fields CHAOS sent that the exporter does not use: lns (1), sync_state (2)" in info
    carrying = sum("tx_rate" in line for line in lines)
    assert re.search(
        rf"^    tx_rate +{carrying}  \(1 unreadable, so left out of the metrics\)$",
        info,
        re.MULTILINE,
    )


async def test_entries_without_id_are_counted(simulator: Simulator) -> None:
    simulator.add_fault(Fault("entries_without_id", entries=3, command="broadband/info"))
    status, text = await run_check(make_config(simulator.url))
    assert status == 0
    assert "  entries skipped: 3 (no usable ID)" in block(text, "[home] broadband/info")


@pytest.mark.parametrize(
    ("fault", "password", "said", "hint"),
    [
        pytest.param(
            None,
            "wrong-password",
            '"Control authorisation failed" (auth_error)',
            "check the credentials of [auths.home]",
            id="auth-error",
        ),
        pytest.param(
            Fault("error", error_text="Login locked", login=HOME_LOGIN),
            SENTINEL,
            '"Login locked" (auth_error)',
            "check the credentials of [auths.home]",
            id="login-locked",
        ),
        pytest.param(
            Fault("error", error_text="Service withdrawn", login=HOME_LOGIN),
            SENTINEL,
            '"Service withdrawn" (api_error)',
            "CHAOS refused the request; the text above is its own",
            id="other-error-text",
        ),
    ],
)
async def test_refused_set_fails_the_check(
    simulator: Simulator, fault: Fault | None, password: str, said: str, hint: str
) -> None:
    if fault is not None:
        simulator.add_fault(fault)
    status, text = await run_check(make_config(simulator.url, password=password))
    assert status == 1
    for command in ("broadband/info", "broadband/quota"):
        refused = block(text, f"[home] {command}: refused by CHAOS: ")
        assert said in refused
        assert hint in refused
    assert "[other] broadband/info: answered" in text
    assert text.endswith(
        "FAILED: 1 of 2 credential set(s) did not answer every command "
        "(home: broadband/info, broadband/quota).\n"
    )
    assert SENTINEL not in text
    assert password not in text


async def test_chaos_down_fails_the_check() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    status, text = await run_check(make_config(url))
    assert status == 1
    assert "[home] broadband/info: no usable answer: cannot reach CHAOS: " in text
    assert "(transport_error)" in text
    assert "FAILED: 2 of 2 credential set(s)" in text


async def test_http_error_is_reported_and_captured_as_text(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.add_fault(Fault("http_status", status=503, command="broadband/quota"))
    status, text = await run_check(make_config(simulator.url), tmp_path)
    assert status == 1
    quota = block(text, "[home] broadband/quota: no usable answer: HTTP 503 Service Unavailable")
    assert "(http_error)" in quota
    assert "(not JSON, kept as text)" in quota
    assert "503" in (tmp_path / "home-broadband-quota.txt").read_text()
    assert (tmp_path / "home-broadband-info.json").exists()


@pytest.mark.parametrize(
    ("fault", "status", "said", "captured_as"),
    [
        pytest.param(
            Fault("deep_nesting"),
            1,
            "no usable answer: reply is nested too deeply (invalid_response)",
            "txt",
            id="deep-nesting",
        ),
        pytest.param(
            Fault("huge_number", line_field="tx_rate"),
            0,
            "(40 unreadable, so left out of the metrics)",
            "txt",
            id="huge-integer",
        ),
        pytest.param(
            Fault("huge_number", number=HUGE_FLOAT, as_string=True, line_field="rx_rate"),
            0,
            "rx_rate               40  (40 unreadable, so left out of the metrics)",
            "json",
            id="huge-float-string",
        ),
        pytest.param(
            Fault("entries_without_id"),
            1,
            "entries without a usable ID (invalid_response)",
            "json",
            id="entries-without-id",
        ),
        pytest.param(Fault("lone_object"), 0, "answered in ", "json", id="lone-object"),
    ],
)
async def test_hostile_replies_are_reported_not_fatal(
    simulator: Simulator,
    tmp_path: Path,
    fault: Fault,
    status: int,
    said: str,
    captured_as: str,
) -> None:
    fault.command = "broadband/info"
    fault.login = HOME_LOGIN
    simulator.add_fault(fault)
    got, text = await run_check(make_config(simulator.url), tmp_path)
    assert got == status, text
    assert said in block(text, "[home] broadband/info:")
    assert (tmp_path / f"home-broadband-info.{captured_as}").exists()


async def test_a_call_is_bounded_in_time(simulator: Simulator) -> None:
    simulator.add_fault(Fault("latency", latency_seconds=30))
    config = make_config(simulator.url)
    async with make_session() as session:
        call = await call_chaos(
            session, simulator.url, config.auths["home"], INFO, limit_seconds=0.2
        )
    assert call.outcome is Outcome.TIMEOUT
    assert call.problem == "no answer within 0.2 s"
    assert not call.answered


# -- the capture --------------------------------------------------------------------------------


@pytest.fixture
async def personal_simulator() -> AsyncIterator[Simulator]:
    """An account whose login, line login, postcode, phone and address are sentinels."""
    lines = generate_lines(12, start_id=10000)
    lines[0].update(
        login=SENTINEL_LINE_LOGIN,
        postcode=f" {SENTINEL_POSTCODE.lower()}",
        phone=SENTINEL_PHONE,
        installation_address=SENTINEL_ADDRESS,
    )
    lines[1]["postcode"] = SENTINEL_POSTCODE
    sim = Simulator([SimAccount(SENTINEL_LOGIN, SENTINEL, lines)], seed=3)
    await sim.start()
    yield sim
    await sim.stop()


def personal_config_text(url: str) -> str:
    return config_text(url).replace(f'"{HOME_LOGIN}"', f'"{SENTINEL_LOGIN}"')


def personal_config(url: str) -> Config:
    return parse_config(personal_config_text(url), source="test.toml")


async def test_capture_is_redacted_and_private(
    personal_simulator: Simulator, tmp_path: Path
) -> None:
    capture = tmp_path / "captures"
    status, text = await run_check(personal_config(personal_simulator.url), capture)
    assert status == 1  # "other" does not exist on this simulator
    names = sorted(path.name for path in capture.iterdir())
    assert names == [
        "home-broadband-info.json",
        "home-broadband-quota.json",
        "other-broadband-info.json",
        "other-broadband-quota.json",
    ]
    assert stat.S_IMODE(capture.stat().st_mode) == 0o700
    for path in capture.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert_no_personal_data(path.read_text())
    assert_no_personal_data(text)
    assert "reply saved to " in block(text, "[home] broadband/info: answered")

    info = json.loads((capture / "home-broadband-info.json").read_text())
    assert "control_password" not in info["request"]
    first, second = info["info"][0], info["info"][1]
    assert first["ID"] == "10000"
    assert info["request"]["control_login"] == "login-1"
    assert re.fullmatch(r"login-\d+", first["login"])
    assert len({first["login"], second["login"], "login-1"}) == 3
    # One postcode, whatever its spacing and case, is one placeholder everywhere.
    assert first["postcode"] == second["postcode"]
    assert re.fullmatch(r"postcode-\d+", first["postcode"])
    assert first["phone"] == "phone-1"
    assert first["installation_address"] == "address-1"
    choices = next(
        option["choice"]
        for group in info["options"]
        for option in group.get("option", [])
        if option["name"] == "service"
    )
    assert choices[1]["value"] == "10000"
    assert choices[1]["title"].split() == [first["postcode"], first["login"]]
    assert choices[2]["title"].split() == [first["postcode"], second["login"]]
    # Numbers, IDs and timestamps are kept: the capture is still a fixture.
    original = personal_simulator.accounts[0].lines
    for got, line in zip(info["info"], original, strict=True):
        for key in ("ID", "tx_rate", "rx_rate", "quota_remaining", "quota_timestamp"):
            assert got.get(key) == line.get(key)
    # The exporter reads the capture as it read the original.
    for command in ("broadband/info", "broadband/quota"):
        body = (capture / f"home-broadband-{command.split('/')[1]}.json").read_bytes()
        assert list(parse_reply(BUILTIN[command], body).lines) == [line["ID"] for line in original]
    refused = json.loads((capture / "other-broadband-info.json").read_text())
    assert refused["error"] == "Control authorisation failed"


async def test_capture_removes_echoed_passwords(simulator: Simulator, tmp_path: Path) -> None:
    """A reply that (wrongly) echoes the password loses it wherever it sits."""
    echo = {
        "request": {"control_login": HOME_LOGIN, "control_password": SENTINEL},
        "options": [
            {
                "title": "Authentication",
                "option": [{"name": "pin", "type": "password", "value": SENTINEL}],
            }
        ],
        "error": f"password {SENTINEL} is locked",
    }
    simulator.add_fault(Fault("body", body=echo, login=HOME_LOGIN))
    status, text = await run_check(make_config(simulator.url), tmp_path)
    assert status == 1
    assert f'"password {REMOVED} is locked"' in text
    for name, content in captured_files(tmp_path).items():
        assert SENTINEL not in content, name
    captured = json.loads((tmp_path / "home-broadband-info.json").read_text())
    assert captured["request"] == {"control_login": "login-1"}
    assert captured["options"][0]["option"] == [{"name": "pin", "type": "password"}]


async def test_capture_replays_as_a_fixture(
    personal_simulator: Simulator, make_exporter: ExporterFactory, tmp_path: Path
) -> None:
    """Capture, replay the files from a fresh simulator, probe: the same series come out."""
    config = personal_config(personal_simulator.url)
    await run_check(config, tmp_path)
    replay = Simulator([])
    for command in ("broadband/info", "broadband/quota"):
        path = tmp_path / f"home-broadband-{command.split('/')[1]}.json"
        replay.add_fault(Fault("replay", path=str(path), command=command))
    await replay.start()
    try:
        live = await make_exporter(personal_config_text(personal_simulator.url))
        replayed = await make_exporter(config_text(replay.url))
        for target in ("10000", "10003", "10007"):
            query = f"target={target}&module=quota,line"
            want = line_series(await live.samples(query))
            got = line_series(await replayed.samples(query))
            assert got.pop("info_labels") != want.pop("info_labels")
            assert got == want
            assert want
    finally:
        await replay.stop()


def line_series(got: dict[str, float]) -> dict[str, object]:
    """Line series by name; the info series' labels apart (they are placeholders in a replay)."""
    out: dict[str, object] = {}
    for name, value in got.items():
        if name.startswith("aaisp_broadband_line_info{"):
            out["info_labels"] = name
        elif name.startswith("aaisp_broadband_"):
            out[name] = value
    return out


# -- the command line ---------------------------------------------------------------------------


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_check_exit_codes(simulator: Simulator, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(config_text(simulator.url))
    status, out, err = await run_cli("--chaos.check", "--config.file", str(good))
    assert status == 0, err
    assert "OK: every credential set (2) answered every command." in out
    assert SENTINEL not in out + err

    bad = tmp_path / "bad.toml"
    bad.write_text(config_text(simulator.url, password="not-" + SENTINEL))
    captures = tmp_path / "captures"
    # --chaos.capture alone implies the check.
    status, out, err = await run_cli("--chaos.capture", str(captures), "--config.file", str(bad))
    assert status == 1
    assert '[home] broadband/info: refused by CHAOS: "Control authorisation failed"' in out
    assert SENTINEL not in out + err
    assert len(list(captures.iterdir())) == 4


async def test_cli_check_with_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_text("[auths.home]\ncontrol_login = 1\n")
    status, out, err = await run_cli("--chaos.check", "--config.file", str(path))
    assert status == 1
    assert out == ""
    assert f"{path}: " in err
    assert "problem(s) found" in err
