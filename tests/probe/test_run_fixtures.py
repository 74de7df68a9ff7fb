"""Public CHAOS reply shapes (tests/fixtures/, see its README) through the whole probe path.

The simulator replays each file byte for byte, a real exporter probes it, and the test reads
the exposition text back: the series the README promises are there with their values, and what
CHAOS left out (or another command owns) is absent rather than 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import ExporterFactory

FIXTURES = Path(__file__).parent.parent / "fixtures"

LINE = "aaisp_broadband_line"
DOWNLOAD = f"{LINE}_sync_download_bytes_per_second"
UPLOAD = f"{LINE}_sync_upload_bytes_per_second"
ADJUSTED = f"{LINE}_adjusted_download_bytes_per_second"
TOTAL = "aaisp_broadband_quota_total_bytes"
REMAINING = "aaisp_broadband_quota_remaining_bytes"
STAMP = "aaisp_broadband_quota_timestamp_seconds"
QUOTA = (TOTAL, REMAINING, STAMP)
RATES = (DOWNLOAD, UPLOAD, ADJUSTED)


def info(line_id: str, login: str, postcode: str) -> str:
    return f'{LINE}_info{{line_id="{line_id}",login="{login}",postcode="{postcode}"}}'


CASES = [
    pytest.param(
        "fix-broadband-info.json",
        "line",
        "12345",
        {
            info("12345", "something4@a", "XX1 1XX"): 1,
            UPLOAD: 7272000 / 8,
            ADJUSTED: 944955500 / 8,
        },
        # No tx_rate in the real capture; quota gauges belong to broadband/quota.
        (DOWNLOAD, *QUOTA),
        id="fix-info-no-tx-rate",
    ),
    pytest.param(
        "fix-broadband-quota.json",
        "quota",
        "54321",
        {TOTAL: 10000000000000, REMAINING: 18897654553833, STAMP: 1722258000},
        (f"{LINE}_info", *RATES),
        id="fix-quota-rollover",
    ),
    pytest.param(
        "natm-two-lines-info.json",
        "line",
        "32891",
        {
            info("32891", "gb12@a.1", "SA65 9RR"): 1,
            DOWNLOAD: 5181000 / 8,
            UPLOAD: 1205000 / 8,
            ADJUSTED: 5087000 / 8,
        },
        QUOTA,
        id="two-lines-first",
    ),
    pytest.param(
        "natm-two-lines-info.json",
        "line",
        "37835",
        {
            info("37835", "el6@a.1", "SA62 5EY"): 1,
            DOWNLOAD: 68083000 / 8,
            UPLOAD: 19999000 / 8,
            ADJUSTED: 66839000 / 8,
        },
        QUOTA,
        id="two-lines-second",
    ),
    pytest.param(
        "lowercase-id-info.json",
        "line",
        "60865",
        {
            info("60865", "ab12@a", "XX1 1XX"): 1,
            DOWNLOAD: 10000000,
            UPLOAD: 2500000,
            ADJUSTED: 9800000,
        },
        QUOTA,
        id="lower-case-id",
    ),
    pytest.param(
        "lone-object-info.json",
        "line",
        "70001",
        {
            info("70001", "cd34@a.2", "XX2 2XX"): 1,
            DOWNLOAD: 5000000,
            UPLOAD: 1250000,
            ADJUSTED: 4900000,
        },
        QUOTA,
        id="lone-object",
    ),
    pytest.param(
        "quota-unlimited-and-absent.json",
        "quota",
        "40001",
        {TOTAL: 100000000000, REMAINING: 2500000000, STAMP: 1705309200},
        (f"{LINE}_info", *RATES),
        id="quota-limited",
    ),
    pytest.param(
        "quota-unlimited-and-absent.json",
        "quota",
        "40002",
        {STAMP: 1705309200},
        (TOTAL, REMAINING, f"{LINE}_info", *RATES),
        id="quota-unlimited-zero",
    ),
    pytest.param(
        "quota-unlimited-and-absent.json",
        "quota",
        "40003",
        {STAMP: 1705309200},
        (TOTAL, REMAINING, f"{LINE}_info", *RATES),
        id="quota-monthly-absent",
    ),
]


@pytest.mark.parametrize(("fixture", "module", "target", "expected", "absent"), CASES)
async def test_fixture_through_the_probe_path(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    fixture: str,
    module: str,
    target: str,
    expected: dict[str, float],
    absent: tuple[str, ...],
) -> None:
    command = "broadband/info" if module == "line" else "broadband/quota"
    simulator.add_fault(Fault("replay", path=str(FIXTURES / fixture), command=command))
    exporter = await make_exporter()
    got = await exporter.samples(f"target={target}&module={module}")
    assert got["probe_success"] == 1
    assert got[f'aaisp_probe_module_success{{module="{module}"}}'] == 1
    line_series = {name: value for name, value in got.items() if name.startswith("aaisp_broadband")}
    assert line_series == expected
    for name in absent:
        assert not any(series.startswith(name) for series in got), name


@pytest.mark.parametrize(
    ("fixture", "module", "target"),
    [
        pytest.param("natm-two-lines-info.json", "line", "99999", id="line-not-in-reply"),
        pytest.param("fix-authentication-error.json", "line", "12345", id="auth-error"),
    ],
)
async def test_fixture_without_the_line_fails_the_probe(
    make_exporter: ExporterFactory, simulator: Simulator, fixture: str, module: str, target: str
) -> None:
    simulator.add_fault(Fault("replay", path=str(FIXTURES / fixture)))
    exporter = await make_exporter()
    got = await exporter.samples(f"target={target}&module={module}")
    assert got["probe_success"] == 0
    assert got[f'aaisp_probe_module_success{{module="{module}"}}'] == 0
    assert not any(name.startswith("aaisp_broadband") for name in got)


def test_every_fixture_is_described() -> None:
    readme = (FIXTURES / "README.md").read_text()
    files = sorted(path.name for path in FIXTURES.glob("*.json"))
    assert files
    for name in files:
        assert f"`{name}`" in readme, name
