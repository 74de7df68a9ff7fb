"""Data the simulator serves (accounts and their lines) and the faults it can inject."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from .lines import generate_lines, service_aliases

FaultKind = Literal[
    "latency", "http_status", "html", "truncated", "drop", "wrong_shape", "error", "body"
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

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

    ``count`` is how many matching requests it hits (``None``: until cleared); ``login`` limits
    it to requests authenticating as that control login or account number; ``probability`` is
    rolled per matching request with the simulator's seeded RNG, so runs repeat.
    """

    kind: FaultKind
    count: int | None = None
    login: str | None = None
    probability: float = 1.0
    status: int = 500
    retry_after: str | None = None
    latency_seconds: float = 0.0
    error_text: str = "Unknown command"
    #: For ``body``: any JSON value, sent as a 200 ``application/json`` reply (fuzzing shapes).
    body: object = None

    def __post_init__(self) -> None:
        """Reject impossible faults early, where the caller can see the mistake."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 or None")
        if not (0.0 <= self.probability <= 1.0):
            raise ValueError("probability must be between 0 and 1")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code (100-599)")
        if not (math.isfinite(self.latency_seconds) and self.latency_seconds >= 0):
            raise ValueError("latency_seconds must be a finite number >= 0")


def current_uk_hour() -> datetime:
    """The hour CHAOS would stamp now: naive Europe/London time (chaos-api.md §5)."""
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
