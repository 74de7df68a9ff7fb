"""What is failing now, on its own: entering, staying, leaving, and its bound."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.probe.results import FailureKind, ModuleResult
from aaisp_multi_exporter.server.failing import (
    MAX_REASON_CHARS,
    FailingKey,
    FailingNow,
    clip_reason,
)


def outcome(spec: str) -> ModuleResult:
    """``quota/home+`` is a success, ``quota/home-`` a failure with reason ``quota broke``,
    ``quota/home?`` a target CHAOS does not list."""
    module, auth = spec[:-1].split("/")
    if spec[-1] == "+":
        return ModuleResult(module, auth, True)
    if spec[-1] == "?":
        return ModuleResult(
            module, auth, False, reason="not found", failure_kind=FailureKind.NOT_FOUND
        )
    return ModuleResult(
        module, auth, False, reason=f"{module} broke", failure_kind=FailureKind.API_ERROR
    )


def run(probes: list[tuple[str, str]], limit: int = 10, group_targets: int = 3) -> FailingNow:
    """``probes``: (target, space-separated outcomes), one probe each, a second apart."""
    failing = FailingNow(limit, group_targets)
    for number, (target, outcomes) in enumerate(probes):
        failing.update(
            target, [outcome(spec) for spec in outcomes.split()], at=100.0 + number, probe_id=number
        )
    return failing


def keys(failing: FailingNow) -> list[str]:
    return [f"{e.key.target}/{e.key.module}/{e.key.auth}" for e in failing.current()]


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([("t", "line/home+")], [], id="success-never-enters"),
        pytest.param([("t", "line/home-")], ["t/line/home"], id="failure-enters"),
        pytest.param([("t", "line/home-"), ("t", "line/home+")], [], id="success-clears"),
        pytest.param(
            [("t", "line/home-"), ("t", "line/home+"), ("t", "line/home-")],
            ["t/line/home"],
            id="fails-again",
        ),
        # One probe of two modules: only the failed module is failing.
        pytest.param([("t", "line/home+ quota/home-")], ["t/quota/home"], id="per-module"),
        pytest.param(
            [("t", "line/home- quota/home-"), ("t", "quota/home+")],
            ["t/line/home"],
            id="other-module-untouched",
        ),
        # The key includes the credential set and the target.
        pytest.param([("t", "line/home-"), ("t", "line/other+")], ["t/line/home"], id="auth-key"),
        pytest.param([("t", "line/home-"), ("u", "line/home+")], ["t/line/home"], id="target-key"),
        pytest.param(
            [("t", "line/home-"), ("u", "line/home-"), ("t", "line/home-")],
            ["t/line/home", "u/line/home"],
            id="most-recently-failed-first",
        ),
    ],
)
def test_entries(probes: list[tuple[str, str]], expected: list[str]) -> None:
    assert keys(run(probes)) == expected


def test_a_run_of_failures_keeps_its_start_and_counts() -> None:
    failing = run([("t", "line/home-"), ("u", "line/home-"), ("t", "line/home-")])
    entry = failing.current()[0]
    assert entry.key == FailingKey("t", "line", "home")
    assert (entry.since, entry.last, entry.failures, entry.probe_id) == (100.0, 102.0, 2, 2)
    assert entry.reason == "line broke"
    # After a success the run starts again.
    again = run([("t", "line/home-"), ("t", "line/home+"), ("t", "line/home-")]).current()[0]
    assert (again.since, again.failures) == (102.0, 1)


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        pytest.param(
            [("a", "m/x-"), ("b", "m/x-"), ("c", "m/x-"), ("d", "m/x-")],
            ["d/m/x", "c/m/x", "b/m/x"],
            id="least-recently-failed-dropped",
        ),
        pytest.param(
            [("a", "m/x-"), ("b", "m/x-"), ("c", "m/x-"), ("a", "m/x-"), ("d", "m/x-")],
            ["d/m/x", "a/m/x", "c/m/x"],
            id="failing-again-is-recent",
        ),
    ],
)
def test_bounded(probes: list[tuple[str, str]], expected: list[str]) -> None:
    failing = run(probes, limit=3)
    assert keys(failing) == expected
    assert len(failing) == 3


def test_memory_stays_bounded_under_an_outage() -> None:
    failing = run([(str(n), "line/home-") for n in range(20_000)], limit=1000)
    assert len(failing) == 1000
    assert failing.current()[0].key.target == "19999"
    assert failing.current()[-1].key.target == "19000"


def test_limit_zero_tracks_nothing() -> None:
    assert keys(run([("t", "line/home-")], limit=0)) == []


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param(None, "failed (no reason given)", id="none"),
        pytest.param("", "failed (no reason given)", id="empty"),
        pytest.param("short", "short", id="short"),
        pytest.param("r" * MAX_REASON_CHARS, "r" * MAX_REASON_CHARS, id="at-limit"),
        pytest.param(
            "r" * (MAX_REASON_CHARS + 7),
            "r" * MAX_REASON_CHARS + "... [7 more characters]",
            id="cut",
        ),
    ],
)
def test_clip_reason(reason: str | None, expected: str) -> None:
    assert clip_reason(reason) == expected


def groups(failing: FailingNow) -> list[str]:
    """``module/auth:targets newest first(+forgotten)`` per not-found group."""
    return [
        f"{group.module}/{group.auth}:{','.join(e.key.target for e in group.entries)}"
        + (f"+{group.forgotten.drops}" if group.forgotten.drops else "")
        for group in failing.not_found()
    ]


@pytest.mark.parametrize(
    ("probes", "entries", "grouped"),
    [
        pytest.param([("t", "line/home?")], [], ["line/home:t"], id="not-found-is-grouped"),
        pytest.param(
            [("t", "line/home?"), ("u", "line/home?"), ("t", "line/home?")],
            [],
            ["line/home:t,u"],
            id="one-group-per-module-and-auth",
        ),
        pytest.param(
            [("t", "line/home?"), ("u", "quota/home?"), ("v", "line/other?")],
            [],
            ["line/other:v", "quota/home:u", "line/home:t"],
            id="groups-most-recent-first",
        ),
        pytest.param([("t", "line/home?"), ("t", "line/home+")], [], [], id="success-leaves"),
        pytest.param(
            [("t", "line/home?"), ("t", "line/home-")],
            ["t/line/home"],
            [],
            id="another-failure-moves-it-out",
        ),
        pytest.param(
            [("t", "line/home-"), ("t", "line/home?")],
            [],
            ["line/home:t"],
            id="and-back",
        ),
        pytest.param(
            [(str(n), "line/home?") for n in range(5)],
            [],
            ["line/home:4,3,2+2"],
            id="bounded-per-group-and-counted",
        ),
        # The issue 16 flood: probes of targets no answer lists never push out the others.
        pytest.param(
            [("real", "line/home-")] + [(str(n), "line/home?") for n in range(1000)],
            ["real/line/home"],
            ["line/home:999,998,997+997"],
            id="a-flood-of-unknown-targets-keeps-the-real-failure",
        ),
    ],
)
def test_not_found_groups(
    probes: list[tuple[str, str]], entries: list[str], grouped: list[str]
) -> None:
    failing = run(probes, limit=2)
    assert keys(failing) == entries
    assert groups(failing) == grouped


def test_a_group_adds_up_its_targets() -> None:
    failing = run([("t", "line/home?"), ("u", "line/home?"), ("t", "line/home?")])
    (group,) = failing.not_found()
    assert (group.target_count, group.failures, group.since, group.last) == (2, 3, 100.0, 102.0)
    assert len(failing) == 2


def test_a_group_counts_what_it_forgot() -> None:
    """Past the bound, targets are dropped, but their failures still count (the flood's row
    adds up) and the group says there are more."""
    probes = [(str(n % 5), "line/home?") for n in range(10)]  # 5 targets, 2 failures each
    (group,) = run(probes, group_targets=3).not_found()
    assert (group.target_count, group.failures, group.since, group.last) == (3, 10, 100.0, 109.0)
    assert group.forgotten.drops == 7
