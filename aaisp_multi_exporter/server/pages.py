"""What a person sees in a browser: the landing page and the ``/logs`` answers.

Pure functions over the configuration and the history, so they can be tested without a
server. Every value is HTML-escaped, nothing is loaded from elsewhere, no JavaScript runs,
and every link is relative so the pages work behind a reverse proxy's path prefix.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.config import Config, builtin_declarations
from aaisp_multi_exporter.probe.request import echo
from aaisp_multi_exporter.server.discovery import LeftOut
from aaisp_multi_exporter.server.failing import Failing, NotFound
from aaisp_multi_exporter.server.history import HistoryEntry
from aaisp_multi_exporter.server.rejections import Rejection

#: ``params.TARGET_PATTERN`` for the browser, so it can say what is wrong before sending;
#: the ``-`` is escaped because browsers compile ``pattern`` in the strict ``v`` mode.
HTML_TARGET_PATTERN = r"[A-Za-z0-9+._@\-]{1,64}"
#: Rows of the failing-now table; the rest is counted. A page of a thousand identical
#: outage rows helps nobody, and the newest show the outage's shape.
FAILING_SHOWN = 100
#: Targets named in a not-found group's row.
GROUP_TARGETS_SHOWN = 5
#: Rows of each recent-probes table before the rest is folded into a ``<details>``.
PROBES_SHOWN = 20

# Tables scroll inside their own box, so the page itself never scrolls sideways on a phone; a
# shadow at a box's edge says there is more (background-attachment: local, no script).
# Free-text cells wrap, even inside a long word, instead of widening a table without end. On a
# phone the two tables that say what is wrong become one card per row, readable at a glance.
STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 70em;
       padding: 0.5em 1em 2em; color: #222; background: #fff; line-height: 1.4;
       overflow-wrap: break-word; }
h1 { font-size: 1.5em; margin: 0.5em 0 0.1em; }
h2 { font-size: 1.15em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #ddd; }
h2 .count { color: #666; font-weight: normal; }
.scroll { overflow-x: auto; margin: 0.3em 0 0.6em;
  background:
    linear-gradient(to right, #fff 30%, #fff0) left / 2em 100% no-repeat local,
    linear-gradient(to left, #fff 30%, #fff0) right / 2em 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, #0003, #0000) left / 0.7em 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, #0003, #0000) right / 0.7em 100% no-repeat scroll;
}
table { border-collapse: collapse; font-size: 0.95em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.3em 0.8em 0.3em 0; text-align: left;
         vertical-align: top; white-space: nowrap; }
th { color: #555; font-weight: 600; }
td.text { white-space: normal; min-width: 16em; max-width: 44em; overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.failing td.text { color: #8a1020; }
.ok { color: #17692a; }
.bad { color: #b00020; }
.muted { color: #666; font-size: 0.92em; }
form { display: flex; flex-wrap: wrap; gap: 0.8em 1.4em; align-items: flex-start; }
form > .check, form > button { align-self: flex-end; }
.field { display: flex; flex-direction: column; gap: 0.15em; }
.field > span:first-child { font-size: 0.92em; color: #555; }
.choices { display: flex; flex-wrap: wrap; gap: 0 1em; min-height: 1.9em; align-items: center; }
label.check { display: inline-flex; align-items: center; gap: 0.3em; min-height: 1.9em; }
input[name=target] { width: 15em; max-width: 100%; font: inherit; padding: 0.15em 0.3em; }
input[name=target], select { min-height: 1.9em; }
select, button { font: inherit; }
code { background: #f3f3f3; padding: 0 0.2em; }
summary { color: #555; cursor: pointer; margin: 0.2em 0 0.6em; }
@media (max-width: 40em) {
  table.cards, table.cards tbody { display: block; }
  table.cards thead { display: none; }
  table.cards tr { display: flex; flex-wrap: wrap; gap: 0 0.9em; padding: 0.45em 0;
                   border-bottom: 1px solid #e4e4e4; }
  table.cards td { border: 0; padding: 0; order: 1; }
  table.cards td.key { order: -2; font-weight: 600; }
  table.cards td.head { order: -1; }
  table.cards td.text { order: 0; flex-basis: 100%; min-width: 0; max-width: none; }
  table.cards td.label::before { content: attr(data-label) " "; color: #666; }
}
"""

