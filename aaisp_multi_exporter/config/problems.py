"""How a configuration problem is told: one error carrying every problem, and the wording.

Shared by every file the exporter reads (``modules.toml`` here, the web config file in
``web/load.py``), so a problem reads the same wherever it is found:
``<file>: <where>: <what is wrong>``, with the offending value only when it cannot be a secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, get_args

import annotated_types
from pydantic import BaseModel
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

__all__ = [
    "ConfigError",
    "ProblemError",
    "Problems",
    "custom_error",
    "describe",
    "did_you_mean",
    "explain",
    "format_path",
    "os_reason",
    "quote",
    "reraisable",
    "toml_key",
    "toml_value",
]

PathPart = str | int
Problems = list[tuple[tuple[PathPart, ...], str]]
"""Problems of one table: where (a path inside it) and what."""
Dialect = Literal["toml", "yaml"]

_MAX_SHOWN_CHARS = 80
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
#: What each file format calls a mapping and a list, so messages use the reader's words.
_NOUNS: dict[Dialect, tuple[str, str]] = {"toml": ("table", "array"), "yaml": ("mapping", "list")}


class ProblemError(Exception):
    """Every problem found in one load, so a single check or reload shows them all."""

    problems: list[str]

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ProblemError], tuple[list[str]]]:
        # The default would rebuild from the joined text and split it into characters.
        return (type(self), (self.problems,))


class ConfigError(ProblemError):
    """The problems of the ``--config.file`` files (``modules.toml`` and friends)."""


# --------------------------------------------------------------------------- words


def quote(text: str) -> str:
    """A TOML basic string; also makes odd characters visible (and harmless) in messages."""
    out = []
    for char in text:
        code = ord(char)
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # lone surrogates (os.environ) are not valid TOML
            out.append("\\uFFFD")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.fullmatch(key) else quote(key)


def toml_value(value: object) -> str:
    """The few TOML value types a configuration holds; bool before int, as bool is an int."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def format_path(path: Sequence[PathPart]) -> str:
    """``auths.home.control_login`` / ``modules.quota.commands[0]``, quoting odd names."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + toml_key(part)
    return out


def describe(value: object, *, show: bool = True, dialect: Dialect = "toml") -> str:
    """The value's type in the file's own words, plus the value unless it may be a secret."""
    mapping, sequence = _NOUNS[dialect]
    if isinstance(value, bool):
        kind, text = "boolean", "true" if value else "false"
    elif isinstance(value, int):
        kind, text = "integer", str(value)
    elif isinstance(value, float):
        kind, text = "float", toml_value(value)
    elif isinstance(value, str):
        shortened = value if len(value) <= _MAX_SHOWN_CHARS else value[:_MAX_SHOWN_CHARS] + "..."
        kind, text = "string", quote(shortened)
    elif value is None:
        return "null"
    elif isinstance(value, list | tuple):
        return sequence
    elif isinstance(value, dict):
        return mapping
    elif isinstance(value, dt.datetime):
        return "date-time"
    elif isinstance(value, dt.date):
        return "date"
    elif isinstance(value, dt.time):
        return "time"
    else:
        return type(value).__name__
    return f"{kind} {text}" if show else kind


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``'; did you mean "x"?'`` for the closest choice, or nothing when none is close.

    ``cutoff`` is difflib's similarity ratio; raise it for choices that share a long prefix.
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"; did you mean {quote(close[0])}?" if close else ""


def os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# --------------------------------------------------------------------------- pydantic errors

_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "string_type": "a string",
}
#: Container errors, as an index into the dialect's (mapping, sequence) nouns.
_EXPECTED_CONTAINER = {"dict_type": 0, "model_type": 0, "list_type": 1, "tuple_type": 1}
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def explain(
    error: ErrorDetails,
    model: type[BaseModel],
    *,
    show: bool,
    known_keys: Iterable[str] = (),
    dialect: Dialect = "toml",
) -> str:
    """One pydantic error in the file's words; ``show`` False never prints the value.

    ``known_keys`` are the keys the table accepts, for a suggestion after "unknown key".
    """
    kind = error["type"]
    value: Any = error.get("input")
    key = str(error["loc"][0]) if error["loc"] else ""
    if kind == "extra_forbidden":
        return "unknown key" + did_you_mean(key, known_keys)
    if kind == "missing":
        return "missing required key"
    got = describe(value, show=show, dialect=dialect)
    if kind in _EXPECTED_CONTAINER:
        noun = _NOUNS[dialect][_EXPECTED_CONTAINER[kind]]
        return f"expected {'an' if noun[0] in 'aeiou' else 'a'} {noun}, got {got}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "literal_error":
        choices = [str(choice) for choice in get_args(model.model_fields[key].annotation)]
        hint = did_you_mean(value, choices) if show and isinstance(value, str) else ""
        return f"must be {' or '.join(quote(c) for c in choices)}, got {got}{hint}"
    if kind == "finite_number":
        return f"must be a finite number, got {got}"
    if kind in _RANGE_ERRORS:
        shown = toml_value(value) if show and isinstance(value, int | float) else "a hidden value"
        return f"{_range_text(model, key)}, got {shown}"
    return str(error.get("msg", "invalid value"))


def _range_text(model: type[BaseModel], key: str) -> str:
    """``must be between 0 and 10`` from the field's own constraints, so they cannot drift."""
    low: object = None
    high: object = None
    low_inclusive = True
    for item in model.model_fields[key].metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_inclusive = item.gt, False
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if low_inclusive and low is not None and high is not None:
        return f"must be between {_number(low)} and {_number(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'at least' if low_inclusive else 'greater than'} {_number(low)}")
    if high is not None:
        parts.append(f"at most {_number(high)}")
    return "must be " + " and ".join(parts)


def _number(value: object) -> str:
    """A bound as an operator would write it: ``600`` rather than ``600.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def custom_error(message: str) -> InitErrorDetails:
    """One of several errors a validator raises together, through ``from_exception_data``."""
    # The message travels as a context value, so braces in it are never read as placeholders.
    return {
        "type": PydanticCustomError("config", "{message}", {"message": message}),
        "loc": (),
        "input": None,
    }


def reraisable(error: ErrorDetails) -> InitErrorDetails:
    """An error caught from pydantic's handler, to raise again beside a validator's own."""
    context = {"message": error["msg"], **(error.get("ctx") or {})}
    return {
        "type": PydanticCustomError(error["type"], "{message}", context),
        "loc": error["loc"],
        "input": error["input"],
    }
