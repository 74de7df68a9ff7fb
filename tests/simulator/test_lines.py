"""Generated lines: deterministic, realistic, each quirk at its documented index."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aaisp_multi_exporter.simulator import (
    QUIRK_CYCLE,
    QUIRKS,
    Quirk,
    generate_lines,
    has_quirk,
    line_ids_with_quirk,
    quirk_at,
    service_aliases,
)

LINE_FIELDS = {
    "ID",
    "login",
    "postcode",
    "tx_rate",
    "rx_rate",
    "tx_rate_adjusted",
    "quota_monthly",
    "quota_remaining",
    "quota_timestamp",
}


@pytest.mark.parametrize(
    ("index", "quirk"),
    [
        (0, None),
        (1, "fttp"),
        (12, "rollover"),
        (23, "no_tx_rate"),
        (4, None),
        (9995, "no_quota_monthly"),
        (7, "unlimited"),
        (19, "postcode_whitespace"),
    ],
)
def test_quirk_at(index: int, quirk: Quirk | None) -> None:
    assert quirk_at(index) == quirk
    assert set(QUIRK_CYCLE) - {None} == set(QUIRKS)


@pytest.mark.parametrize("quirk", QUIRKS)
def test_generate_lines_has_each_quirk_at_documented_index(quirk: Quirk) -> None:
    lines = generate_lines(30)
    expected = [lines[i]["ID"] for i in range(30) if quirk_at(i) == quirk]
    assert len(expected) == 3
    assert line_ids_with_quirk(lines, quirk) == expected


@pytest.mark.parametrize(
    ("quirk", "check"),
    [
        ("no_tx_rate", lambda line: "tx_rate" not in line and "tx_rate_adjusted" in line),
        (
            "no_quota_monthly",
            lambda line: "quota_monthly" not in line and "quota_remaining" not in line,
        ),
        (
            "unlimited",
            lambda line: line["quota_monthly"] == "0" and line["quota_remaining"] == "0",
        ),
        (
            "rollover",
            lambda line: int(line["quota_remaining"]) > int(line["quota_monthly"]) > 0,
        ),
        (
            "postcode_whitespace",
            lambda line: line["postcode"] != line["postcode"].strip() != "",
        ),
        ("fttp", lambda line: 100_000_000 < int(line["tx_rate"]) <= 900_000_000),
    ],
)
def test_quirk_shapes(quirk: Quirk, check: Any) -> None:
    lines = generate_lines(20, seed=3)
    picked = [line for i, line in enumerate(lines) if quirk_at(i) == quirk]
    assert picked
    assert all(check(line) for line in picked)
    assert all(has_quirk(line, quirk) for line in picked)


#: An ordinary line: FTTC speed, some of its monthly quota left, a tidy postcode.
ORDINARY = {"tx_rate": "80000000", "quota_monthly": "5", "quota_remaining": "1", "postcode": "A1"}


@pytest.mark.parametrize(
    ("changes", "quirks"),
    [
        pytest.param({}, set(), id="ordinary"),
        pytest.param({"tx_rate": "80000001"}, {"fttp"}, id="fttp"),
        pytest.param({"tx_rate": None}, {"no_tx_rate"}, id="no-tx-rate"),
        pytest.param({"quota_monthly": None}, {"no_quota_monthly"}, id="no-quota-monthly"),
        pytest.param({"quota_monthly": "0"}, {"unlimited"}, id="unlimited"),
        pytest.param({"quota_remaining": "6"}, {"rollover"}, id="rollover"),
        pytest.param({"quota_remaining": "5"}, set(), id="full-quota"),
        pytest.param({"postcode": " A1"}, {"postcode_whitespace"}, id="postcode-whitespace"),
        pytest.param(
            {"postcode": None, "tx_rate": None}, {"no_tx_rate"}, id="no-postcode-is-no-quirk"
        ),
    ],
)
def test_has_quirk_judges_by_content(changes: dict[str, str | None], quirks: set[Quirk]) -> None:
    merged = {**ORDINARY, **changes}
    line = {key: value for key, value in merged.items() if value is not None}
    assert {quirk for quirk in QUIRKS if has_quirk(line, quirk)} == quirks


def test_generate_lines_is_deterministic_and_realistic() -> None:
    lines = generate_lines(200, start_id=50000, seed=5)
    assert lines == generate_lines(200, start_id=50000, seed=5)
    assert lines != generate_lines(200, start_id=50000, seed=6)
    assert generate_lines(20, start_id=50000, seed=5) == lines[:20]
    assert [line["ID"] for line in lines] == [str(50000 + i) for i in range(200)]
    assert len({line["login"] for line in lines}) == 200
    for line in lines:
        assert set(line) <= LINE_FIELDS
        assert all(isinstance(value, str) for value in line.values())
        assert re.fullmatch(r"[a-z]{2}\d+@a\.1", line["login"])
        assert re.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}", line["postcode"].strip())
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:00:00", line["quota_timestamp"])
        adjusted = int(line["tx_rate_adjusted"])
        assert 0 < int(line["rx_rate"]) <= 110_000_000
        if "tx_rate" in line:
            tx = int(line["tx_rate"])
            assert 5_000_000 <= tx <= 900_000_000
            assert 0.95 * tx <= adjusted <= 0.99 * tx
        if line.get("quota_monthly", "0") != "0":
            assert line["quota_monthly"] in {"100000000000", "1000000000000", "10000000000000"}
            assert int(line["quota_remaining"]) >= 0


def test_generate_lines_refuses_a_negative_count() -> None:
    assert generate_lines(0) == []
    with pytest.raises(ValueError, match="count must be >= 0"):
        generate_lines(-1)


def test_line_ids_with_quirk_rejects_unknown_quirk() -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        line_ids_with_quirk([], "nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "line_id", "aliases"),
    [
        (0, "10000", {"BBEU00010000", "01632960000"}),
        (999, "10999", {"BBEU00010999", "01632960999"}),
        (1000, "11000", {"BBEU00011000"}),  # Ofcom's drama range has 1,000 numbers
    ],
)
def test_service_aliases(index: int, line_id: str, aliases: set[str]) -> None:
    lines = generate_lines(1001)
    found = service_aliases(lines)
    assert lines[index]["ID"] == line_id
    assert {alias for alias, target in found.items() if target == line_id} == aliases
