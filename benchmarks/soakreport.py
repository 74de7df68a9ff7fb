"""What ``make soak`` reads and decides: the exporter's log, its memory and descriptors, the
verdict and the Markdown summary. Pure functions of what was measured, so the rules that fail
a soak are tested without running one (``tests/test_benchmarks.py``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.openloop import percentile
from benchmarks.soakclients import EXAMPLES, Tally

#: Growth allowed from the end of warm-up (the first window, measured at rest) to the end (at
#: rest): benchmarks/README.md, "make soak", says why these.
RSS_GROWTH_MB = 50.0
RSS_FACTOR = 2.0
FD_GROWTH = 50


@dataclass
class LogCounts:
    """The exporter's log so far: lines, by level, tracebacks, and the commonest messages."""

    lines: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    tracebacks: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    traceback_examples: list[str] = field(default_factory=list)
    _partial: str = ""

    def feed(self, text: str) -> None:
        """Count the complete lines of ``text`` (the rest waits for the next call). A line is
        a JSON log document (``--log.format json``); anything else is counted as ``raw``, and
        a raw ``Traceback`` line or a document with ``exception`` is a traceback."""
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            if not line.strip():
                continue
            self.lines += 1
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            if not isinstance(document, dict):
                self.levels["raw"] += 1
                if line.startswith("Traceback"):
                    self._traceback(line)
                continue
            level = str(document.get("level", "?"))
            self.levels[level] += 1
            if level in ("warning", "error", "critical"):
                self.messages[f"{level}: {document.get('msg', '')}"[:160]] += 1
            if "exception" in document:
                last = str(document["exception"]).strip().splitlines()[-1:]
                self._traceback(f"{document.get('msg', '')}: {' '.join(last)}")

    def _traceback(self, summary: str) -> None:
        self.tracebacks += 1
        if len(self.traceback_examples) < EXAMPLES:
            self.traceback_examples.append(summary[:300])


@dataclass(frozen=True)
class Sample:
    """The exporter at one moment: memory (MB), open descriptors, its log so far."""

    seconds: float
    rss_mb: float
    hwm_mb: float
    fds: int
    log_lines: int
    tracebacks: int


@dataclass
class Window:
    """One row of the report: what was sent in it, and the exporter at its end."""

    label: str
    sample: Sample
    tally: Tally = field(default_factory=Tally)


def merged(windows: list[Window]) -> Tally:
    total = Tally()
    for window in windows:
        tally = window.tally
        total.answers.update(tally.answers)
        total.latencies.extend(tally.latencies)
        total.failures.update(tally.failures)
        total.reloads.update(tally.reloads)
        total.slow.update(tally.slow)
        for reason, kept in tally.examples.items():
            total.examples.setdefault(reason, []).extend(kept)
    return total


def verdict(
    windows: list[Window], baseline: Sample, log: LogCounts, problems: Sequence[str] = ()
) -> list[str]:
    """Why the soak failed, one reason a line; empty when it passed. ``baseline`` is the
    exporter at rest after warm-up; ``windows[-1]`` ends at rest after the load stopped."""
    reasons = list(problems)
    total = merged(windows)
    for reason, count in total.failures.most_common():
        example = total.examples.get(reason, [""])[0]
        reasons.append(f"{count:,} x {reason}; first: {example}")
    if log.tracebacks:
        first = log.traceback_examples[0] if log.traceback_examples else ""
        reasons.append(f"{log.tracebacks:,} tracebacks in the exporter's log; first: {first}")
    end = windows[-1].sample
    growth = end.rss_mb - baseline.rss_mb
    if growth > RSS_GROWTH_MB or end.rss_mb > RSS_FACTOR * baseline.rss_mb:
        reasons.append(
            f"RSS grew from {baseline.rss_mb:.1f} MB after warm-up to {end.rss_mb:.1f} MB "
            f"(bound: +{RSS_GROWTH_MB:.0f} MB and x{RSS_FACTOR})"
        )
    if end.fds - baseline.fds > FD_GROWTH:
        reasons.append(
            f"open descriptors grew from {baseline.fds} after warm-up to {end.fds} "
            f"(bound: +{FD_GROWTH})"
        )
    return reasons


