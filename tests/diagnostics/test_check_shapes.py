"""``--chaos.check`` on replies a declaration does not fit (SPEC 6b): every entry without the
key fails the command, naming the fields the entries carry; a missing payload names the
reply's top-level members. Real simulator, real HTTP; the reply is illustrative."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.diagnostics.check import check_chaos
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import SENTINEL, config_text

FIXTURE = Path(__file__).parent.parent / "fixtures" / "illustrative-telephony-info.json"
MODULE = '\n[modules.phones]\ncommands = ["telephony/info"]\nauth = "home"\n'


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        pytest.param(
            '[commands."telephony/info"]\npayload = "info"\nkey = "ID"\n',
            "no usable answer: no entry carries a usable ID (the key); the entries carry: "
            "number, name, credit, calls_today, status, postcode, minutes_left (invalid_response)",
            id="every-entry-lacks-the-key",
        ),
        pytest.param(
            '[commands."telephony/info"]\npayload = "numbers"\nkey = "number"\n',
            'no usable answer: reply has no "numbers" array (missing); the reply\'s members: '
            '"subsystem", "command", "request", "info" (invalid_response)',
            id="missing-payload",
        ),
        pytest.param(
            '[commands."telephony/info"]\npayload = "info.calls"\nkey = "number"\n',
            'no usable answer: reply\'s "info" is a JSON array, not an object holding "calls"'
            " (invalid_response)",
            id="nested-step-missing",
        ),
    ],
)
async def test_a_reply_the_declaration_does_not_fit_fails_the_check(
    simulator: Simulator, declared: str, expected: str
) -> None:
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    config = parse_config(config_text(simulator.url, extra=declared + MODULE), env={})
    out = io.StringIO()
    status = await check_chaos(config, out)
    report = out.getvalue()
    assert status == 1, report
    assert f"[home] telephony/info: {expected}" in report, report
    assert "FAILED" in report
    assert SENTINEL not in report


async def test_a_reply_of_one_entry_without_its_key_is_checked(simulator: Simulator) -> None:
    """A line-scope reply's lone entry (SPEC 6b) is counted and shown; the check used to
    fail on it (its fields were not kept)."""
    fixture = FIXTURE.with_name("illustrative-telephony-info-settings.json")
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(fixture)))
    declared = '[commands."telephony/info"]\nkey = "number"\n' + MODULE + 'scope = "line"\n'
    config = parse_config(config_text(simulator.url, extra=declared), env={})
    out = io.StringIO()
    status = await check_chaos(config, out)
    report = out.getvalue()
    assert status == 0, report
    assert "[home] telephony/info: answered in" in report
    assert "fields CHAOS sent that the exporter does not use: credit (1), name (1)" in report
    assert "  number: (one entry, without it)\n" in report
    assert "series a probe of number (one entry, without it) would export" in report
