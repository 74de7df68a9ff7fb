"""Exposition: a probe's results as Prometheus text, from registries made for the request.

Pure mapping (``line_families``, ``summary_families``, ``timing_families``) plus rendering
in the negotiated format (``probe.exposition``: prometheus_client's bytes). A line's series
are rendered once per reply and format and reused while the reply is in use (its data does
not change until the next fetch); the gauges that only say how a probe went (its summary)
are kept per set of values.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import cast

from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.samples import Sample

from aaisp_multi_exporter.chaos.commands import Command, FieldValue
from aaisp_multi_exporter.chaos.parsers import parse_number
from aaisp_multi_exporter.chaos.records import LineRecord
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.settings import Setting
from aaisp_multi_exporter.probe.exposition import (
    EOF,
    TEXT,
    Format,
    encode,
    gauge_line,
    head,
    write_samples,
)
from aaisp_multi_exporter.probe.results import CommandResult, ProbeResult

#: Templates kept: a few per command (formats times which families a line fills); when
#: reloads that change declarations have filled it, it starts afresh.
MAX_TEMPLATES = 1024


class RenderedLines:
    """Each line's series, kept per reply while the reply lives.

    Keyed by the reply (weakly), so they go when the snapshot holding it is replaced, and a
    CHAOS type carries nothing of the probe layer's. What is kept per line is its sample
    lines alone, which are the same in every format written here, with a bit for each of the
    command's families present; the HELP and TYPE lines are the command's, per format. So a
    reseller's 100,000 lines cost a few hundred bytes each (docs/scaling.md), and a cached
    probe joins a few strings.

    Both are kept by the command's declaration (``Command.digest``), not its name: after a
    reload that renames a metric or rewords its help, the next answer has the new lines.
    """

    def __init__(self) -> None:
        #: Per reply: the digest of the command that rendered it, and each line's samples.
        self._by_reply: weakref.WeakKeyDictionary[
            Reply, tuple[str, dict[str, tuple[int, bytes]]]
        ] = weakref.WeakKeyDictionary()
        #: Per (command's digest, OpenMetrics?, families present): the text around the
        #: samples.
        self._templates: dict[tuple[str, bool, int], bytes] = {}

    def text(self, result: CommandResult, fmt: Format) -> bytes:
        reply, line_id, command = result.reply, result.line_id, result.command
        assert line_id is not None
        if reply is None or not fmt.written_here:
            record = result.record
            assert record is not None
            return encode(line_families(command, record), fmt)
        rendered = self._by_reply.get(reply)
        if rendered is None:
            rendered = self._by_reply[reply] = (command.digest, {})
        digest, lines = rendered
        if digest != command.digest:  # a guard: the snapshot key holds the digest too
            return encode(line_families(command, reply.lines[line_id]), fmt)
        kept = lines.get(line_id)
        if kept is None:
            record = reply.lines[line_id]  # parsed here, once per line and reply
            kept = _samples(command, record)
            if kept is None:  # not plain gauges: nothing to keep
                return encode(line_families(command, record), fmt)
            lines[line_id] = kept
        present, samples = kept
        template = self._template(command, fmt.openmetrics, present)
        return template % tuple(samples.split(b"\n")[:-1])

    def _template(self, command: Command, openmetrics: bool, present: int) -> bytes:
        key = (command.digest, openmetrics, present)
        template = self._templates.get(key)
        if template is None:
            heads = [
                head(name, documentation, openmetrics).replace("%", "%%")
                for index, (name, documentation) in enumerate(_families_of(command))
                if present >> index & 1
            ]
            template = "".join(part + "%b\n" for part in heads).encode()
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        return template

    def __len__(self) -> int:
        return sum(len(lines) for _, lines in self._by_reply.values())


def _families_of(command: Command) -> list[tuple[str, str]]:
    """(metric, help) of each family the command can write, in order: the bits of
    ``present``."""
    families = [(command.info.metric, command.info.help)] if command.info is not None else []
    families += [(spec.gauge.metric, spec.gauge.help) for spec in command.fields if spec.gauge]
    return families


def _samples(command: Command, record: LineRecord) -> tuple[int, bytes] | None:
    """The bits of the families the record fills, and their sample lines."""
    order = {name: index for index, (name, _) in enumerate(_families_of(command))}
    present = 0
    samples = []
    for family in line_families(command, record):
        written = write_samples(family)
        if written is None or written.count("\n") != 1:
            return None
        present |= 1 << order[family.name]
        samples.append(written)
    return present, "".join(samples).encode()


class SummaryTexts:
    """Rendered summary gauges by (format, timeout, module successes and failure kinds),
    bounded.

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
    """The series ``command`` owns for one line (or, for ``entries = "each"`` or ``"all"``,
    each of its entries, told apart by the command's ``labels``); a field CHAOS left out is
    left out, never 0."""
    rows = record.rows()
    names = command.labels
    families: list[Metric] = []
    if command.info is not None:
        info = _info_family(command, record, rows)
        if info is not None:
            families.append(info)
    for field in command.fields:
        gauge = field.gauge
        if gauge is None:
            continue
        family: Metric | None = None
        for values in rows:
            value = values.get(field.name)
            if value is None or (gauge.when is not None and not gauge.when(values)):
                continue
            labels = [_label_value(values.get(name)) for name in names]
            if gauge.states is not None:
                if family is None:
                    family = StateSetMetricFamily(gauge.metric, gauge.help, labels=names)
                # A text that is none of the states gives every state 0 (noted at parsing).
                current = {state: state == value for state in gauge.states}
                cast(StateSetMetricFamily, family).add_metric(labels, current)
            elif not isinstance(value, str):
                if family is None:
                    family = GaugeMetricFamily(gauge.metric, gauge.help, labels=names)
                cast(GaugeMetricFamily, family).add_metric(labels, value * gauge.scale)
        if family is not None:
            families.append(family)
    if command.settings and record.settings:
        families += settings_families(command.settings, record.settings)
    return families


