"""Which fault, if any, a request gets: the queue of active faults (see ``model.Fault``).

The first fault in insertion order that matches the request's login and command, and wins its
probability roll, applies; a fault with a ``count`` is removed once used up. Rolls use the
simulator's seeded RNG, so a run repeats.
"""

from __future__ import annotations

import dataclasses
import random

from .model import FAULT_KINDS, Fault


class FaultQueue:
    """The active faults of one simulator, in the order they were added."""

    def __init__(self, rng: random.Random) -> None:
        self._faults: list[Fault] = []
        self._rng = rng

    def add(self, fault: Fault) -> None:
        """Queue a copy of ``fault``, so the caller's object keeps its count."""
        self._faults.append(dataclasses.replace(fault))

    def clear(self) -> None:
        self._faults.clear()

    def copies(self) -> list[Fault]:
        """Copies of the active faults, with their remaining counts."""
        return [dataclasses.replace(fault) for fault in self._faults]

    def take(self, attrs: dict[str, str], command: str) -> Fault | None:
        """The fault for a request with ``attrs`` to ``command``, consuming one of its count."""
        who = {
            value.casefold()
            for value in (attrs.get("control_login"), attrs.get("account_number"))
            if value is not None
        }
        for fault in self._faults:
            if fault.login is not None and fault.login.casefold() not in who:
                continue
            if not fault.matches_command(command):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None


def fault_from_json(body: object) -> Fault:
    """Build a Fault from the admin endpoint's JSON, naming the problem on failure."""
    if not isinstance(body, dict):
        raise ValueError("fault must be a JSON object")
    known = {f.name for f in dataclasses.fields(Fault)}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of: {', '.join(FAULT_KINDS)}")
    raw = body.get("raw", "")
    if not isinstance(raw, str):
        raise ValueError("raw must be a string; each character is one byte (Latin-1)")
    try:
        return Fault(**{**body, "raw": raw.encode("latin-1")})
    except (TypeError, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from exc


def fault_to_json(fault: Fault) -> dict[str, object]:
    """The fault as the admin endpoints show it: ``raw`` as Latin-1 text, as it is given."""
    fields = dataclasses.asdict(fault)
    fields["raw"] = fault.raw.decode("latin-1")
    fields.pop("gate")
    return fields
