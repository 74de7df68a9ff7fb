"""What a probe found, per command, module and probe: the probe layer's results.

``probe.run`` makes them; ``probe.render`` turns them into series, ``probe.log`` into the
probe's log, and the server keeps them in its history. A CHAOS or line failure is a result
too, with its kind (``FailureKind``). They are NamedTuples: immutable, and cheaper to build
than frozen dataclasses, which counts for the several a cached probe makes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.errors import Outcome
from aaisp_multi_exporter.chaos.records import LineRecord
from aaisp_multi_exporter.chaos.replies import Reply


class FailureKind(StrEnum):
    """Why a command or module failed: how its CHAOS request ended (``Outcome``), or the
    probe's own reasons. De-duplicated failure logs and the landing page group by it, and a
    failed module's ``aaisp_probe_module_failure_info`` carries it as ``kind``."""

    AUTH_ERROR = Outcome.AUTH_ERROR.value
    API_ERROR = Outcome.API_ERROR.value
    HTTP_ERROR = Outcome.HTTP_ERROR.value
    INVALID_RESPONSE = Outcome.INVALID_RESPONSE.value
    TIMEOUT = Outcome.TIMEOUT.value
    TRANSPORT_ERROR = Outcome.TRANSPORT_ERROR.value
    #: The probe's deadline came before CHAOS answered.
    DEADLINE = "deadline"
    #: CHAOS answered, and no answer lists the target.
    NOT_FOUND = "not_found"


class SnapshotUse(NamedTuple):
    """The snapshot a command's result was made from, for the probe's log."""

    lookup: str  # how the store served it (``chaos.snapshots.Lookup``)
    age: float
    listed: int  # lines its reply lists (0 for a failure)
    #: For a reply: seconds the fetch that obtained it took, and how long before expiry the
    #: module refreshes it ahead (``Policy.lead``: grows when the key's fetches are slow).
    fetch_seconds: float | None = None
    refresh_lead: float | None = None


class CommandResult(NamedTuple):
    """One command's part of a module: where the line's record is, or why there is none."""

    command: Command
    #: The line's key in ``reply`` (its ID, or the one line of a line-scope reply).
    line_id: str | None = None
    age: float | None = None  # of the reply used; None when the command failed
    failure: str | None = None
    failure_kind: FailureKind | None = None
    #: None when the deadline came first.
    used: SnapshotUse | None = None
    #: The reply used: its notes (odd entries, an empty error) go in the probe's log, and the
    #: line's rendered series are kept per reply.
    reply: Reply | None = None

    @property
    def record(self) -> LineRecord | None:
        """The line's record, parsed from the reply's compact row (each time: the rendered
        series are what is kept)."""
        if self.line_id is None or self.reply is None:
            return None
        return self.reply.lines[self.line_id]


class ModuleResult(NamedTuple):
    """A module's outcome. A failed one's ``failure_kind`` is that of its first failed
    command in the command table's order (the built-ins, then declared commands as
    declared; the order the module lists them in does not matter), or ``not_found`` when
    none failed and no reply lists the line."""

    name: str
    auth: str
    success: bool
    results: tuple[CommandResult, ...] = ()
    reason: str | None = None
    failure_kind: FailureKind | None = None

    @property
    def data_age(self) -> float | None:
        """Age of the oldest reply the module used."""
        oldest = None
        for result in self.results:
            if result.age is not None and (oldest is None or result.age > oldest):
                oldest = result.age
        return oldest


class ProbeResult(NamedTuple):
    target: str
    success: bool
    duration: float
    timeout: float
    modules: tuple[ModuleResult, ...]
    #: The result of each command that found the line, once per command whichever module
    #: brought it, in the command table's order: what the line's series are made from.
    command_results: tuple[CommandResult, ...] = ()

    @property
    def module_states(self) -> tuple[tuple[str, bool, FailureKind | None], ...]:
        """Each module's name, success and failure kind: what the summary gauges show."""
        return tuple((module.name, module.success, module.failure_kind) for module in self.modules)

    @property
    def reasons(self) -> list[str]:
        return [f"{m.name}: {m.reason}" for m in self.modules if m.reason]
