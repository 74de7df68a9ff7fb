"""Reading a large CHAOS reply a piece at a time, so the event loop never waits for all of it.

A reply for 100,000 lines is some 30 MB of JSON; ``json.loads`` reads it in one go, and every
probe in flight waits meanwhile. ``walk`` hands the payload's entries to a callback, so no
document of the whole reply is ever built (docs/design.md, "Replies"), and never gives the
standard library's C decoder more than a window of text (WINDOW characters) at a time:

* a run of whole entries (or elements, or members) is decoded in one call, cut at the last
  separator inside the window; a cut that lands inside a value fails to decode and is tried
  again earlier, then the value is read on its own;
* a value that does not fit a window is walked into (an explicit stack, no recursion): a
  member nobody reads is only checked, as ``json.loads`` would, and dropped window by window;
  a value inside an entry that large is checked and kept as an Oversized marker, never built
  (20 million ``{}`` are 60 MB of text and 1.3 GB of dicts); strings and numbers longer than
  a window are scanned a window at a time.

It is a generator that yields every BATCH units of work (characters decoded or scanned, and
ENTRY_WORK per entry handed over), wherever it is, however large the value: whoever drives it
decides what a pause is (``await asyncio.sleep(0)`` for a probe's fetch, nothing for
``--chaos.check``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Generator
from typing import Any

#: Units of work between two pauses: a few milliseconds (characters decoded or scanned).
BATCH = 256 * 1024
#: What handing one entry to the callback counts for: a reply of tiny entries (1.2 million
#: ``{"ID":"n"}``) costs more in the callback than in the decoder.
ENTRY_WORK = 256
#: The most text the C decoder is given in one call.
WINDOW = 64 * 1024
#: Cuts tried inside one window before the value at the cut is read on its own.
_TRIES = 3
#: Members kept of one entry larger than a window; more names are dropped (an honest entry
#: has a few dozen, and thousands of distinct names would be gigabytes of dicts).
MAX_MEMBERS = 10_000
#: What a step of the walk into a large value counts for.
_STEP = 64

_WS = re.compile(r"[ \t\n\r]*")
_SPACE = frozenset(" \t\n\r")
_STRING_BODY = re.compile(r'(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+')
_DIGITS = re.compile(r"[0-9]*+")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_NUMBER_START = frozenset("-0123456789")
_CLOSE = {"[": "]", "{": "}"}
#: Where to cut a run of elements, by the first character of the first: after the element's
#: own closing character when it has one, so a cut rarely lands inside a value.
_CUT = {"{": "},", "[": "],", '"': '",'}
_KINDS = {"{": "an object", "[": "an array", '"': "a string"}
#: What ``walk`` returns for the payload key when its value was an array, walked entry by entry.
WALKED = object()

#: A walk: it yields to pause, and returns the members of the top-level object it kept.
Walk = Generator[None, None, dict[str, Any]]
_Steps = Generator[None, None, int]
_Decode = Callable[..., tuple[Any, int]]


class NotAnObject(Exception):
    """The reply's top level is not a JSON object; ``json.loads`` says what it is."""


class Oversized:
    """A value inside an entry (or a kept member) larger than a window: checked, not built.
    Any field that reads it gets a note, as for a value of the wrong type."""

    __slots__ = ("chars", "kind")

    def __init__(self, kind: str, chars: int) -> None:
        self.kind = kind
        self.chars = chars

    def __repr__(self) -> str:
        return f"{self.kind} of {self.chars:,} characters"


def walk(
    text: str,
    payload_key: str,
    on_entry: Callable[[object], None],
    *,
    restart: Callable[[], None],
    keep: frozenset[str] = frozenset({"error"}),
    parse_int: Callable[[str], object] | None = None,
    window: int = WINDOW,
) -> Walk:
    """Read the reply ``text``: each element of the ``payload_key`` array goes to
    ``on_entry``; the members named in ``keep`` are returned decoded, the rest skipped.
    ``payload_key`` is returned as WALKED when it was an array, else decoded. A payload key
    given again calls ``restart`` first: as ``json.loads``, the last one is the reply's.

    Raises ``json.JSONDecodeError`` for what is not JSON, ``RecursionError`` for nesting
    too deep, and NotAnObject for a top level that is not an object.
    """
    walker = _Walker(text, parse_int, window)
    return walker.document(payload_key, on_entry, restart, keep)