#: A table cell: its HTML, or its HTML and CSS classes.
Cell = str | tuple[str, str]


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float) -> str:
    """A duration as a person reads it: two units at most, ``2 h 5 min``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _ago(unix: float, now: float) -> str:
    """The age, with the exact UTC time on hover."""
    return f'<span title="{_when(unix)} UTC">{age(now - unix)} ago</span>'


def _td(label: str, cell: Cell) -> str:
    """``data-label`` names the column for the phone layout, where the header is hidden."""
    html, css = (cell, "") if isinstance(cell, str) else cell
    classes = f' class="{css}"' if css else ""
    return f'<td data-label="{escape(label)}"{classes}>{html}</td>'


def _table(head: Sequence[str], rows: Sequence[Sequence[Cell]], css: str = "") -> str:
    classes = f' class="{css}"' if css else ""
    header = "".join(f"<th>{escape(name)}</th>" for name in head)
    body = "".join(
        "<tr>" + "".join(_td(name, cell) for name, cell in zip(head, row, strict=True)) + "</tr>\n"
        for row in rows
    )
    return (
        f'<div class="scroll"><table{classes}>\n<thead><tr>{header}</tr></thead>\n'
        f"<tbody>\n{body}</tbody></table></div>\n"
    )


def _heading(title: str, count: int | None = None) -> str:
    shown = f' <span class="count">({count})</span>' if count else ""
    return f"<h2>{escape(title)}{shown}</h2>\n"


def _default_auth(config: Config, named: str | None) -> str:
    """Which credential set a probe without ``auth=`` uses (params.choose_auth's rule)."""
    if named:
        return named
    if len(config.auths) == 1:
        return next(iter(config.auths))
    return "(none: choose one)"


def _command_names(commands: Sequence[str]) -> list[str]:
    """A declared command says so: it is the configuration's, not the exporter's."""
    builtin = builtin_declarations()
    return [name if name in builtin else f"{name} (declared)" for name in commands]


def _configuration(config: Config | None) -> str:
    if config is None:
        return '<p class="bad">No valid configuration is loaded.</p>\n'
    rows = [
        [
            escape(module.name),
            escape(", ".join(_command_names(module.commands))),
            escape(module.scope),
            escape(_default_auth(config, module.auth)),
        ]
        for module in config.modules.values()
    ]
    auths = ", ".join(f"<code>{escape(name)}</code>" for name in config.auths) or "(none)"
    return (
        _heading("Modules")
        + _table(["Module", "CHAOS commands", "Scope", "Default auth"], rows)
        + f"<p>Credential sets: {auths}</p>\n"
    )


def _probe_form(config: Config | None) -> str:
    """Modules are checkboxes: several can be probed together (``module=a&module=b``), with
    no Ctrl-click to discover as in a ``<select multiple>``."""
    if config is None:
        return ""
    modules = "".join(
        f'<label class="check"><input type="checkbox" name="module" value="{escape(name)}"'
        f"{' checked' if index == 0 else ''}> {escape(name)}</label>"
        for index, name in enumerate(config.modules)
    )
    auths = '<option value="">(module default)</option>' + "".join(
        f'<option value="{escape(name)}">{escape(name)}</option>' for name in config.auths
    )
    pattern = escape(HTML_TARGET_PATTERN)
    return f"""{_heading("Probe a line")}<form action="probe" method="get">
<label class="field"><span>Target</span><input name="target" required maxlength="64"
 pattern="{pattern}" placeholder="line ID or phone number"></label>
<div class="field" role="group" aria-labelledby="modules-label">
<span id="modules-label">Modules</span><div class="choices">{modules}</div></div>
<label class="field"><span>Auth</span><select name="auth">{auths}</select></label>
<label class="check"><input type="checkbox" name="debug" value="true"> Debug output</label>
<button type="submit">Probe</button>
</form>
"""


def _failing_row(entry: Failing, now: float) -> list[Cell]:
    key = entry.key
    return [
        (escape(key.target), "key"),
        (escape(key.module), "label head"),
        (escape(key.auth), "label head"),
        (escape(entry.reason), "text"),
        (_ago(entry.since, now), "label"),
        (str(entry.failures), "label num"),
        (_ago(entry.last, now), "label"),
        f'<a href="logs?id={entry.probe_id}">Logs</a>',
    ]


def _not_found_row(group: NotFound, now: float) -> list[Cell]:
    """One row for the targets of a module and credential set that CHAOS does not list;
    a group of one is that target's own row."""
    if group.target_count == 1 and not group.forgotten.drops:
        return _failing_row(group.entries[0], now)
    latest = ", ".join(entry.key.target for entry in group.entries[:GROUP_TARGETS_SHOWN])
    more = "+" if group.forgotten.drops else ""
    reason = f'not found in CHAOS\'s answer for auth "{group.auth}"; latest: {latest}'
    return [
        (escape(f"{group.target_count}{more} targets"), "key"),
        (escape(group.module), "label head"),
        (escape(group.auth), "label head"),
        (escape(reason), "text"),
        (_ago(group.since, now), "label"),
        (str(group.failures), "label num"),
        (_ago(group.last, now), "label"),
        f'<a href="logs?id={group.entries[0].probe_id}">Logs</a>',
    ]


def _failing_now(
    failing: Sequence[Failing],
    probed: bool,
    history_limit: int,
    now: float,
    not_found: Sequence[NotFound] = (),
) -> str:
    if not history_limit:
        return (
            _heading("Failing now")
            + '<p class="muted">Not tracked: probe history is off (<code>--history.limit=0</code>).'
            "</p>\n"
        )
    if not failing and not not_found:
        said = (
            "Nothing: the latest probe of every line, module and credential set succeeded."
            if probed
            else "Nothing probed yet."
        )
        return _heading("Failing now") + f'<p class="ok">{said}</p>\n'
    shown = failing[:FAILING_SHOWN]
    more = (
        f"Showing the {len(shown)} that failed most recently of {len(failing)}. "
        if len(failing) > len(shown)
        else ""
    )
    grouped = (
        " Targets that CHAOS's answer does not list share one row per module and credential set."
        if any(group.target_count > 1 for group in not_found)
        else ""
    )
    # Most recently failed first, the groups among the rest.
    dated = [(entry.last, _failing_row(entry, now)) for entry in shown]
    dated += [(group.last, _not_found_row(group, now)) for group in not_found]
    rows = [row for _, row in sorted(dated, key=lambda pair: -pair[0])]
    count = len(failing) + sum(group.target_count for group in not_found)
    return (
        _heading("Failing now", count)
        + _table(
            [
                "Target",
                "Module",
                "Auth",
                "Reason",
                "First failure",
                "Failures",
                "Last failure",
                "Debug",
            ],
            rows,
            "failing cards",
        )
        + f'<p class="muted">{more}Each line, module and credential set whose latest probe '
        f"failed; it leaves this list when a probe of it succeeds.{grouped}</p>\n"
    )


def _rejection_row(rejection: Rejection, now: float) -> list[Cell]:
    return [
        (_ago(rejection.last_seen, now), "label"),
        (str(rejection.count), "label num"),
        (escape(rejection.path), "key"),
        (escape(rejection.reason), "key"),
        (escape(rejection.message), "text"),
    ]


def _rejected(rejections: Sequence[Rejection], now: float) -> str:
    if not rejections:
        return (
            _heading("Rejected requests")
            + '<p class="muted">None since the exporter started.</p>\n'
        )
    return (
        _heading("Rejected requests", sum(rejection.count for rejection in rejections))
        + _table(
            ["Last seen", "Count", "Path", "Reason", "Answer"],
            [_rejection_row(rejection, now) for rejection in rejections],
            "cards",
        )
        + '<p class="muted">Requests refused with an error, most recently seen first, each'
        " also logged at warning level: a Prometheus job with a wrong <code>module</code> or"
        " <code>auth</code> shows here.</p>\n"
    )


def _left_out(notes: Sequence[LeftOut], now: float) -> str:
    """Keys discovery leaves out; shown only when there are some."""
    if not notes:
        return ""
    rows: list[list[Cell]] = [
        [escape(note.auth), escape(note.command), (f"{note.count:,}", "num"),
         (escape(", ".join(echo(key) for key in note.examples)), "text"), _ago(note.at, now)]
        for note in notes
    ]  # fmt: skip
    return (
        _heading("Left out of discovery", sum(note.count for note in notes))
        + _table(["Auth", "Command", "Keys", "For example", "Reply of"], rows, "cards")
        + '<p class="muted">Keys CHAOS lists that <code>/probe</code> refuses as targets (1 to'
        " 64 characters of A-Z a-z 0-9 + . _ @ -): <code>/discover</code> leaves them out.</p>\n"
    )


def _reason_text(entry: HistoryEntry) -> str:
    """One line per module; the module is named only when the probe had several."""
    several = len(entry.modules) > 1
    return "<br>".join(
        escape(f"{module}: {reason}" if several else reason) for module, reason in entry.reasons
    )


def _probe_row(entry: HistoryEntry, with_reason: bool) -> list[Cell]:
    reason: list[Cell] = [(_reason_text(entry), "text")] if with_reason else []
    return [
        (escape(_when(entry.time)), "label"),
        (escape(entry.module), "label head"),
        (escape(entry.target), "key"),
        (escape(entry.auth), "label head"),
        *reason,
        (f"{entry.duration:.3f} s", "num"),
        f'<a href="logs?id={entry.id}">Logs</a>',
    ]


def _probe_table(title: str, entries: Sequence[HistoryEntry], empty: str) -> str:
    """The newest rows, and the rest folded away: they matter less the older they are.

    A table with reasons becomes cards on a phone, where the reason would otherwise sit in a
    column off the screen.
    """
    if not entries:
        return _heading(title) + f'<p class="muted">{empty}</p>\n'
    with_reason = any(entry.reasons for entry in entries)
    head = ["Time (UTC)", "Module", "Target", "Auth"]
    head += ["Reason"] if with_reason else []
    head += ["Duration", "Debug"]
    css = "cards" if with_reason else ""
    shown, older = entries[:PROBES_SHOWN], entries[PROBES_SHOWN:]
    html = _heading(title, len(entries)) + _table(
        head, [_probe_row(entry, with_reason) for entry in shown], css
    )
    if older:
        rows = [_probe_row(entry, with_reason) for entry in older]
        html += (
            f"<details><summary>{len(older)} older</summary>\n{_table(head, rows, css)}</details>\n"
        )
    return html


def _recent(entries: Sequence[HistoryEntry], limit: int) -> str:
    if not limit:
        return (
            _heading("Recent probes")
            + '<p class="muted">Probe history is off (<code>--history.limit=0</code>).</p>\n'
        )
    failed = [entry for entry in entries if not entry.success]
    succeeded = [entry for entry in entries if entry.success]
    return (
        _probe_table("Recent failed probes", failed, "None kept.")
        + _probe_table("Recent successful probes", succeeded, "None kept.")
        + f'<p class="muted">The last {limit} probes are kept, and up to {limit} older'
        " failures.</p>\n"
    )


def render_landing(
    config: Config | None,
    entries: Sequence[HistoryEntry],
    *,
    history_limit: int,
    failing: Sequence[Failing] = (),
    not_found: Sequence[NotFound] = (),
    rejections: Sequence[Rejection] = (),
    left_out: Sequence[LeftOut] = (),
    now: float | None = None,
    version: str = __version__,
) -> str:
    """The whole landing page: what is failing first, then what was refused, then the rest.

    ``entries`` newest first, ``failing`` and ``rejections`` most recent first.
    """
    now = time.time() if now is None else now
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AAISP Multi Exporter</title>
<style>{STYLE}</style>
</head>
<body>
<h1>AAISP Multi Exporter</h1>
<p class="muted">Version {escape(version)} on Python {escape(platform.python_version())}:
a multi-target Prometheus exporter for Andrews &amp; Arnold broadband lines, read through
the CHAOS v2 API.</p>
<p>
<a href="metrics">Metrics</a> &middot;
<a href="config">Configuration</a> &middot;
<a href="discover">Service discovery</a> &middot;
<a href="health">Health</a>
</p>
{_failing_now(failing, bool(entries), history_limit, now, not_found)}
{_rejected(rejections, now)}
{_left_out(left_out, now)}{_probe_form(config)}
{_recent(entries, history_limit)}
{_configuration(config)}
</body>
</html>
"""