def settings_families(names: Sequence[str], settings: Sequence[Setting]) -> list[Metric]:
    """Each setting by its own type (SPEC 6b): a checkbox 0/1, a quantity its number, any
    other type an info series carrying the value."""
    enabled, value, info = (
        GaugeMetricFamily(name, help_text, labels=labels)
        for name, help_text, labels in zip(
            names,
            (
                "1 if the service's checkbox setting is set (CHAOS options).",
                "The service's quantity setting (CHAOS options).",
                "Always 1; the service's setting and its value (CHAOS options).",
            ),
            (["setting"], ["setting"], ["setting", "value"]),
            strict=True,
        )
    )
    for setting in settings:
        if setting.type == "checkbox":
            enabled.add_metric([setting.name], float(setting.value))
        elif setting.type == "quantity":
            number = parse_number(setting.value)
            if number is not None:
                value.add_metric([setting.name], number)
        else:
            info.add_metric([setting.name, setting.value], 1)
    return [family for family in (enabled, value, info) if family.samples]


def _info_family(
    command: Command, record: LineRecord, rows: Sequence[Mapping[str, FieldValue]]
) -> Metric | None:
    """The always-1 info metric: the key (not for an account-level table, whose entries are
    not the target's), the text labels, and the command's labels."""
    info = command.info
    assert info is not None
    keyed = command.entries != "all"
    family = GaugeMetricFamily(
        info.metric,
        info.help,
        labels=[*([info.key_label] if keyed else []), *info.labels, *command.labels],
    )
    for values in rows:
        texts = [values.get(name) for name in info.labels]
        # Only an entry that carries some text label gets the series, so it never flips
        # between label sets as lines with and without data are scraped.
        if texts and all(text is None for text in texts):
            continue
        family.add_metric(
            [
                *([record.line_id] if keyed else []),
                *(_label_value(text) for text in texts),
                *(_label_value(values.get(name)) for name in command.labels),
            ],
            1,
        )
    return family if family.samples else None


def _label_value(value: FieldValue | None) -> str:
    return "" if value is None else str(value)


def summary_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that say how it went; the same values give the same text.

    A failed module also has ``aaisp_probe_module_failure_info{module,kind} 1``, one series
    whatever the number of its failed commands (``ModuleResult.failure_kind`` chooses); with
    no failed module the family is left out.
    """
    module_success = GaugeMetricFamily(
        "aaisp_probe_module_success",
        "1 if the module got CHAOS data for the line.",
        labels=["module"],
    )
    failure_info = GaugeMetricFamily(
        "aaisp_probe_module_failure_info",
        "Always 1, for each module that failed; kind says why (docs/troubleshooting.md).",
        labels=["module", "kind"],
    )
    for name, success, kind in result.module_states:
        module_success.add_metric([name], int(success))
        if not success and kind is not None:
            failure_info.add_metric([name, kind.value], 1)
    families: list[Metric] = [
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
    if failure_info.samples:
        families.append(failure_info)
    return families


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


def timing_text(result: ProbeResult, fmt: Format) -> bytes:
    """``encode(timing_families(result), fmt)`` without making the families: the one part of
    a cached probe's answer that is new every time. ``tests/probe/test_metrics.py`` holds the
    two to equal."""
    if not fmt.written_here:
        return encode(timing_families(result), fmt)
    openmetrics = fmt.openmetrics
    parts = [
        head(_DURATION.name, _DURATION.documentation, openmetrics),
        gauge_line(_DURATION.name, result.duration),
        head(_DATA_AGE.name, _DATA_AGE.documentation, openmetrics),
    ]
    for module in result.modules:
        age = module.data_age
        if age is not None:
            parts.append(gauge_line(_DATA_AGE.name, age, "module", module.name))
    return "".join(parts).encode()


def _fresh(empty: GaugeMetricFamily, samples: list[Sample]) -> GaugeMetricFamily:
    """A new family like ``empty`` with these samples: what GaugeMetricFamily's constructor
    and ``add_metric`` make, without checking the same name again on every probe.
    ``tests/probe/test_metrics.py`` holds the two to equal."""
    family = GaugeMetricFamily.__new__(GaugeMetricFamily)
    family.__dict__.update(empty.__dict__)
    family.samples = samples
    return family


def render_result(
    result: ProbeResult,
    fmt: Format = TEXT,
    summaries: SummaryTexts | None = None,
    lines: RenderedLines | None = None,
) -> bytes:
    """The probe's answer in the format the scraper asked for (text by default).

    The probe's gauges come from registries made for this request. Those that only say
    how it went (success, timeout, per-module success and failure kind) repeat from probe to
    probe, so their text is kept per set of values in ``summaries``; the line's series are
    rendered once per reply and format in ``lines``.
    """
    key = (fmt.content_type, result.timeout, result.module_states)  # success follows
    summary = summaries.get(key) if summaries is not None else None
    if summary is None:
        summary = encode(summary_families(result), fmt)
        if summaries is not None:
            summaries.put(key, summary)
    parts = [summary, timing_text(result, fmt)]
    for command_result in result.records:
        if lines is not None:  # the row is parsed only when its series are not kept yet
            parts.append(lines.text(command_result, fmt))
            continue
        record = command_result.record
        assert record is not None
        parts.append(encode(line_families(command_result.command, record), fmt))
    if fmt.openmetrics:
        parts.append(EOF)
    return b"".join(parts)


def exposition_text(result: ProbeResult) -> str:
    """The text format, for the debug answer and ``/logs``."""
    return render_result(result).decode()
