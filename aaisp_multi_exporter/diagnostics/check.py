"""``--chaos.check`` and ``--chaos.capture``: the first run against the real CHAOS API.

Until now the exporter has only talked to simulators, and CHAOS documents little (every field
optional, error texts unlisted). So before the first scrape a user can ask CHAOS once per
credential set and command, in account scope, and read what came back: answered or refused
(in CHAOS's own words), the lines and which documented fields they carry, fields the
exporter ignores, and the series a probe of the first line would export.

The calls take the probes' path: the exporter's session (``make_session``: User-Agent, TLS,
no cookies), the same URL, form fields and reply parser (``parse_reply``), and the real metric
mapping and renderer. It asks the client for one raw reply (``post_once``: status, charset,
body), without retries, because it needs the raw reply (for the field counts and the capture)
and must call each command only once.

The report is safe to paste into a bug report, like the capture: no password, and logins,
postcodes, phone numbers and addresses as the same placeholders the capture uses.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aaisp_multi_exporter.chaos.client import Session, http_failure, make_session, post_once
from aaisp_multi_exporter.chaos.commands import BUILTIN, Command, compile_commands
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.proxy import Proxy, choose_proxy
from aaisp_multi_exporter.chaos.records import LineIndex, LineRecord
from aaisp_multi_exporter.chaos.records import describe as describe_value
from aaisp_multi_exporter.chaos.replies import Reply, json_or_none, parse_reply, refusal
from aaisp_multi_exporter.chaos.shapes import members
from aaisp_multi_exporter.chaos.text import clean_text
from aaisp_multi_exporter.config import AuthConfig, Config, normalise_field
from aaisp_multi_exporter.diagnostics import suggest
from aaisp_multi_exporter.diagnostics.capture import (
    Category,
    Redactor,
    capture_name,
    make_private_dir,
    redacted_capture,
    write_private,
)
from aaisp_multi_exporter.probe.exposition import encode
from aaisp_multi_exporter.probe.metrics import line_families

#: One call may take this long; CHAOS listing thousands of lines takes seconds, not minutes.
CALL_TIMEOUT_SECONDS = 60.0
#: Line IDs listed per answer; the rest are counted.
SHOWN_IDS = 20

_HINTS = {
    Outcome.AUTH_ERROR: "check the credentials of [auths.{auth}]; the exporter never retries "
    "a refusal, so a wrong password is not sent again and again",
    Outcome.API_ERROR: "CHAOS refused the request; the text above is its own",
    Outcome.HTTP_ERROR: "CHAOS, or something in front of it, is failing; try again later and "
    "check [chaos] url",
    Outcome.TIMEOUT: "no answer in time; check [chaos] url, DNS, proxies and firewalls",
    Outcome.TRANSPORT_ERROR: "check [chaos] url, DNS, proxies and firewalls",
    Outcome.INVALID_RESPONSE: "the reply is not what the exporter expects; please report it "
    "with the file that --chaos.capture writes",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One CHAOS call of the check and what became of it."""

    auth: str
    command: str
    seconds: float
    outcome: Outcome
    problem: str | None = None
    body: bytes | None = None
    #: The charset the reply's ``Content-Type`` named, if any.
    charset: str | None = None
    document: object = None
    reply: Reply | None = None

    @property
    def answered(self) -> bool:
        return self.reply is not None

    @property
    def chaos_error(self) -> str | None:
        """CHAOS's own ``error`` text, when it refused (an empty ``error`` refuses nothing)."""
        if refusal(self.document) is None:
            return None
        assert isinstance(self.document, dict)
        error = self.document["error"]
        return clean_text(error) if isinstance(error, str) else describe_value(error)


async def call_chaos(
    session: Session,
    base_url: str,
    auth: AuthConfig,
    command: Command,
    *,
    limit_seconds: float = CALL_TIMEOUT_SECONDS,
    proxy: Proxy | None = None,
) -> Call:
    """POST ``command`` once for ``auth`` in account scope; never raises for CHAOS's sake."""
    started = time.perf_counter()
    name = command.name

    def done(outcome: Outcome, problem: str | None = None, **found: Any) -> Call:
        return Call(auth.name, name, time.perf_counter() - started, outcome, problem, **found)

    try:
        raw = await post_once(
            session, base_url, name, auth, proxy=proxy, timeout_seconds=limit_seconds
        )
    except ChaosError as error:
        return done(error.outcome, str(error))
    charset, body = raw.charset, raw.body
    document = json_or_none(body, charset)
    if not raw.ok:
        failure = http_failure(name, raw.status, body, charset, None, proxy)
        return done(failure.outcome, raw.status_line, body=body, charset=charset, document=document)
    try:
        reply = parse_reply(command, body, charset, keep_entries=True)
    except ChaosError as error:
        problem = str(error)
        if isinstance(document, dict) and command.payload_path[0] not in document:
            problem += f"; the reply's members: {members(document)}"
        return done(error.outcome, problem, body=body, charset=charset, document=document)
    if reply.skipped and not reply.lines:
        fields = ", ".join(reply.unkeyed_fields) or "none"
        problem = (
            f"no entry carries a usable {command.key_spelling} (the key); the entries carry: "
            f"{fields}"
        )
        return done(
            Outcome.INVALID_RESPONSE, problem, body=body, charset=charset, document=document
        )
    return done(Outcome.OK, body=body, charset=charset, document=document, reply=reply)


