"""Reading a large CHAOS reply a piece at a time, so the event loop never waits for all of it.

A reply for 100,000 lines is some 30 MB of JSON; ``json.loads`` reads it in one go, and every
probe in flight waits meanwhile. ``walk`` reads the top-level object member by member with the
standard library's C decoder (``raw_decode``), one payload entry at a time, and descends into
other large values (the ``options`` that list every line again) a few levels down before
decoding what is inside whole. It is a generator that yields every ``BATCH`` values decoded:
whoever drives it decides what a pause is (``await asyncio.sleep(0)`` for a probe's fetch,
nothing for ``--chaos.check``). Entries go to a callback, so no document of the whole reply
is ever built (docs/design.md, "Replies").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator
from typing import Any

#: Values decoded between two pauses: a few milliseconds of work.
BATCH = 1000
#: Containers this deep inside a skipped value are decoded whole; shallower ones are walked,
#: so ``options[i].option[j].choice`` (every line again, as Service choices) costs no long
#: pause: decoded in one call, it would hold the loop for some 30 ms per 100,000 lines.
MAX_DESCENT = 6

_WS = re.compile(r"[ \t\n\r]*")
#: JSON's white space, for a test before the regular expression (``""`` is not in it).
_SPACE = frozenset(" \t\n\r")
#: What ``walk`` returns for the payload key when its value was an array, walked entry by entry.
WALKED = object()

#: A walk: it yields to pause, and returns the members of the top-level object it kept.
Walk = Generator[None, None, dict[str, Any]]


def _ignore(_: object) -> None:
    """What a skipped array's elements go to."""


class NotAnObject(Exception):
    """The reply's top level is not a JSON object; ``json.loads`` says what it is."""


def walk(
    text: str,
    payload_key: str,
    on_entry: Callable[[object], None],
    *,
    keep: frozenset[str] = frozenset({"error"}),
    parse_int: Callable[[str], object] | None = None,
) -> Walk:
    """Read the reply ``text``: each element of the ``payload_key`` array goes to
    ``on_entry`` (of every such array, should the key be given twice); the members named
    in ``keep`` are returned decoded, the rest skipped. ``payload_key`` is returned as
    WALKED when it was an array, else decoded.

    Raises ``json.JSONDecodeError`` for what is not JSON, ``RecursionError`` for nesting
    too deep, and NotAnObject for a top level that is not an object.
    """
    return _Walker(text, parse_int).document(payload_key, on_entry, keep)


class _Walker:
    __slots__ = ("_decode", "_pause_at", "_s", "decoded")

    def __init__(self, text: str, parse_int: Callable[[str], object] | None) -> None:
        self._s = text
        self._decode = json.JSONDecoder(parse_int=parse_int).raw_decode
        self.decoded = 0
        self._pause_at = BATCH

    def _value(self, i: int) -> tuple[Any, int]:
        self.decoded += 1
        return self._decode(self._s, i)

    def _due(self) -> bool:
        if self.decoded >= self._pause_at:
            self._pause_at = self.decoded + BATCH
            return True
        return False

    def _ws(self, i: int) -> int:
        match = _WS.match(self._s, i)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def _expect(self, i: int, char: str) -> int:
        if self._s[i : i + 1] != char:
            raise json.JSONDecodeError(f"Expecting {char!r}", self._s, i)
        return self._ws(i + 1)

    def _next(self, i: int, close: str) -> tuple[int, bool]:
        """After a member or element: the index of the next one, and whether there is one.
        CHAOS writes compact JSON, so the usual case reads one character."""
        s = self._s
        char = s[i : i + 1]
        if char in _SPACE:
            i = self._ws(i)
            char = s[i : i + 1]
        if char == ",":
            i += 1
            return (self._ws(i) if s[i : i + 1] in _SPACE else i), True
        if char == close:
            return i + 1, False
        raise json.JSONDecodeError(f"Expecting ',' or {close!r}", s, i)

    def document(
        self, payload_key: str, on_entry: Callable[[object], None], keep: frozenset[str]
    ) -> Walk:
        s = self._s
        i = self._ws(0)
        if s[i : i + 1] != "{":
            raise NotAnObject
        kept: dict[str, Any] = {}
        i = self._ws(i + 1)
        more = s[i : i + 1] != "}"
        i = i if more else i + 1
        while more:
            key, i = self._value(i)
            if not isinstance(key, str):
                raise json.JSONDecodeError("Expecting property name", s, i)
            i = self._expect(self._ws(i), ":")
            if key == payload_key and s[i : i + 1] == "[":
                kept[key] = WALKED
                i = yield from self._entries(i, on_entry)
            elif key == payload_key or key in keep:
                kept[key], i = self._value(i)
            else:
                i = yield from self._skip(i, 1)
            if self._due():
                yield
            i, more = self._next(i, "}")
        if self._ws(i) != len(s):
            raise json.JSONDecodeError("Extra data", s, i)
        return kept

    def _entries(self, i: int, on_entry: Callable[[object], None]) -> Generator[None, None, int]:
        """The payload's elements: the hot loop of a large reply, so _value, _due and the
        compact case of _next are written out here."""
        s, decode = self._s, self._decode
        i = self._ws(i + 1)
        if s[i : i + 1] == "]":
            return i + 1
        batch = 0
        while True:
            entry, i = decode(s, i)
            on_entry(entry)
            batch += 1
            if batch == BATCH:
                self.decoded += batch
                self._pause_at = self.decoded + BATCH
                batch = 0
                yield
            if s[i : i + 1] == "," and s[i + 1 : i + 2] not in _SPACE:
                i += 1
                continue
            i, more = self._next(i, "]")
            if not more:
                self.decoded += batch
                return i

    def _skip(self, i: int, depth: int) -> Generator[None, None, int]:
        """Past one value; shallow containers are walked so a large one costs no long
        pause."""
        s = self._s
        opening = s[i : i + 1]
        if depth >= MAX_DESCENT or opening not in ("[", "{"):
            _, i = self._value(i)
            if self._due():
                yield
            return i
        inner = depth + 1 < MAX_DESCENT
        if not inner and opening == "[":  # each element decoded whole: the payload's loop
            return (yield from self._entries(i, _ignore))
        close = "]" if opening == "[" else "}"
        i = self._ws(i + 1)
        if s[i : i + 1] == close:
            return i + 1
        more = True
        while more:
            if opening == "{":
                key, i = self._value(i)
                if not isinstance(key, str):
                    raise json.JSONDecodeError("Expecting property name", s, i)
                i = self._expect(self._ws(i), ":")
            if inner:
                i = yield from self._skip(i, depth + 1)
            else:  # the deepest level walked: each value decoded whole, with no generator
                _, i = self._value(i)
                if self._due():
                    yield
            i, more = self._next(i, close)
        return i
