"""Data the simulator serves (accounts and their lines) and the faults it can inject."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from .lines import generate_lines, service_aliases

FaultKind = Literal[
    "latency",
    "gate",
    "http_status",
    "html",
    "truncated",
    "drop",
    "wrong_shape",
    "error",
    "body",
    "raw",
    "replay",
    "lone_object",
    "quota_without_unlimited",
    "deep_nesting",
    "huge_number",
    "entries_without_id",
    "huge_value",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
HugeShape = Literal["numbers", "objects", "string"]

#: Longer than Python's default limit on int/str conversion (4,300 digits): ``int(text)`` and
#: ``json.loads`` of such a number raise ValueError unless the reader guards against it.
HUGE_INTEGER = "9" * 5000
#: A JSON number beyond a double's range: ``json.loads`` reads it as ``inf``.
HUGE_FLOAT = "1e400"
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_COMMAND = re.compile(r"[a-z]+/[a-z]+")

DEMO_LOGIN = "demo@a"
# A fake credential that only opens the local simulator; printing it is harmless.
DEMO_PASSWORD = "demo-password"  # noqa: S105

_UK = ZoneInfo("Europe/London")


@dataclass
class SimAccount:
    """One set of credentials and the lines they can see.

    Tests may mutate ``lines`` (or a line dict) and the passwords between calls: the simulator
    reads them afresh on every request. ``service_aliases`` maps extra ``service`` values (phone
    numbers, circuit IDs) to a line ``ID``; CHAOS accepts them but never returns them as fields,
    so they are kept out of the records.
    """

    control_login: str
    control_password: str
    lines: list[dict[str, str]]
    account_number: str | None = None
    account_password: str | None = None
    service_aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """A misbehaviour injected into matching CHAOS requests (see ``Simulator.add_fault``).

    Which requests: ``login`` limits it to requests authenticating as that control login or
    account number; ``command`` (``"broadband/quota"``) to that command; ``probability`` is
    rolled per matching request with the simulator's seeded RNG, so runs repeat; ``count`` is
    how many matching requests it hits (``None``: until cleared). The first matching fault in
    insertion order wins.

    What it does, by ``kind``:

    * ``latency``: wait ``latency_seconds``, then answer normally.
    * ``gate``: wait until ``gate`` (an ``asyncio.Event`` of the simulator's loop) is set, then
      answer normally: a test holds an answer in flight for as long as it needs, with no clock.
    * ``http_status``: HTTP ``status`` with an HTML error page, ``Retry-After: retry_after``
      when set (429 and 503 are how an outage or a rate limit would look).
    * ``html``: HTTP 200 with a "down for maintenance" HTML page.
    * ``truncated``: the normal JSON reply cut in half.
    * ``drop``: hang up before a single byte is sent.
    * ``wrong_shape``: the payload (``info``, ``quota``) is the string ``"oops"``.
    * ``error``: the envelope with ``"error": error_text`` and no payload, HTTP
      ``reply_status`` (200, as CHAOS refuses anything: docs/chaos-api.md §7; one public client
      reports a refusal with HTTP 500); any text, e.g. ``"Login locked"``.
    * ``body``: any JSON value ``body``, sent as an ``application/json`` reply with HTTP
      ``reply_status`` (fuzzing).
    * ``raw``: the bytes ``raw`` as they are, with ``Content-Type: content_type`` and HTTP
      ``reply_status``: bytes no JSON encoder writes (CESU-8 surrogates, Latin-1 text).
    * ``replay``: the bytes of the file at ``path`` (read at each request), ``reply_status``
      ``application/json``, whatever the credentials: a fixture or a ``--chaos.capture`` file.
      Use ``command`` to replay one file per command.

    The rest reshape the payload of a successful reply (an error reply is sent unchanged):

    * ``lone_object``: the payload's first entry as a lone object instead of an array (the
      manual says arrays are used "normally"); an empty payload stays ``[]``.
    * ``quota_without_unlimited``: ``broadband/quota`` only (other commands never match):
      ``quota[]`` leaves out the lines with no monthly quota (``quota_monthly`` absent or
      ``"0"``), as CHAOS may (README, "Metrics": partial answers).
    * ``deep_nesting``: the payload is ``depth`` nested arrays (``[[[...]]]``, default 100,000
      deep; ``json.loads`` gives up with RecursionError near 1,000).
    * ``huge_number``: ``line_field`` (default ``quota_remaining``) of every entry is the JSON
      number ``number``, bare, or as a numeric string with ``as_string``. ``HUGE_INTEGER``
      (5,000 digits, the default) is past Python's int conversion limit; ``HUGE_FLOAT``
      (``1e400``) is past a double's range.
    * ``entries_without_id``: ``entries`` (default 200,000) entries with no ``ID`` appended
      after the real lines, which are kept.
    * ``huge_value``: one huge value, ``elements`` long (default 12 million) and ``nesting``
      arrays deep (default 0): ``[1,1,...]`` (``shape="numbers"``), ``[{},{},...]``
      (``"objects"``) or ``"xx..."`` (``"string"``), as the field ``huge`` of the first entry
      (``in_entry``, the default) or as a member ``huge`` of the reply, which no command reads.
      20 million ``{}`` are 60 MB, under the exporter's 64 MiB cap on a reply.
    """

    kind: FaultKind
    count: int | None = None
    login: str | None = None
    command: str | None = None
    probability: float = 1.0
    status: int = 500
    retry_after: str | None = None
    latency_seconds: float = 0.0
    #: For ``gate``: the event the answer waits for.
    gate: asyncio.Event | None = field(default=None, repr=False, compare=False)
    error_text: str = "Unknown command"
    #: The HTTP status of an ``error``, ``body``, ``raw`` or ``replay`` reply.
    reply_status: int = 200
    #: For ``body``: any JSON value, sent as a 200 ``application/json`` reply (fuzzing shapes).
    body: object = None
    #: For ``raw``: the reply's bytes, and its ``Content-Type``.
    raw: bytes = b""
    content_type: str = "application/json"
    path: str | None = None
    depth: int = 100_000
    number: str = field(default=HUGE_INTEGER, repr=False)
    as_string: bool = False
    line_field: str = "quota_remaining"
    entries: int = 200_000
    shape: HugeShape = "numbers"
    elements: int = 12_000_000
    nesting: int = 0
    in_entry: bool = True

    def __post_init__(self) -> None:
        """Reject impossible faults early, where the caller can see the mistake."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 or None")
        if self.command is not None and not _COMMAND.fullmatch(self.command):
            raise ValueError('command must look like "broadband/quota"')
        if not (0.0 <= self.probability <= 1.0):
            raise ValueError("probability must be between 0 and 1")
        if not 100 <= self.status <= 599 or not 100 <= self.reply_status <= 599:
            raise ValueError("status and reply_status must be HTTP status codes (100-599)")
        if not (math.isfinite(self.latency_seconds) and self.latency_seconds >= 0):
            raise ValueError("latency_seconds must be a finite number >= 0")
        if (self.kind == "gate") != (self.gate is not None):
            raise ValueError('a "gate" fault needs gate=asyncio.Event(), and only it takes one')
        if self.kind == "replay" and not self.path:
            raise ValueError("a replay fault needs the path of the file to send")
        if self.depth < 1:
            raise ValueError("depth must be >= 1")
        if self.entries < 0:
            raise ValueError("entries must be >= 0")
        if self.shape not in get_args(HugeShape) or self.elements < 1 or self.nesting < 0:
            raise ValueError(
                "shape must be numbers, objects or string, elements >= 1 and nesting >= 0"
            )
        if not _JSON_NUMBER.fullmatch(self.number):
            raise ValueError("number must be a JSON number, e.g. 1e400")
        if not self.line_field:
            raise ValueError("line_field must name a field")

    def matches_command(self, command: str) -> bool:
        """Whether this fault applies to ``subsystem/command`` (already lower-cased)."""
        if self.kind == "quota_without_unlimited" and command != "broadband/quota":
            return False
        return self.command is None or self.command == command