class _Walker:
    __slots__ = ("_check", "_decode", "_depth", "_pause_at", "_s", "_window", "work")

    def __init__(self, text: str, parse_int: Callable[[str], object] | None, window: int) -> None:
        self._s = text
        self._decode = json.JSONDecoder(parse_int=parse_int).raw_decode
        #: For what is only checked: the decoder's own integers, much faster than a
        #: ``parse_int`` callback; one past Python's digit limit is then scanned instead.
        self._check = json.JSONDecoder().raw_decode
        self._window = max(window, 8)
        self._depth = sys.getrecursionlimit()
        self.work = 0
        self._pause_at = BATCH

    def _due(self) -> bool:
        if self.work >= self._pause_at:
            self._pause_at = self.work + BATCH
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
        """After a member or element: the index of the next one, and whether there is one."""
        s = self._s
        char = s[i : i + 1]
        if char in _SPACE:
            i = self._ws(i)
            char = s[i : i + 1]
        if char == ",":
            return self._ws(i + 1), True
        if char == close:
            return i + 1, False
        raise json.JSONDecodeError(f"Expecting ',' or {close!r}", s, i)

    def document(
        self,
        payload_key: str,
        on_entry: Callable[[object], None],
        restart: Callable[[], None],
        keep: frozenset[str],
    ) -> Walk:
        s = self._s
        i = self._ws(0)
        if s[i : i + 1] != "{":
            raise NotAnObject
        kept: dict[str, Any] = {}
        seen = False
        i = self._ws(i + 1)
        more = s[i : i + 1] != "}"
        i = i if more else i + 1
        while more:
            key, i = yield from self._key(i)
            i = self._expect(self._ws(i), ":")
            if key == payload_key:
                if seen:
                    restart()
                seen = True
                if s[i : i + 1] == "[":
                    kept[key] = WALKED
                    i = yield from self._entries(i, on_entry)
                else:
                    kept[key], i = yield from self._entry(i)
            elif key is not None and key in keep:
                kept[key], i = yield from self._kept(i)
            else:
                i = yield from self._skip(i)
            if self._due():
                yield
            i, more = self._next(i, "}")
        if self._ws(i) != len(s):
            raise json.JSONDecodeError("Extra data", s, i)
        return kept

    def _entries(self, i: int, on_entry: Callable[[object], None]) -> _Steps:
        """The payload's elements: a window of them at a time, and one at a time where one
        does not fit."""
        s = self._s
        i = self._ws(i + 1)
        if s[i : i + 1] == "]":
            return i + 1
        while True:
            run = yield from self._run(i, "[", self._decode)
            if run is None:
                entry, i = yield from self._entry(i)
                entries: list[object] = [entry]
                closed = False
            else:
                entries, i, closed = run
            for entry in entries:
                on_entry(entry)
                self.work += ENTRY_WORK
                if self.work >= self._pause_at:
                    self._pause_at = self.work + BATCH
                    yield
            if closed:
                return i
            i, more = self._next(i, "]")
            if not more:
                return i

    def _one(self, i: int, decode: _Decode) -> tuple[Any, int] | None:
        """The value at ``i`` and its end, when it fits a window; else None."""
        s, window = self._s, self._window
        try:
            if i + window >= len(s):
                value, end = decode(s, i)
            else:
                value, end = decode(s[i : i + window])
                if end > window - 3 and s[i] in _NUMBER_START:
                    return None  # it may go on past the cut ("1.5e" + "-7")
                end += i
        except ValueError:  # not JSON here, or an integer past the digit limit
            self.work += window
            return None
        self.work += end - i
        return value, end

    def _run(
        self, i: int, opening: str, decode: _Decode
    ) -> Generator[None, None, tuple[Any, int, bool] | None]:
        """The elements (members) of a container from ``i``, the start of one, up to the
        last cut that fits a window: (the list or dict of them, where they end, whether the
        container ended there too). None when no run of whole elements fits."""
        s, close = self._s, _CLOSE[opening]
        if s[i : i + 1] == close:  # after a comma: json.loads refuses a trailing one
            raise json.JSONDecodeError("Expecting value", s, i)
        end = min(i + self._window, len(s))
        cut = _CUT.get(s[i : i + 1], ",") if opening == "[" else ","
        skew = len(cut) - 1
        at = s.rfind(cut, i, end) + skew
        for _ in range(_TRIES):
            if at <= i:
                break
            self.work += at - i
            try:
                value, stop = decode(opening + s[i:at] + close)
            except ValueError:  # not JSON here, or an integer past the digit limit
                at = s.rfind(cut, i, at - skew) + skew
                if self._due():
                    yield
                continue
            if stop == at - i + 2:
                return value, at, False
            return value, i + stop - 1, True
        self.work += end - i
        try:  # the container may end inside the window
            value, stop = decode(opening + s[i:end])
        except ValueError:  # not JSON here, or an integer past the digit limit
            if self._due():
                yield
            return None
        return value, i + stop - 1, True

    def _key(self, i: int) -> Generator[None, None, tuple[str | None, int]]:
        """A member's name, or None for one longer than a window (no field is named so)."""
        if self._s[i : i + 1] != '"':
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", self._s, i
            )
        one = self._one(i, self._decode)
        if one is not None:
            return one
        return None, (yield from self._string(i))

    def _kept(self, i: int) -> Generator[None, None, tuple[Any, int]]:
        """A value kept as decoded, or Oversized when it does not fit a window."""
        one = self._one(i, self._decode)
        if one is not None:
            return one
        end = yield from self._skip(i)
        return Oversized(_KINDS.get(self._s[i], "a number"), end - i), end

    def _entry(self, i: int) -> Generator[None, None, tuple[Any, int]]:
        """One entry: an object larger than a window is read member by member, each member
        decoded or Oversized; anything else as ``_kept``."""
        s = self._s
        if s[i : i + 1] != "{":
            return (yield from self._kept(i))
        one = self._one(i, self._decode)
        if one is not None:
            return one
        entry: dict[str, Any] = {}
        i = self._ws(i + 1)
        if s[i : i + 1] == "}":
            return entry, i + 1
        while True:
            run = yield from self._run(i, "{", self._decode)
            if run is None:
                key, i = yield from self._key(i)
                value, i = yield from self._kept(self._expect(self._ws(i), ":"))
                members = {} if key is None else {key: value}
                closed = False
            else:
                members, i, closed = run
            for key, value in members.items():
                if key in entry or len(entry) < MAX_MEMBERS:
                    entry[key] = value
            if self._due():
                yield
            if closed:
                return entry, i
            i, more = self._next(i, "}")
            if not more:
                return entry, i

    def _skip(self, i: int) -> _Steps:
        """Past the value at ``i``, checked as ``json.loads`` would check it, without
        keeping any of it: containers a window at a time, on an explicit stack."""
        s = self._s
        one = self._one(i, self._check)
        if one is not None:
            return one[1]
        opening = s[i : i + 1]
        if opening not in _CLOSE:
            return (yield from self._scalar(i))
        stack = [opening]
        i = self._ws(i + 1)
        after = s[i : i + 1] == _CLOSE[opening]
        if after:
            stack.pop()
            i += 1
        while stack:
            if after:
                i, more = self._next(i, _CLOSE[stack[-1]])
                if more:
                    after = False
                else:
                    stack.pop()
                continue
            opening = stack[-1]
            run = yield from self._run(i, opening, self._check)
            if run is not None:
                _, i, closed = run
                if closed:
                    stack.pop()
            else:
                i, inner = yield from self._element(i, opening)
                if inner is not None:
                    stack.append(inner)
                    if len(stack) > self._depth:
                        raise RecursionError("JSON nested too deeply")
                    i = self._ws(i)
                    if s[i : i + 1] != _CLOSE[inner]:
                        continue
                    stack.pop()
                    i += 1
            after = True
            self.work += _STEP
            if self._due():
                yield
        return i

    def _element(self, i: int, opening: str) -> Generator[None, None, tuple[int, str | None]]:
        """One element (member) that no run took: past it, or into it when it is a
        container that does not fit a window (the index after its opening, and the opening)."""
        s = self._s
        if opening == "{":
            _, i = yield from self._key(i)
            i = self._expect(self._ws(i), ":")
        one = self._one(i, self._check)
        if one is not None:
            return one[1], None
        if self._due():
            yield
        char = s[i : i + 1]
        if char in _CLOSE:
            return i + 1, char
        return (yield from self._scalar(i)), None

    def _scalar(self, i: int) -> _Steps:
        """Past a string or number longer than a window, a window at a time, or a literal."""
        s = self._s
        if s[i : i + 1] == '"':
            return (yield from self._string(i))
        for literal in _LITERALS:
            if s.startswith(literal, i):
                return i + len(literal)
        j = i + 1 if s[i : i + 1] == "-" else i
        if s[j : j + 1] == "0":
            j += 1
        elif s[j : j + 1] in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):
            j = yield from self._digits(j + 1)
        else:
            raise json.JSONDecodeError("Expecting value", s, i)
        if s[j : j + 1] == "." and s[j + 1 : j + 2].isdigit():
            j = yield from self._digits(j + 1)
        if s[j : j + 1] in ("e", "E"):
            k = j + 2 if s[j + 1 : j + 2] in ("+", "-") else j + 1
            if s[k : k + 1].isdigit():
                j = yield from self._digits(k)
        return j

    def _digits(self, i: int) -> _Steps:
        s, n = self._s, len(self._s)
        while True:
            end = min(i + self._window, n)
            match = _DIGITS.match(s, i, end)
            assert match is not None  # the pattern matches the empty string
            self.work += match.end() - i
            i = match.end()
            if i < end or end == n:
                return i
            if self._due():
                yield

    def _string(self, i: int) -> _Steps:
        """Past the string at ``i``, its characters and escapes checked as the decoder
        checks them."""
        s, n = self._s, len(self._s)
        i += 1
        while True:
            end = min(i + self._window, n)
            match = _STRING_BODY.match(s, i, end)
            assert match is not None  # the pattern matches the empty string
            j = match.end()
            self.work += j - i + _STEP
            if s[j : j + 1] == '"':
                return j + 1
            if j < end and not (s[j] == "\\" and end < n and j + 6 > end):
                raise json.JSONDecodeError("Invalid or unterminated string", s, j)
            if j == n:
                raise json.JSONDecodeError("Unterminated string", s, j)
            i = j
            if self._due():
                yield
