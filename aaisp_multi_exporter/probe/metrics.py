"""Exposition: a probe's results as Prometheus text, from registries made for the request.

Pure mapping (``line_families``, ``outcome_families``, ``timing_families``) plus rendering
in the negotiated format (``probe.exposition``: prometheus_client's bytes).
A line's series are rendered once per snapshot and format and reused while the snapshot
lives (SPEC 11); the gauges that only say how a probe went are kept per set of values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.replies import LineRecord
from aaisp_multi_exporter.probe.exposition import EOF, TEXT, Format, encode

if TYPE_CHECKING:  # results are read, never built, here: no import cycle with run
    from aaisp_multi_exporter.probe.run import ProbeResult

MAX_RENDERED_FORMATS = 4


class OutcomeTexts:
    """Rendered outcome gauges by (format, timeout, module outcomes), bounded.

    A handful of combinations repeat across every probe of a process; odd Accept headers or
    timeouts cannot grow it past the bound (it starts afresh when full).
    """

    def __init__(self, limit: int = 256) -> None:
        self._texts: dict[tuple[object, ...], bytes] = {}
        self._limit = limit

    def get(self, key: tuple[object, ...]) -> bytes | None:
        return self._texts.get(key)

    def put(self, key: tuple[object, ...], text: bytes) -> None:
        if len(self._texts) >= self._limit:
            self._texts.clear()
        self._texts[key] = text


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


def outcome_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that say how it went; the same values give the same text."""
    module_success = GaugeMetricFamily(
        "aaisp_probe_module_success",
        "1 if the module got CHAOS data for the line.",
        labels=["module"],
    )
    for name, success in result.module_outcomes:
        module_success.add_metric([name], int(success))
    return [
        GaugeMetricFamily(
            "probe_success",
            "1 if every requested module got CHAOS data for the line.",
            value=int(result.success),
        ),
        GaugeMetricFamily(
            "probe_timeout_seconds", "The probe's deadline in seconds.", value=result.timeout
        ),
        module_success,
    ]


#: The per-probe gauges' empty families, made (and their names checked) once by
#: GaugeMetricFamily itself; ``_fresh`` makes each request's from them.
_DURATION = GaugeMetricFamily("probe_duration_seconds", "How long the probe took.", labels=[])
_DATA_AGE = GaugeMetricFamily(
    "aaisp_probe_data_age_seconds",
    "Age of the CHAOS answer used (0 when fetched for this probe; answers are shared "
    "for the module's cache_seconds).",
    labels=["module"],
)


def timing_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that change every time: its duration and the data's age."""
    ages = []
    for module in result.modules:
        age = module.data_age
        if age is not None:
            ages.append(Sample(_DATA_AGE.name, {"module": module.name}, age))
    duration = [Sample(_DURATION.name, {}, result.duration)]
    return [_fresh(_DURATION, duration), _fresh(_DATA_AGE, ages)]


def _fresh(empty: GaugeMetricFamily, samples: list[Sample]) -> GaugeMetricFamily:
    """A new family like ``empty`` with these samples: what GaugeMetricFamily's constructor
    and ``add_metric`` make, without checking the same name on every probe (that was a tenth
    of a cached probe). ``tests/probe/test_metrics.py`` holds the two to equal."""
    family = GaugeMetricFamily.__new__(GaugeMetricFamily)
    family.__dict__.update(empty.__dict__)
    family.samples = samples
    return family


def render_result(
    result: ProbeResult, fmt: Format = TEXT, outcomes: OutcomeTexts | None = None
) -> bytes:
    """The answer in the format the scraper asked for (text by default).

    The probe's gauges come from registries made for this request. Those that only say
    how it went (success, timeout, per-module success) repeat from probe to probe, so
    their text is kept per set of values in ``outcomes``; the line's series are rendered
    once per snapshot and format (SPEC 11). Both were most of a cached probe's cost.
    """
    key = (fmt.content_type, result.timeout, result.module_outcomes)  # success follows
    head = outcomes.get(key) if outcomes is not None else None
    if head is None:
        head = encode(outcome_families(result), fmt)
        if outcomes is not None:
            outcomes.put(key, head)
    parts = [head, encode(timing_families(result), fmt)]
    for command, record in result.lines:
        parts.append(_line_text(command, record, fmt))
    if fmt.openmetrics:
        parts.append(EOF)
    return b"".join(parts)


def exposition_text(result: ProbeResult) -> str:
    """The text format, for the debug answer and ``/logs``."""
    return render_result(result).decode()


def _line_text(command: Command, record: LineRecord, fmt: Format) -> bytes:
    cached = record.rendered.get(fmt.content_type)
    if cached is not None:
        return cached
    text = encode(line_families(command, record), fmt)
    # A handful of formats exist; the bound stops odd Accept headers from growing the cache.
    if len(record.rendered) < MAX_RENDERED_FORMATS:
        record.rendered[fmt.content_type] = text
    return text
