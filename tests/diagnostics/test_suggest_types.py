"""``--chaos.suggest``'s types and names: the type every value of a field fits (SPEC 6b), the
states a state set may write (never personal data), and metric names the loader takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaisp_multi_exporter.config.commands import (
    READ_ONLY,
    command_name_problem,
    field_problem,
    metric_problem,
)
from aaisp_multi_exporter.diagnostics.suggest import _shaped_private
from aaisp_multi_exporter.diagnostics.suggest_types import FieldSeen, help_text, metric_name

NAME = "telephony/info"


def _never(_: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("field", "values", "kind", "states"),
    [
        ("locked", ["Y", "N", "y"], "bool", []),
        ("locked", ["yes", "NO", " true ", "off"], "bool", []),
        ("locked", [True, False], "bool", []),
        ("locked", ["Y", "1", "0"], "bool", []),  # a word makes 1 and 0 flags too
        ("flag", ["1", "0", "1"], "count", []),  # 1 and 0 alone may be a count
        ("calls", ["7", "12", 3], "count", []),
        ("credit", ["1.50", "2"], "number", []),
        ("credit", ["1e3", "-0.5"], "number", []),
        ("created", ["2024-08-01", "2019-03-31"], "date", []),
        ("when", ["2024-08-01 10:00:00", "2024-08-01T11:00:00"], "uk_time", []),
        ("session", ["01:23:45", "00:00:00"], "duration", []),
        ("session", ["12:30", "0"], "duration", []),  # one time with a colon: seconds too
        ("status", ["up", "down", "sideways"], "states", ["down", "sideways", "up"]),
        ("plan", ["Gold", "gold", "Silver"], "states", ["Gold", "Silver"]),  # a repeat
        ("block", ["N", "A", "N"], "states", ["A", "N"]),  # Y/N/A is no flag
        ("plan", ["Gold", "Silver"], "text", []),  # each entry its own text: names
        ("status", ["up"], "text", []),  # one entry: no set
        ("status", [f"s{i}" for i in range(9)], "text", []),  # more than 8 texts
        ("created", ["2024-08-01", "31/03/2019"], "text", []),  # one value does not fit
        ("session", ["01:23:45", "long"], "text", []),
        ("calls", ["7", "٣"], "text", []),  # ASCII digits only
        ("postcode", ["XX1 1XX", "XX1 1XX"], "text", []),  # personal by its name
        ("owner", ["a@b", "a@b"], "text", []),  # a login's @
        ("kind", ["01632 960001", "01632 960001"], "text", []),  # a phone number's shape
        ("note", ["x" * 65, "x" * 65], "text", []),  # a sentence, not a state
        ("prices", [{"price": []}, "1"], "nested", []),
    ],
)
def test_the_type_every_value_fits(
    field: str, values: list[object], kind: str, states: list[str]
) -> None:
    seen = FieldSeen(field)
    for value in values:
        seen.add(value, _shaped_private)
    assert seen.kind() == kind
    assert (seen.state_list() if kind == "states" else []) == states
    assert seen.entries == len(values)


def test_absent_and_blank_values_are_not_carried() -> None:
    seen = FieldSeen("voip")
    for value in (None, "", "  ", "Y"):
        seen.add(value, _never)
    assert (seen.entries, seen.kind()) == (1, "bool")


def test_a_private_text_is_never_a_state() -> None:
    """The check lends its redactor: a value it would replace is personal data."""
    seen = FieldSeen("tariff")
    for value in ("Home", "Home", "Office"):
        seen.add(value, lambda text: text == "Office")
    assert seen.kind() == "text"


def test_texts_repeated_only_across_replies_are_not_states() -> None:
    """Two credential sets may see the same entries: their names, twice, are still names."""
    seen = FieldSeen("name")
    for reply in (1, 2):
        for value in ("Office", "Fax", "Kitchen"):
            seen.add(value, _never, reply)
    assert (seen.entries, seen.kind()) == (6, "text")
    seen.add("Fax", _never, 2)  # twice in one reply: a vocabulary
    assert seen.kind() == "states"


@pytest.mark.parametrize(
    ("field", "suffix", "taken", "metric"),
    [
        ("calls_today", "", set(), "aaisp_telephony_calls_today"),
        ("Calls-Today", "", set(), "aaisp_telephony_calls_today"),
        ("calls_today", "", {"aaisp_telephony_calls_today"}, "aaisp_telephony_info_calls_today"),
        (
            "calls_today",
            "",
            {"aaisp_telephony_calls_today", "aaisp_telephony_info_calls_today"},
            "aaisp_telephony_info_calls_today_2",
        ),
        ("total", "", set(), "aaisp_telephony_total_value"),  # _total is a counter's
        ("calls_count", "", set(), "aaisp_telephony_calls_count_value"),
        ("--", "", set(), "aaisp_telephony_field"),
        ("created", "_timestamp_seconds", set(), "aaisp_telephony_created_timestamp_seconds"),
        ("quota_timestamp", "_timestamp_seconds", set(), "aaisp_telephony_quota_timestamp_seconds"),
        ("session", "_seconds", set(), "aaisp_telephony_session_seconds"),
        ("session_seconds", "_seconds", set(), "aaisp_telephony_session_seconds"),
        ("seconds", "_seconds", set(), "aaisp_telephony_seconds_seconds"),
    ],
)
def test_metric_names(field: str, suffix: str, taken: set[str], metric: str) -> None:
    assert metric_name(NAME, field, taken, suffix) == metric


@pytest.mark.parametrize(
    ("command", "field", "metric"),
    [
        # aaisp_probe_ and aaisp_exporter_ are the exporter's own: the loader refuses them.
        ("probe/info", "success", "aaisp_chaos_probe_success"),
        ("exporter/info", "build", "aaisp_chaos_exporter_build"),
        ("probe_x/info", "calls", "aaisp_chaos_probe_x_calls"),
        ("exporter/quota", "total", "aaisp_chaos_exporter_total_value"),
        ("probes/info", "calls", "aaisp_probes_calls"),  # not the exporter's prefix
    ],
)
def test_metric_names_the_loader_takes(command: str, field: str, metric: str) -> None:
    assert metric_name(command, field, set()) == metric
    assert metric_problem(metric) is None


_SUBSYSTEM = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_FIELD_NAME = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(
    subsystem=st.one_of(_SUBSYSTEM, st.sampled_from(["probe", "exporter", "probe_", "exporter_"])),
    command=st.sampled_from(READ_ONLY),
    field=st.one_of(_FIELD_NAME, st.sampled_from(["total", "a_count", "x_sum", "created", "--"])),
    suffix=st.sampled_from(["", "_seconds", "_timestamp_seconds"]),
    taken=st.integers(min_value=0, max_value=3),
)
def test_every_suggested_metric_loads(
    subsystem: str, command: str, field: str, suffix: str, taken: int
) -> None:
    """Whatever the declared command and field (as the loader accepts them), and however
    many of the names it would pick are taken, the name suggested is one the loader takes."""
    name = f"{subsystem}/{command}"
    if command_name_problem(name) is not None or field_problem(field) is not None:
        return
    names: set[str] = set()
    for _ in range(taken):
        names.add(metric_name(name, field, names, suffix))
    metric = metric_name(name, field, names, suffix)
    assert metric not in names
    assert metric_problem(metric) is None, metric


@pytest.mark.parametrize("kind", ["bool", "count", "number", "date", "uk_time", "duration"])
def test_help_names_the_field_and_no_value(kind: str) -> None:
    text = help_text(NAME, "calls", kind)
    assert text.startswith(("CHAOS telephony/info field calls", "1 when CHAOS telephony/info"))