# -- the report ----------------------------------------------------------------------------------


def field_table(
    command: Command, lines: LineIndex, table: Mapping[str, Command] = BUILTIN
) -> tuple[list[str], list[str]]:
    """Rows for the documented fields, and the other fields CHAOS sent, with line counts.

    A field the command reads that is present but unusable (not a number, say) is counted
    apart: its metric is left out for those lines. A documented field that another command
    owns is marked, so a user is not surprised that it is not exported from here.
    """
    documented = (command.key_spelling, *command.field_names, *command.not_owned)
    carried: Counter[str] = Counter()
    unusable: Counter[str] = Counter()
    others: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for line_id in lines:
        record = lines[line_id]
        for key in lines.raw(line_id):
            name = normalise_field(key) if isinstance(key, str) else ""
            if name == command.key or name in documented:
                carried[name] += 1
                if name in command.field_names and record.get(name) is None:
                    unusable[name] += 1
            elif name:
                others[name] += 1
                spelling.setdefault(name, clean_text(key))
    width = max(len(name) for name in documented)
    rows = []
    for name in documented:
        row = f"    {name:<{width}}  {carried[name.lower()]:>6}"
        if unusable[name]:
            row += f"  ({unusable[name]} unreadable, so left out of the metrics)"
        if name in command.not_owned:
            row += f"  (exported from {_owner(name, table)} only)"
        rows.append(row)
    extra = [f"{spelling[name]} ({count})" for name, count in sorted(others.items())]
    return rows, extra


def _owner(field_name: str, table: Mapping[str, Command]) -> str:
    return next(
        (name for name, command in table.items() if field_name in command.field_names),
        "another command",
    )


def series_lines(command: Command, record: LineRecord) -> list[str]:
    """The samples ``command`` gives a probe of this line, without HELP and TYPE."""
    text = encode(line_families(command, record)).decode()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def describe(
    call: Call,
    redact: Callable[[str], str],
    table: Mapping[str, Command] = BUILTIN,
    *,
    shown_ids: int = SHOWN_IDS,
) -> list[str]:
    """The report block for one call; whatever came from CHAOS goes through ``redact``."""
    head = f"[{call.auth}] {call.command}:"
    if call.reply is None:
        if call.chaos_error is not None:
            lines = [f'{head} refused by CHAOS: "{redact(call.chaos_error)}" ({call.outcome})']
        else:
            lines = [f"{head} no usable answer: {redact(call.problem or '')} ({call.outcome})"]
        lines.append("  " + _HINTS[call.outcome].format(auth=call.auth))
        return lines
    command = table[call.command]
    # A broadband command lists lines by ID; a declared one, entries by their key.
    noun, ids_are = (
        ("line(s)", "line IDs") if command.builtin else ("entries", command.key_spelling)
    )
    # The "" key: every entry of a table of the account, or a line-scope reply's lone entry.
    whole = "(a table of the account)" if command.entries == "all" else "(one entry, without it)"
    ids = [redact(line_id) or whole for line_id in call.reply.lines]
    lines = [f"{head} answered in {call.seconds:.2f} s, {len(ids)} {noun}"]
    if not ids:
        lines.append(
            "  no lines: these credentials see no broadband lines"
            if command.builtin
            else "  no entries: the reply lists nothing for these credentials"
        )
    else:
        more = f" (first {shown_ids} of {len(ids)})" if len(ids) > shown_ids else ""
        lines.append(f"  {ids_are}: {', '.join(ids[:shown_ids])}{more}")
    if call.reply.skipped:
        lines.append(f"  entries skipped: {call.reply.skipped} (no usable {command.key_spelling})")
    if not ids:
        return lines
    assert isinstance(call.reply.lines, LineIndex)  # what parse_reply returns
    rows, extra = field_table(command, call.reply.lines, table)
    lines.append(f"  documented fields, and how many of the {len(ids)} {noun} carry each:")
    lines += rows
    unused = redact(", ".join(extra)) or "none"
    lines.append(f"  fields CHAOS sent that the exporter does not use: {unused}")
    first = call.reply.lines[next(iter(call.reply.lines))]
    what = "line" if command.builtin else command.key_spelling
    lines.append(f"  series a probe of {what} {ids[0]} would export from {call.command}:")
    lines += [f"    {redact(sample)}" for sample in series_lines(command, first)] or ["    (none)"]
    lines += [f"    note: {redact(note)}" for note in first.notes]
    return lines


