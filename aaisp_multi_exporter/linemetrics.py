"""Pure mapping from a line record to Prometheus metric families (SPEC section 4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace

from prometheus_client.core import GaugeMetricFamily, Metric

from aaisp_multi_exporter.records import LineRecord

PREFIX = "aaisp_broadband"

#: (metric name, help, record field) for the plain per-line gauges.
LINE_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        f"{PREFIX}_line_sync_download_bits_per_second",
        "Download sync rate of the line (CHAOS tx_rate), in bits per second.",
        "tx_rate",
    ),
    (
        f"{PREFIX}_line_sync_upload_bits_per_second",
        "Upload sync rate of the line (CHAOS rx_rate), in bits per second.",
        "rx_rate",
    ),
    (
        f"{PREFIX}_line_adjusted_download_bits_per_second",
        "Download rate after A&A's shaping adjustment (CHAOS tx_rate_adjusted), "
        "in bits per second.",
        "tx_rate_adjusted",
    ),
)
QUOTA_TOTAL = f"{PREFIX}_quota_total_bytes"
QUOTA_REMAINING = f"{PREFIX}_quota_remaining_bytes"
QUOTA_TIMESTAMP = f"{PREFIX}_quota_timestamp_seconds"
LINE_INFO = f"{PREFIX}_line_info"


def merge_records(records: Iterable[LineRecord]) -> LineRecord | None:
    """One view of a line from several answers: later records fill or override fields.

    Callers pass ``broadband/info`` before ``broadband/quota``, so the dedicated quota answer
    wins for quota fields while info supplies the rest.
    """
    merged: LineRecord | None = None
    for record in records:
        if merged is None:
            merged = record
            continue
        updates = {
            field.name: getattr(record, field.name)
            for field in fields(record)
            if field.name not in ("line_id", "notes") and getattr(record, field.name) is not None
        }
        merged = replace(merged, notes=merged.notes + record.notes, **updates)
    return merged


def line_families(record: LineRecord) -> list[Metric]:
    """The line's gauges; a field CHAOS left out is left out, never exported as 0."""
    families: list[Metric] = []
    # Only broadband/info carries login and postcode; a quota-only answer gets no info series,
    # so the series does not flip between label sets as tiers are scraped in turn.
    if record.login is not None or record.postcode is not None:
        info = GaugeMetricFamily(
            LINE_INFO,
            "Always 1; labels carry the line's CHAOS ID, login and postcode.",
            labels=["line_id", "login", "postcode"],
        )
        info.add_metric([record.line_id, record.login or "", record.postcode or ""], 1)
        families.append(info)
    for name, documentation, attribute in LINE_GAUGES:
        value = getattr(record, attribute)
        if value is not None:
            families.append(GaugeMetricFamily(name, documentation, value=value))
    if record.quota_monthly:
        families.append(
            GaugeMetricFamily(
                QUOTA_TOTAL,
                "Monthly quota of the line excluding rollover (CHAOS quota_monthly), in bytes.",
                value=record.quota_monthly,
            )
        )
        if record.quota_remaining is not None:
            families.append(
                GaugeMetricFamily(
                    QUOTA_REMAINING,
                    "Quota left this month (CHAOS quota_remaining), in bytes; may exceed the "
                    "total with rollover and top-ups.",
                    value=record.quota_remaining,
                )
            )
    if record.quota_timestamp is not None:
        families.append(
            GaugeMetricFamily(
                QUOTA_TIMESTAMP,
                "When CHAOS last updated the quota figures (quota_timestamp, UK local time), "
                "as Unix seconds.",
                value=record.quota_timestamp,
            )
        )
    return families
