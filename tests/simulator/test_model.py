"""The data served and the faults' own rules: accounts, Fault validation, command matching."""

from __future__ import annotations

from typing import Any

import pytest

from aaisp_multi_exporter.simulator import (
    DEMO_LOGIN,
    DEMO_PASSWORD,
    FAULT_KINDS,
    Fault,
    FaultKind,
    demo_accounts,
    numbered_accounts,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "probability": 1.5},
        {"kind": "http_status", "status": 42},
        {"kind": "latency", "latency_seconds": -1.0},
        {"kind": "replay"},
        {"kind": "deep_nesting", "depth": 0},
        {"kind": "entries_without_id", "entries": -1},
        {"kind": "huge_number", "number": "12a"},
        {"kind": "huge_number", "number": '1e400"}'},
        {"kind": "huge_number", "line_field": ""},
        {"kind": "huge_value", "elements": 0},
        {"kind": "huge_value", "nesting": -1},
        {"kind": "huge_value", "shape": "bytes"},
        {"kind": "error", "command": "info"},
    ],
)
def test_invalid_faults_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        Fault(**kwargs)


@pytest.mark.parametrize(
    ("kind", "command", "request_command", "matches"),
    [
        ("html", None, "broadband/info", True),
        ("html", "broadband/quota", "broadband/info", False),
        ("html", "broadband/quota", "broadband/quota", True),
        ("quota_without_unlimited", None, "broadband/info", False),
        ("quota_without_unlimited", None, "broadband/quota", True),
        ("quota_without_unlimited", "broadband/info", "broadband/info", False),
    ],
)
def test_matches_command(
    kind: FaultKind, command: str | None, request_command: str, matches: bool
) -> None:
    assert Fault(kind, command=command).matches_command(request_command) is matches


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_only_gate_and_replay_need_more_than_a_kind(kind: FaultKind) -> None:
    if kind in ("gate", "replay"):
        with pytest.raises(ValueError, match="needs"):
            Fault(kind)
    else:
        assert Fault(kind).kind == kind


def test_demo_and_numbered_accounts() -> None:
    (demo,) = demo_accounts(5)
    assert (demo.control_login, demo.control_password) == (DEMO_LOGIN, DEMO_PASSWORD)
    assert (demo.control_login, demo.control_password) == ("demo@a", "demo-password")
    assert len(demo.lines) == 5
    accounts = numbered_accounts(3, 4)
    assert [acc.control_login for acc in accounts] == ["sim1@a", "sim2@a", "sim3@a"]
    ids = [line["ID"] for acc in accounts for line in acc.lines]
    assert len(ids) == len(set(ids)) == 12
