"""Mapping a line record to metric families: what is exported and what is left out."""

from __future__ import annotations

import pytest
from prometheus_client.core import Metric

from aaisp_multi_exporter.linemetrics import line_families, merge_records
from aaisp_multi_exporter.records import LineRecord


def flatten(families: list[Metric]) -> dict[str, float]:
    """``name{labels}`` -> value, for compact table assertions."""
    out: dict[str, float] = {}
    for family in families:
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


FULL = LineRecord(
    line_id="32891",
    login="gb12@a.1",
    postcode="SA65 9RR",
    tx_rate=5181000,
    rx_rate=1205000,
    tx_rate_adjusted=5087000,
    quota_monthly=100000000000,
    quota_remaining=84667320096,
    quota_timestamp=1479258000.0,
)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            FULL,
            {
                "aaisp_broadband_line_info"
                '{line_id="32891",login="gb12@a.1",postcode="SA65 9RR"}': 1,
                "aaisp_broadband_line_sync_download_bits_per_second": 5181000,
                "aaisp_broadband_line_sync_upload_bits_per_second": 1205000,
                "aaisp_broadband_line_adjusted_download_bits_per_second": 5087000,
                "aaisp_broadband_quota_total_bytes": 100000000000,
                "aaisp_broadband_quota_remaining_bytes": 84667320096,
                "aaisp_broadband_quota_timestamp_seconds": 1479258000.0,
            },
            id="every-field",
        ),
        pytest.param(
            LineRecord(line_id="1", login="a@a", rx_rate=10),
            {
                'aaisp_broadband_line_info{line_id="1",login="a@a",postcode=""}': 1,
                "aaisp_broadband_line_sync_upload_bits_per_second": 10,
            },
            id="missing-fields-left-out-not-zero",
        ),
        pytest.param(
            LineRecord(line_id="2", quota_monthly=0, quota_remaining=0, quota_timestamp=5.0),
            {"aaisp_broadband_quota_timestamp_seconds": 5.0},
            id="unlimited-zero-quota-no-quota-gauges",
        ),
        pytest.param(
            LineRecord(line_id="3", quota_remaining=7),
            {},
            id="absent-monthly-no-quota-gauges",
        ),
        pytest.param(
            LineRecord(line_id="4", quota_monthly=10, quota_remaining=18),
            {
                "aaisp_broadband_quota_total_bytes": 10,
                "aaisp_broadband_quota_remaining_bytes": 18,
            },
            id="remaining-above-total-kept",
        ),
        pytest.param(
            LineRecord(line_id="5", quota_monthly=10),
            {"aaisp_broadband_quota_total_bytes": 10},
            id="total-without-remaining",
        ),
    ],
)
def test_line_families(record: LineRecord, expected: dict[str, float]) -> None:
    assert flatten(line_families(record)) == expected


def test_merge_prefers_later_non_missing_fields() -> None:
    info = LineRecord(line_id="1", login="a@a", tx_rate=5, quota_monthly=10, quota_remaining=3)
    quota = LineRecord(line_id="1", quota_monthly=10, quota_remaining=2)
    merged = merge_records([info, quota])
    assert merged == LineRecord(
        line_id="1", login="a@a", tx_rate=5, quota_monthly=10, quota_remaining=2
    )


def test_merge_of_nothing() -> None:
    assert merge_records([]) is None