def _outcome_class(outcome: str) -> str:
    return f"{outcome[0]}xx" if outcome.isdigit() else outcome


STEADY_COLUMNS = ("2xx", "4xx", "5xx", "closed", "timeout")


def row(window: Window) -> list[str]:
    """The figures of one window as table cells."""
    tally, sample = window.tally, window.sample
    steady: Counter[str] = Counter()
    hostile = 0
    for (kind, outcome), count in tally.answers.items():
        if kind.startswith("hostile"):
            hostile += count
        else:
            steady[_outcome_class(outcome)] += count
    ordered = sorted(tally.latencies)
    ms = [f"{1000 * percentile(ordered, p):.0f}" if ordered else "—" for p in (50, 99)]
    ms.append(f"{1000 * ordered[-1]:.0f}" if ordered else "—")
    reloads = "/".join(str(tally.reloads[key]) for key in ("accepted", "refused", "wrong"))
    return [
        window.label,
        f"{sample.seconds:.0f}",
        *(f"{steady[key]:,}" for key in STEADY_COLUMNS),
        f"{sum(tally.failures.values()):,}",
        *ms,
        reloads,
        f"{hostile:,}",
        f"{sample.rss_mb:.1f}",
        str(sample.fds),
        f"{sample.log_lines:,}",
        f"{sample.tracebacks:,}",
    ]


HEADER = (
    "window",
    "at s",
    *STEADY_COLUMNS,
    "failed",
    "probe p50 ms",
    "probe p99 ms",
    "max ms",
    "reloads ok/refused/wrong",
    "hostile",
    "RSS MB",
    "fds",
    "log lines",
    "tracebacks",
)


def table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(cells) + " |" for cells in rows)])


def render(
    settings: dict[str, str],
    start: Sample,
    windows: list[Window],
    baseline: Sample,
    log: LogCounts,
    reasons: list[str],
) -> str:
    """The Markdown summary: verdict, settings, the windows, answers by kind, the log."""
    total = merged(windows)
    status = "PASS" if not reasons else "FAIL"
    out = [f"## Soak: {settings.get('seconds', '?')} s, {status}", ""]
    out += [f"- {reason}" for reason in reasons] or ["Every check held."]
    out += ["", table(["setting", "value"], [[k, v] for k, v in settings.items()]), ""]
    rows = [
        row(Window("start", start)),
        *(row(w) for w in windows),
        row(Window("total", windows[-1].sample, total)),
    ]
    out += [
        "Steady requests by status (5xx includes the 503 SPEC gives `/discover?auth=` while "
        "a credential set has never answered); failed: requests and reloads that broke a "
        "rule; probe latency from send to last byte; the exporter's RSS, descriptors and "
        "log at each window's end (window 1 is warm-up; its end and the last are measured at "
        f"rest). After warm-up: {baseline.rss_mb:.1f} MB, {baseline.fds} fds; peak RSS "
        f"{windows[-1].sample.hwm_mb:.1f} MB.",
        "",
        table(HEADER, rows),
        "",
    ]
    by_kind: dict[str, Counter[str]] = {}
    for (kind, outcome), count in total.answers.items():
        by_kind.setdefault(kind, Counter())[outcome] += count
    answer_rows = [
        [kind, f"{sum(c.values()):,}", ", ".join(f"{o}: {n:,}" for o, n in sorted(c.items()))]
        for kind, c in sorted(by_kind.items())
    ]
    out += [table(["request", "sent", "answers"], answer_rows), ""]
    slow = ", ".join(f"{k}: {v:,}" for k, v in sorted(total.slow.items())) or "none"
    out += [f"Slow connections: {slow}.", ""]
    levels = ", ".join(f"{k}: {v:,}" for k, v in sorted(log.levels.items())) or "none"
    out += [f"Exporter log: {log.lines:,} lines ({levels}); {log.tracebacks:,} tracebacks."]
    if log.messages:
        out += [
            "",
            table(
                ["warning or error", "lines"],
                [[m.replace("|", "\\|"), f"{n:,}"] for m, n in log.messages.most_common(8)],
            ),
        ]
    return "\n".join(out) + "\n"