def make_redactor(config: Config, table: Mapping[str, Command] = BUILTIN) -> Redactor:
    """Knows every configured secret (removed) and login (a placeholder) before any reply,
    and the text fields declared commands carry as labels (placeholders too, unless known to
    be harmless: ``capture.HARMLESS_LABELS``)."""
    secrets: list[str] = []
    known: list[tuple[Category, str]] = []
    for auth in config.auths.values():
        for name, value in auth.form_fields().items():
            if "password" in name:
                secrets.append(value)
            elif name == "account_number":
                known.append(("account", value))
            else:
                known.append(("login", value))
    labels = {
        label
        for command in table.values()
        if not command.builtin
        for label in command.field_names
        if label in command.labels or (command.info is not None and label in command.info.labels)
    }
    return Redactor(secrets, known, label_fields=labels)


async def check_chaos(
    config: Config,
    out: TextIO,
    capture_dir: Path | None = None,
    suggest_path: Path | None = None,
    config_files: Sequence[str | Path] = (),
) -> int:
    """Run the check, print the report to ``out``; 0 when every set answered every command.

    With ``suggest_path``, also write declarations for the fields no command exports, and
    where a declaration's entries are (``--chaos.suggest``, ``diagnostics/suggest.py``), never over
    one of ``config_files``; 1 when they cannot be written."""
    table = compile_commands(config.commands)
    used = {command for module in config.modules.values() for command in module.commands}
    commands = [command for name, command in table.items() if name in used]
    redactor = make_redactor(config, table)
    # A text the redactor would replace is personal data: never a suggested state.
    suggestions = suggest.Suggestions(lambda text: redactor.redact_text(text) != text)

    def say(*lines: str) -> None:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()

    sets = ", ".join(config.auths)
    proxy = choose_proxy(config.chaos.url, config.chaos.proxy)
    route = "directly (no proxy applies)" if proxy is None else f"through proxy {proxy}"
    say(
        f"Checking CHAOS at {redactor.redact_text(config.chaos.url)} {route}: "
        f"{len(config.auths)} credential set(s) ({sets}), "
        f"{' and '.join(command.name for command in commands)}, "
        "one call each, account scope.",
    )
    if capture_dir is not None:
        problem = make_private_dir(capture_dir)
        if problem is not None:
            say(problem)
            return 1
    failed: dict[str, list[str]] = {}
    example: str | None = None
    async with make_session() as session:
        for auth in config.auths.values():
            for command in commands:
                call = await call_chaos(session, config.chaos.url, auth, command, proxy=proxy)
                # Redacting the reply first teaches the redactor its logins and postcodes.
                data, is_json = redacted_capture(redactor, call.body or b"", call.charset)
                block = describe(call, redactor.redact_text, table)
                if capture_dir is not None and call.body is not None:
                    block.append(_save(capture_dir, call, data, is_json=is_json))
                say("", *block)
                # Also a reply the declaration does not fit: where its entries are, and
                # what names them, is what the suggestions say.
                suggestions.add(command, call.document if call.chaos_error is None else None)
                if call.reply is None:
                    failed.setdefault(auth.name, []).append(command.name)
                    continue
                if example is None and call.reply.lines:
                    key = next(iter(call.reply.lines))
                    example = _example(config, command, auth.name, key, redactor.redact_text(key))
    written = True
    if suggest_path is not None:
        text = suggest.render(suggestions, config)
        written, line = suggest.write(suggest_path, text, config_files)
        say("", line)
    say("", *_summary(list(config.auths), failed, example))
    return 1 if failed or not written else 0


def _example(config: Config, command: Command, auth: str, key: str, shown: str) -> str:
    """A probe to try next: a module that reads ``command``, and the first key its reply
    listed, or a placeholder when that key is personal data the report does not print (a
    phone number)."""
    module = next(name for name, plan in config.modules.items() if command.name in plan.commands)
    target = key if shown == key else f"<{command.key_spelling}>"
    if not key:  # a table of the account (any target), or a line-scope reply's lone entry
        target = auth if command.entries == "all" else "<service>"
    return f"/probe?target={target}&module={module}&auth={auth}"


def _save(directory: Path, call: Call, data: bytes, *, is_json: bool) -> str:
    path = directory / capture_name(call.auth, call.command, json_reply=is_json)
    try:
        write_private(path, data)
    except OSError as error:
        return f"  not saved: cannot write {path}: {error.strerror}"
    kind = "" if is_json else " (not JSON, kept as text)"
    return f"  reply saved to {path}{kind}: passwords removed, personal data replaced"


def _summary(
    auths: Sequence[str], failed: Mapping[str, list[str]], example: str | None
) -> list[str]:
    if not failed:
        lines = [f"OK: every credential set ({len(auths)}) answered every command."]
        if example is not None:
            lines.append(f"Next: start the exporter with this configuration and open {example}")
        return lines
    detail = "; ".join(f"{auth}: {', '.join(commands)}" for auth, commands in failed.items())
    return [
        f"FAILED: {len(failed)} of {len(auths)} credential set(s) did not answer every "
        f"command ({detail}).",
    ]


def run_chaos_check(
    config: Config,
    *,
    capture_dir: Path | None = None,
    suggest_path: Path | None = None,
    config_files: Sequence[str | Path] = (),
    out: TextIO | None = None,
) -> int:
    """Entry point for the command line: exit status 0 or 1."""
    report = sys.stdout if out is None else out
    return asyncio.run(check_chaos(config, report, capture_dir, suggest_path, config_files))