def current_uk_hour() -> datetime:
    """The hour CHAOS would stamp now: naive Europe/London time (docs/chaos-api.md §5)."""
    return datetime.now(_UK).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def demo_accounts(lines: int = 12, *, quota_time: datetime | None = None) -> list[SimAccount]:
    """The single account behind ``--demo``; quota times default to the current UK hour."""
    records = generate_lines(lines, quota_time=quota_time or current_uk_hour())
    return [
        SimAccount(
            control_login=DEMO_LOGIN,
            control_password=DEMO_PASSWORD,
            lines=records,
            service_aliases=service_aliases(records),
        )
    ]


def numbered_accounts(
    accounts: int, lines: int, *, seed: int = 0, quota_time: datetime | None = None
) -> list[SimAccount]:
    """Accounts ``sim1@a`` ... ``simK@a`` for the stand-alone simulator.

    Account ``k`` (1-based) has control password ``simk-password``, account number ``A{1000+k}A``
    with password ``simk-account-password``, and ``lines`` lines with IDs from
    ``10000 + (k-1)*lines`` (no overlap) generated with seed ``seed + k - 1``. The passwords are
    fake and predictable so that out-of-process benchmarks can log in without being told.
    """
    stamp = quota_time or current_uk_hour()
    result: list[SimAccount] = []
    for k in range(1, accounts + 1):
        records = generate_lines(
            lines, start_id=10000 + (k - 1) * lines, seed=seed + k - 1, quota_time=stamp
        )
        result.append(
            SimAccount(
                control_login=f"sim{k}@a",
                control_password=f"sim{k}-password",
                lines=records,
                account_number=f"A{1000 + k}A",
                account_password=f"sim{k}-account-password",
                service_aliases=service_aliases(records),
            )
        )
    return result
