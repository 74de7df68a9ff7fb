"""Where a reply's entries are, and which of them a probe reads (SPEC 6b).

A declaration may put its entries a few objects down (``payload = "rate_card.rates.rate"``)
and may read several entries per key, the latest by a date, or every entry of an account-level
table; ``replies`` walks the reply, and these rules pick the entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.parsers import parse_date, parse_uk_timestamp
from aaisp_multi_exporter.chaos.records import Row, describe, raw_value
from aaisp_multi_exporter.config import normalise_field

__all__ = ["MAX_TABLE_ENTRIES", "descend", "json_type", "members", "moment_of"]

#: Entries of an account-level table (``entries = "all"``) a probe reads; the rest noted.
MAX_TABLE_ENTRIES = 1000


def moment_of(row: Row, index: int) -> float | None:
    """A row's ``order_by`` value as Unix seconds: a date-time or a date, in UK time."""
    return _moment(raw_value(row, index))


def _moment(value: object) -> float | None:
    """An ``order_by`` value: a date-time or a date, in UK time."""
    moment = parse_uk_timestamp(value)
    return moment if moment is not None else parse_date(value)


def descend(value: object, path: tuple[str, ...]) -> object:
    """Follow a nested ``payload`` (``rate_card.rates.rate``) from its first step's value
    through objects, and arrays of one object, to the entries: an array or a lone object.
    A missing step is an ``invalid_response`` naming it and the members found there."""
    for depth, step in enumerate(path[1:], start=1):
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        where = ".".join(path[:depth])
        if not isinstance(value, dict):
            raise ChaosError(
                Outcome.INVALID_RESPONSE,
                f'reply\'s "{where}" is a JSON {json_type(value)}, not an object holding "{step}"',
            )
        spelt = [name for name in value if normalise_field(name) == normalise_field(step)]
        if step not in value and not spelt:
            raise ChaosError(
                Outcome.INVALID_RESPONSE,
                f'reply has no "{step}" in "{where}" (members there: {members(value)})',
            )
        value = value[step if step in value else spelt[-1]]
    if not isinstance(value, list | dict):
        raise ChaosError(
            Outcome.INVALID_RESPONSE,
            f'reply\'s "{".".join(path)}" is a JSON {json_type(value)}, not entries',
        )
    return value


def members(value: Mapping[str, object]) -> str:
    """A few of an object's member names, for a message (CHAOS's names, never values)."""
    names = [describe(name) for name in list(value)[:10]]
    more = len(value) - len(names)
    return (", ".join(names) or "none") + (f" and {more} more" if more > 0 else "")


def json_type(value: object) -> str:
    """JSON's name for a decoded value's type, for messages."""
    return {
        list: "array",
        dict: "object",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), "value")
