"""The probe history on its own: limits, failure retention, lookups, and its flag."""

from __future__ import annotations

import itertools

import pytest

from aaisp_multi_exporter.cli import build_parser
from aaisp_multi_exporter.probe.results import FailureKind, ModuleResult
from aaisp_multi_exporter.server.history import MAX_TEXT_CHARS, HistoryEntry, ProbeHistory


def fill(history: ProbeHistory, outcomes: str, target: str = "t", module: str = "line") -> None:
    """One probe per character: ``s`` a success, ``f`` a failure; text names the id."""
    for outcome in outcomes:
        history.add(
            target=target,
            modules=module.split(","),
            auths=["home"],
            success=outcome == "s",
            duration=0.25,
            debug_text=f"probe {len(history)}",
        )


def ids(records: list[HistoryEntry]) -> list[int]:
    return [record.id for record in records]


@pytest.mark.parametrize(
    ("limit", "outcomes", "expected"),
    [
        pytest.param(3, "", [], id="empty"),
        pytest.param(3, "ss", [1, 0], id="under-limit"),
        pytest.param(3, "sssss", [4, 3, 2], id="successes-age-out"),
        # Probe 0 failed and aged out of the main list; the failure list keeps it.
        pytest.param(3, "fssss", [4, 3, 2, 0], id="failure-kept"),
        pytest.param(3, "fsfsss", [5, 4, 3, 2, 0], id="failures-kept-in-order"),
        # Four aged-out failures, room for three: the oldest failure goes.
        pytest.param(3, "ffffsss", [6, 5, 4, 3, 2, 1], id="failure-list-bounded"),
        pytest.param(3, "ffffff", [5, 4, 3, 2, 1, 0], id="all-failures"),
        pytest.param(1, "fsf", [2, 0], id="limit-one"),
        pytest.param(1, "ffs", [2, 1], id="limit-one-failure-replaced"),
        pytest.param(0, "sfsf", [], id="limit-zero-keeps-nothing"),
    ],
)
def test_limits_and_failure_retention(limit: int, outcomes: str, expected: list[int]) -> None:
    history = ProbeHistory(limit)
    fill(history, outcomes)
    assert ids(history.recent()) == expected
    assert len(history) == len(expected)


def test_memory_stays_bounded_under_load() -> None:
    history = ProbeHistory(50)
    pattern = itertools.cycle("ssfsffs")
    fill(history, "".join(next(pattern) for _ in range(10_000)))
    kept = history.recent()
    assert len(kept) == 100
    assert ids(kept) == sorted(ids(kept), reverse=True)
    # The newest 50 probes, then the 50 most recent failures older than them.
    assert ids(kept)[:50] == list(range(9_999, 9_949, -1))
    assert all(not record.success for record in kept[50:])


def test_ids_increase_even_when_nothing_is_kept() -> None:
    history = ProbeHistory(0)
    fill(history, "ss")
    record = history.add(
        target="t", modules=["line"], auths=[], success=True, duration=0, debug_text=""
    )
    assert record.id == 2
    assert history.by_id(2) is None


def test_record_fields_and_clock() -> None:
    history = ProbeHistory(5, clock=lambda: 1_700_000_000.5)
    record = history.add(
        target="10001",
        modules=["line", "quota"],
        auths=["home", "other"],
        success=False,
        duration=1.5,
        debug_text="the text",
    )
    assert record == HistoryEntry(
        id=0,
        time=1_700_000_000.5,
        target="10001",
        modules=("line", "quota"),
        auths=("home", "other"),
        success=False,
        duration=1.5,
        report="the text",
    )
    assert record.debug_text == "the text"
    assert (record.module, record.auth) == ("line,quota", "home,other")


def test_reasons_and_failing_now_come_from_the_module_outcomes() -> None:
    history = ProbeHistory(5, clock=lambda: 50.0)
    record = history.add(
        target="10001",
        modules=["line", "quota"],
        auths=["home"],
        success=False,
        duration=1.0,
        debug_text="",
        module_results=[
            ModuleResult("line", "home", True),
            ModuleResult("quota", "home", False, reason="broadband/quota: " + "z" * 1000),
        ],
    )
    ((module, reason),) = record.reasons
    assert module == "quota"
    assert reason.startswith("broadband/quota: zzz")
    assert reason.endswith("more characters]")
    assert len(reason) < 600
    (entry,) = history.failing.current()
    assert (entry.key.module, entry.probe_id, entry.since, entry.reason) == (
        "quota",
        record.id,
        50.0,
        reason,
    )


