"""A string wrapper for credentials, so that printing, logging or serialising one is harmless.

A CHAOS password in a log line, a ``/config`` page, a debug answer or a traceback is a leak
(anchors: bbe#599, bbe#1371). Rather than remembering to redact at every output, the value
is wrapped at load time and only :meth:`Secret.reveal` hands it out: the one place that needs
it is the POST body sent to CHAOS.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic_core import core_schema

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue

__all__ = ["REDACTED", "Secret"]

REDACTED = "<secret>"
"""What every textual form of a :class:`Secret` shows (the Prometheus ecosystem's spelling)."""


class Secret:
    """A credential that cannot leak by accident.

    Equality and hashing use the value, so a reload can tell whether a password changed, but
    no text, pickle or serialised form ever carries it.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            # The type only: the value may be the very thing we must not print.
            raise TypeError(f"Secret needs a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the value; the only way to get it, so every use is easy to find."""
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        # Ignoring the spec means no format string can ever reach the value.
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing secrets on reload leaks nothing through timing.
        return hmac.compare_digest(
            self._value.encode("utf-8", "surrogatepass"),
            other._value.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        # Immutable, so sharing is a correct copy; and copying must not go through pickling,
        # which redacts.
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickles leave the process (caches, queues, files): they carry the placeholder only.
        return (Secret, (REDACTED,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Let pydantic models hold a Secret: accept a str or a Secret, always dump ``<secret>``."""
        return core_schema.no_info_plain_validator_function(
            cls._from_pydantic,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _redact, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe it as a write-only password string."""
        return {"type": "string", "format": "password", "writeOnly": True}

    @classmethod
    def _from_pydantic(cls, value: object) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return cls(value)
        raise ValueError(f"expected a string, got {type(value).__name__}")


def _redact(_value: object) -> str:
    return REDACTED
