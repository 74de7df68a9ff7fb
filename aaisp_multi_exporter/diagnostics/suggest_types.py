"""The type of a field, from every value ``--chaos.suggest`` saw of it (SPEC 6b).

Each value is tried against the parsers a declaration can name (``chaos/parsers.py``), and a
field takes the first type that every value fits: a Y/N flag, a whole number, a number, a
date, a date and time, a time, a few states; anything else is text, which may be personal data
and is never made a series unasked. Field names and types only: no value is kept but a state's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aaisp_multi_exporter.chaos.parsers import (
    parse_bool,
    parse_count,
    parse_date,
    parse_duration,
    parse_number,
    parse_uk_timestamp,
)
from aaisp_multi_exporter.config.commands import (
    RESERVED_SUFFIXES,
    metric_problem,
    normalise_field,
)
from aaisp_multi_exporter.diagnostics.capture import HARMLESS_LABELS, category_of

#: The types a value is tried as, in the order a field's type is chosen.
_TRIED: dict[str, Callable[[object], object]] = {
    "bool": parse_bool,
    "count": parse_count,
    "number": parse_number,
    "date": parse_date,
    "uk_time": parse_uk_timestamp,
    "duration": parse_duration,
}
#: A state set is suggested for at most this many distinct texts (SPEC 6b).
MAX_STATES = 8
#: A state longer than this is a sentence, not a state (the loader takes 128).
_MAX_STATE_CHARS = 64
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
#: What each type's metric name ends in (Prometheus's conventions: base units).
SUFFIXES = {"date": "_timestamp_seconds", "uk_time": "_timestamp_seconds", "duration": "_seconds"}
#: Types a gauge reads; ``text`` and ``nested`` are not.
GAUGE_KINDS = ("bool", "count", "number", "date", "uk_time", "duration", "states")


@dataclass
class FieldSeen:
    """One field of one command across every reply checked: how many entries carried it,
    and which types all its values fit so far."""

    spelling: str
    entries: int = 0
    fits: set[str] = field(default_factory=lambda: set(_TRIED))
    #: A flag was written as a word (Y, no, true...), not only 1 and 0 (then it is a count).
    worded: bool = False
    #: A time was written with a colon, not only as plain seconds (then it is a number).
    clocked: bool = False
    #: Distinct texts, case-folded, with their first spelling; None once they are too many,
    #: not text, or look like personal data.
    states: dict[str, str] | None = field(default_factory=dict)
    #: Some value was an object or an array: not a field a gauge reads.
    nested: bool = False
    #: Some text came twice in one reply (two credential sets may see the same entries).
    repeated: bool = False
    _reply: int = field(default=0, init=False, repr=False)
    _in_reply: set[str] = field(default_factory=set, init=False, repr=False)

    def add(self, value: object, private: Callable[[str], bool], reply: int = 0) -> None:
        """One entry's value (``None`` and blanks count as not carried), from the
        ``reply``-th reply."""
        if reply != self._reply:
            self._reply = reply
            self._in_reply.clear()
        if value is None or (isinstance(value, str) and not value.strip()):
            return
        self.entries += 1
        if isinstance(value, dict | list):
            self.nested = True
            self.fits.clear()
            self.states = None
            return
        for kind in list(self.fits):
            if _TRIED[kind](value) is None:
                self.fits.discard(kind)
        if "bool" in self.fits and (
            isinstance(value, bool) or str(value).strip() not in ("0", "1")
        ):
            self.worded = True
        if "duration" in self.fits and isinstance(value, str) and ":" in value:
            self.clocked = True
        self._state(value, private)

    def _state(self, value: object, private: Callable[[str], bool]) -> None:
        if self.states is None:
            return
        text = value.strip() if isinstance(value, str) else None
        if text is None or len(text) > _MAX_STATE_CHARS:
            self.states = None
            return
        folded = text.casefold()
        if folded not in self.states:  # each new text judged once: at most MAX_STATES + 1
            if not text.isprintable() or "@" in text or private(text):
                self.states = None
                return
            self.states[folded] = text
        self.repeated = self.repeated or folded in self._in_reply
        self._in_reply.add(folded)
        if len(self.states) > MAX_STATES:
            self.states = None

    def kind(self) -> str:
        """The type every value fits: one of GAUGE_KINDS, ``text`` or ``nested``."""
        if self.nested:
            return "nested"
        if "bool" in self.fits and self.worded:
            return "bool"
        for kind in ("count", "number", "date", "uk_time"):
            if kind in self.fits:
                return kind
        if "duration" in self.fits and self.clocked:
            return "duration"
        return "states" if self.state_list() else "text"

    def state_list(self) -> list[str]:
        """The states of a state set, sorted; empty when the texts are not states.

        At most MAX_STATES texts over at least two entries (SPEC 6b), and, since a state set
        writes its values into the file, only a vocabulary: a value twice in one reply, or a
        field named as one (``status``, ``state``, ``type``...), and never a field or value
        that is personal data (a login, postcode, phone number, address)."""
        states = self.states
        name = normalise_field(self.spelling)
        if not states or self.entries < 2 or category_of(name) is not None:
            return []
        if not self.repeated and name not in HARMLESS_LABELS:
            return []  # every entry its own text: names, not states
        return sorted(states.values(), key=str.casefold)


def metric_name(command: str, spelling: str, taken: set[str], suffix: str = "") -> str:
    """``aaisp_<subsystem>_<field><suffix>``; the command's name goes in too if that is taken.

    A name the loader refuses is never written: a subsystem that would make the exporter's
    own prefix (``probe``, ``exporter``) becomes ``aaisp_chaos_<subsystem>_<field>``, and a
    counter's ending gets ``_value``. A field already ending in the suffix is not given it
    twice (``uptime_seconds``, ``quota_timestamp``)."""
    subsystem, _, name = command.partition("/")
    field_name = _NOT_NAME.sub("_", normalise_field(spelling)).strip("_") or "field"
    if suffix:
        field_name = _without_suffix(field_name, suffix)
    stem = f"aaisp_{subsystem}"
    if metric_problem(f"{stem}_{field_name}_value") is not None:
        stem = f"aaisp_chaos_{subsystem}"
    candidates = [f"{stem}_{field_name}{suffix}", f"{stem}_{name}_{field_name}{suffix}"]
    candidates = [f"{c}_value" if c.endswith(RESERVED_SUFFIXES) else c for c in candidates]
    for metric in candidates:
        if metric not in taken:
            return metric
    metric = candidates[-1]
    number = 2
    while f"{metric}_{number}" in taken:
        number += 1
    return f"{metric}_{number}"


def _without_suffix(name: str, suffix: str) -> str:
    """``quota_timestamp`` with ``_timestamp_seconds`` is ``quota``: the suffix's words the
    name already ends in are not repeated."""
    words = suffix.strip("_").split("_")
    for count in range(len(words), 0, -1):
        ending = "_" + "_".join(words[:count])
        if name.endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)]
    return name


def help_text(command: str, spelling: str, kind: str) -> str:
    """The same whatever the replies held: a HELP line is part of a series' identity."""
    where = f"CHAOS {command} field {spelling}"
    return {
        "bool": f"1 when {where} is set (Y, yes, true, on or 1), else 0.",
        "date": f"{where} (a date), as Unix seconds at midnight UK time.",
        "uk_time": f"{where} (a UK date and time), as Unix seconds.",
        "duration": f"{where} (a time), in seconds.",
        "states": f"{where}: 1 for its current state, 0 for the others.",
    }.get(kind, f"{where}; its unit is not known.")


def described(kind: str) -> str:
    """What a comment says the values were, without a value."""
    return {
        "bool": "flags (Y/N)",
        "count": "whole numbers",
        "number": "numbers",
        "date": "dates (YYYY-MM-DD)",
        "uk_time": "dates and times",
        "duration": "times (HH:MM:SS)",
        "states": "a few texts",
    }[kind]