def test_history_off_tracks_no_failures() -> None:
    history = ProbeHistory(0)
    history.add(
        target="t",
        modules=["line"],
        auths=["home"],
        success=False,
        duration=0,
        debug_text="",
        module_results=[ModuleResult("line", "home", False, reason="broke")],
    )
    assert history.failing.current() == []
    assert history.recent() == []


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        ProbeHistory(-1)


def test_oversized_text_is_clipped() -> None:
    history = ProbeHistory(2)
    record = history.add(
        target="t",
        modules=["line"],
        auths=[],
        success=True,
        duration=0,
        debug_text="x" * (MAX_TEXT_CHARS + 10),
    )
    assert record.debug_text.startswith("x" * MAX_TEXT_CHARS)
    assert record.debug_text.endswith("[... 10 more characters dropped by the history]\n")
    assert len(record.debug_text) < MAX_TEXT_CHARS + 100


@pytest.mark.parametrize(
    ("probe_id", "found"),
    [
        pytest.param(4, True, id="main-list"),
        pytest.param(0, True, id="failure-list"),
        pytest.param(1, False, id="aged-out-success"),
        pytest.param(99, False, id="never-existed"),
    ],
)
def test_by_id(probe_id: int, found: bool) -> None:
    history = ProbeHistory(3)
    fill(history, "fssss")
    record = history.by_id(probe_id)
    assert (record is not None) == found
    if record is not None:
        assert record.id == probe_id
        assert record.debug_text == f"probe {probe_id}"


def build_lookup_history() -> ProbeHistory:
    history = ProbeHistory(4)
    fill(history, "f", target="a", module="quota")  # 0: aged out, kept as a failure
    fill(history, "s", target="a", module="line")  # 1: aged out, success, dropped
    fill(history, "s", target="a", module="line,quota")  # 2
    fill(history, "s", target="b", module="line")  # 3
    fill(history, "s", target="a", module="line")  # 4
    fill(history, "s", target="c", module="line")  # 5
    return history


@pytest.mark.parametrize(
    ("target", "module", "expected"),
    [
        pytest.param("a", None, 4, id="newest-any-module"),
        pytest.param("a", "line", 4, id="newest-with-module"),
        pytest.param("a", "quota", 2, id="module-inside-multi-module-probe"),
        pytest.param("a", "line,quota", 2, id="whole-module-list"),
        pytest.param("a", "quota,line", 2, id="module-list-any-order"),
        pytest.param("b", None, 3, id="other-target"),
        pytest.param("b", "quota", None, id="target-without-that-module"),
        pytest.param("z", None, None, id="unknown-target"),
        pytest.param("A", None, None, id="targets-are-case-sensitive"),
    ],
)
def test_latest(target: str, module: str | None, expected: int | None) -> None:
    record = build_lookup_history().latest(target, module)
    assert (record.id if record else None) == expected


def test_latest_falls_back_to_kept_failures() -> None:
    history = ProbeHistory(2)
    fill(history, "f", target="gone")
    fill(history, "sss", target="other")
    record = history.latest("gone")
    assert record is not None
    assert (record.id, record.success) == (0, False)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param([], 100, id="default-as-blackbox"),
        pytest.param(["--history.limit", "5"], 5, id="set"),
        pytest.param(["--history.limit=0"], 0, id="off"),
    ],
)
def test_history_limit_flag(argv: list[str], expected: int) -> None:
    assert build_parser().parse_args(argv).history_limit == expected


@pytest.mark.parametrize("value", ["-1", "ten", "1.5"])
def test_history_limit_flag_refuses(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([f"--history.limit={value}"])
    assert exited.value.code == 2
    assert "--history.limit" in capsys.readouterr().err


def test_a_flood_of_not_found_failures_keeps_the_real_ones() -> None:
    """Issue 16: probes of targets no answer lists keep a tenth of the older-failure room, so
    a real failure stays in /logs and on the page however many of them follow."""
    history = ProbeHistory(10)
    real = history.add(
        target="10001",
        modules=["line"],
        auths=["home"],
        success=False,
        duration=1.0,
        debug_text="the real one",
        module_results=[
            ModuleResult(
                "line", "home", False, reason="CHAOS error", failure_kind=FailureKind.API_ERROR
            )
        ],
    )
    for number in range(1000):
        history.add(
            target=str(20000 + number),
            modules=["line"],
            auths=["home"],
            success=False,
            duration=1.0,
            debug_text="",
            module_results=[
                ModuleResult(
                    "line", "home", False, reason="not found", failure_kind=FailureKind.NOT_FOUND
                )
            ],
        )
    kept = history.recent()
    assert len(kept) == 10 + 1 + 1  # the last 10, the real failure, one older not-found
    assert kept[-1] == real
    assert [record.not_found for record in kept] == [True] * 11 + [False]
    latest = history.latest("10001")
    assert latest is not None
    assert latest.debug_text == "the real one"
