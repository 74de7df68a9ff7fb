"""A probe's answer: the result goes in, the bytes in the negotiated format come out.

The one entry is ``Renderer.render``. It asks ``probe.metrics`` for families (pure mapping)
and ``probe.exposition`` for their bytes; neither calls the other or comes back here. The
renderer owns what is kept between probes: a line's series per reply (``RenderedLines``,
which goes with the reply) and the summary gauges per set of values (``SummaryTexts``).
"""

from __future__ import annotations

import weakref

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.records import LineRecord
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.probe.exposition import (
    EOF,
    TEXT,
    Format,
    encode,
    gauge_line,
    head,
    write_samples,
)
from aaisp_multi_exporter.probe.metrics import (
    DATA_AGE,
    DURATION,
    family_heads,
    line_families,
    summary_families,
    timing_families,
)
from aaisp_multi_exporter.probe.results import CommandResult, ProbeResult

#: Templates kept: a few per command (formats times which families a line fills); when
#: reloads that change declarations have filled it, it starts afresh.
MAX_TEMPLATES = 1024


class Renderer:
    """Renders probe results, keeping what repeats from probe to probe.

    One per process: its caches are keyed by the command's declaration (``Command.digest``)
    and by reply, never by name, so a reload needs no new one.
    """

    def __init__(self) -> None:
        self.summaries = SummaryTexts()
        self.lines = RenderedLines()

    def render(self, result: ProbeResult, fmt: Format = TEXT) -> bytes:
        """The probe's answer in ``fmt``: summary gauges (kept per set of values), timing
        gauges (new every time), each line's series (kept per reply and format)."""
        key = (fmt.content_type, result.timeout, result.module_states)  # success follows
        summary = self.summaries.get(key)
        if summary is None:
            summary = encode(summary_families(result), fmt)
            self.summaries.put(key, summary)
        parts = [summary, timing_text(result, fmt)]
        lines = self.lines
        for command_result in result.command_results:  # a row is parsed only when not kept yet
            parts.append(lines.text(command_result, fmt))
        if fmt.openmetrics:
            parts.append(EOF)
        return b"".join(parts)


def exposition_text(result: ProbeResult) -> str:
    """The text format, kept nowhere: for the debug answer and ``/logs``."""
    parts = [encode(summary_families(result)), timing_text(result, TEXT)]
    for command_result in result.command_results:
        record = command_result.record
        assert record is not None
        parts.append(encode(line_families(command_result.command, record)))
    return b"".join(parts).decode()


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
                for index, (name, documentation) in enumerate(family_heads(command))
                if present >> index & 1
            ]
            template = "".join(part + "%b\n" for part in heads).encode()
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        return template

    def __len__(self) -> int:
        return sum(len(lines) for _, lines in self._by_reply.values())


def _samples(command: Command, record: LineRecord) -> tuple[int, bytes] | None:
    """The bits of the families the record fills, and their sample lines."""
    order = {name: index for index, (name, _) in enumerate(family_heads(command))}
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


def timing_text(result: ProbeResult, fmt: Format) -> bytes:
    """``encode(timing_families(result), fmt)`` without making the families: the one part of
    a cached probe's answer that is new every time. ``tests/probe/test_metrics.py`` holds the
    two to equal."""
    if not fmt.written_here:
        return encode(timing_families(result), fmt)
    openmetrics = fmt.openmetrics
    parts = [
        head(DURATION.name, DURATION.documentation, openmetrics),
        gauge_line(DURATION.name, result.duration),
        head(DATA_AGE.name, DATA_AGE.documentation, openmetrics),
    ]
    for module in result.modules:
        age = module.data_age
        if age is not None:
            parts.append(gauge_line(DATA_AGE.name, age, "module", module.name))
    return "".join(parts).encode()
