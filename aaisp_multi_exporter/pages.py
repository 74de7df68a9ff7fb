"""What a person sees in a browser: the landing page and the ``/logs`` answers.

Pure functions over the configuration and the history, so they can be tested without a
server. Every value is HTML-escaped, nothing is loaded from elsewhere, no JavaScript runs,
and every link is relative so the pages work behind a reverse proxy's path prefix.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.config import Config
from aaisp_multi_exporter.history import ProbeHistory, ProbeRecord
from aaisp_multi_exporter.params import QueryLike, echo

#: ``params.TARGET_PATTERN`` for the browser, so it can say what is wrong before sending;
#: the ``-`` is escaped because browsers compile ``pattern`` in the strict ``v`` mode.
HTML_TARGET_PATTERN = r"[A-Za-z0-9+._@\-]{1,64}"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.success { color: #17692a; font-weight: bold; }
.failure { color: #b00020; font-weight: bold; }
form label { display: inline-block; margin: 0 1em 0.5em 0; }
input[name=target] { width: 16em; }
code { background: #f3f3f3; padding: 0 0.2em; }
.muted { color: #666; }
"""


@dataclass(frozen=True, slots=True)
class TextAnswer:
    status: int
    text: str


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _options(names: Sequence[str], *, empty: str | None = None) -> str:
    first = f'<option value="">{escape(empty)}</option>' if empty is not None else ""
    return first + "".join(
        f'<option value="{escape(name)}">{escape(name)}</option>' for name in names
    )


def _default_auth(config: Config, named: str | None) -> str:
    """Which credential set a probe without ``auth=`` uses (params.choose_auth's rule)."""
    if named:
        return named
    if len(config.auths) == 1:
        return next(iter(config.auths))
    return "(none: choose one)"


def _configuration(config: Config | None) -> str:
    if config is None:
        return '<p class="failure">No valid configuration is loaded.</p>'
    rows = "".join(
        "<tr>"
        f"<td>{escape(module.name)}</td>"
        f"<td>{escape(', '.join(module.commands))}</td>"
        f"<td>{escape(module.scope)}</td>"
        f"<td>{escape(_default_auth(config, module.auth))}</td>"
        "</tr>"
        for module in config.modules.values()
    )
    auths = ", ".join(f"<code>{escape(name)}</code>" for name in config.auths) or "(none)"
    return (
        "<h2>Modules</h2>\n<table>\n"
        "<tr><th>Module</th><th>CHAOS commands</th><th>Scope</th><th>Default auth</th></tr>\n"
        f"{rows}\n</table>\n"
        f"<p>Credential sets: {auths}</p>\n"
    )


def _probe_form(config: Config | None) -> str:
    if config is None:
        return ""
    modules = _options(list(config.modules))
    auths = _options(list(config.auths), empty="(module default)")
    pattern = escape(HTML_TARGET_PATTERN)
    return f"""<h2>Probe a line</h2>
<form action="probe" method="get">
<label>Target <input name="target" required maxlength="64" pattern="{pattern}"
 placeholder="line ID or phone number"></label>
<label>Module <select name="module">{modules}</select></label>
<label>Auth <select name="auth">{auths}</select></label>
<label><input type="checkbox" name="debug" value="true"> Debug</label>
<button type="submit">Probe</button>
</form>
"""


def _probe_row(record: ProbeRecord) -> str:
    result = (
        '<td class="success">Success</td>' if record.success else '<td class="failure">Failure</td>'
    )
    return (
        f"<tr><td>{escape(_when(record.time))}</td><td>{escape(record.module)}</td>"
        f"<td>{escape(record.target)}</td><td>{escape(record.auth)}</td>{result}"
        f'<td class="num">{record.duration:.3f} s</td>'
        f'<td><a href="logs?id={record.id}">Logs</a></td></tr>\n'
    )


def _recent(records: Sequence[ProbeRecord], limit: int) -> str:
    kept = (
        f"The last {limit} probes are kept, and up to {limit} older failures."
        if limit
        else "Probe history is off (<code>--history.limit=0</code>)."
    )
    if not records:
        return f'<h2>Recent probes</h2>\n<p class="muted">No probes yet. {kept}</p>\n'
    rows = "".join(_probe_row(record) for record in records)
    return (
        "<h2>Recent probes</h2>\n<table>\n"
        "<tr><th>Time (UTC)</th><th>Module</th><th>Target</th><th>Auth</th>"
        "<th>Result</th><th>Duration</th><th>Debug</th></tr>\n"
        f'{rows}</table>\n<p class="muted">{kept}</p>\n'
    )


def render_landing(
    config: Config | None,
    records: Sequence[ProbeRecord],
    *,
    history_limit: int,
    version: str = __version__,
) -> str:
    """The whole landing page; ``records`` newest first."""
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
<p>Version {escape(version)} on Python {escape(platform.python_version())}.
A multi-target Prometheus exporter for Andrews &amp; Arnold broadband lines, read through
the CHAOS v2 API.</p>
<p>
<a href="metrics">Metrics</a> &middot;
<a href="config">Configuration</a> &middot;
<a href="discover">Service discovery</a> &middot;
<a href="health">Health</a>
</p>
{_configuration(config)}
{_probe_form(config)}
{_recent(records, history_limit)}
</body>
</html>
"""


def _single(query: QueryLike, name: str) -> str | None:
    """An empty value counts as absent, as in blackbox_exporter and HTML forms."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise _Refused(f'parameter "{name}" may be given at most once')
    return values[0] if values and values[0] else None


class _Refused(Exception):
    pass


def logs_answer(query: QueryLike, history: ProbeHistory) -> TextAnswer:
    """``/logs?id=N`` or ``/logs?target=T[&module=M]``, with blackbox_exporter's 400/404 rules."""
    try:
        probe_id = _single(query, "id")
        target = _single(query, "target")
        module = _single(query, "module")
    except _Refused as refused:
        return TextAnswer(400, str(refused))
    if probe_id is not None and target is not None:
        return TextAnswer(400, 'give "id" or "target", not both')
    if module is not None and target is None:
        return TextAnswer(400, 'parameter "module" needs "target"')
    if probe_id is None and target is None:
        return TextAnswer(400, 'parameter "id" or "target" is required')
    kept = (
        f"the history keeps the last {history.limit} probes and up to {history.limit} "
        "older failures"
    )
    if probe_id is not None:
        if not probe_id.isascii() or not probe_id.isdigit():
            return TextAnswer(400, f"invalid id {echo(probe_id)}: want a probe number")
        record = history.by_id(int(probe_id))
        if record is None:
            return TextAnswer(404, f"no probe with id {int(probe_id)}; {kept}")
        return TextAnswer(200, record.debug_text)
    found = history.latest(target or "", module)
    if found is None:
        which = f" with module {echo(module)}" if module else ""
        return TextAnswer(404, f"no probe of target {echo(target or '')}{which}; {kept}")
    return TextAnswer(200, found.debug_text)
