"""Pure mapping from a command's line record to the metric families it owns (SPEC 4)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from aaisp_multi_exporter.commands import Command
from aaisp_multi_exporter.records import LineRecord


def line_families(command: Command, record: LineRecord) -> list[Metric]:
    """The series ``command`` owns for one line; a field CHAOS left out is left out, never 0."""
    families: list[Metric] = []
    values = record.values
    if command.info is not None:
        labels = [values.get(name) for name in command.info.labels]
        # Only a record that carries some label gets the series, so it never flips between
        # label sets as lines with and without data are scraped.
        if any(label is not None for label in labels):
            info = GaugeMetricFamily(
                command.info.metric, command.info.help, labels=["line_id", *command.info.labels]
            )
            info.add_metric([record.line_id, *("" if v is None else str(v) for v in labels)], 1)
            families.append(info)
    for field in command.fields:
        gauge = field.gauge
        value = values.get(field.name)
        if gauge is None or value is None or isinstance(value, str):
            continue
        if gauge.when is not None and not gauge.when(values):
            continue
        families.append(GaugeMetricFamily(gauge.metric, gauge.help, value=value * gauge.scale))
    return families
