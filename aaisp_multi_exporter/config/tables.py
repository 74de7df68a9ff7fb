"""The shape every table of ``modules.toml`` shares: what a file may set, and how problems
are collected, for ``models`` and ``commands`` alike."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from aaisp_multi_exporter.config.problems import Problems, did_you_mean, explain

__all__ = ["LoadContext", "NamedTable", "Table", "TableInvalid", "Unset", "valid_name"]

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_name(name: str) -> bool:
    """Names of credential sets and modules travel in URLs and labels: keep them plain."""
    return _NAME_RE.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Unset:
    """Field metadata: the key may be left out, and this is what applies then (for ``/config``)."""

    meaning: str


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What validation needs from outside the table (passed as pydantic's context)."""

    env: Mapping[str, str] = field(default_factory=dict)
    base_dir: Path | None = None
    """Where relative ``*_file`` paths are read from: the directory of the file naming them."""
    auth_names: Collection[str] = ()
    """Every credential set of the whole configuration, for ``modules.*.auth``."""
    command_names: Collection[str] = ()
    """Every command, built in or declared, for ``modules.*.commands``; none given: only the
    built-ins."""


class TableInvalid(Exception):
    """The problems of one table, before the loader adds the file and the table's path."""

    def __init__(self, found: Problems) -> None:
        super().__init__(f"{len(found)} problem(s)")
        self.found = found


class Table(BaseModel):
    """Shared rules: no unknown keys, no coercion, no inf/nan, never echo input in errors."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
        hide_input_in_errors=True,
    )
    #: Keys whose values may be secrets: messages about them never show the value.
    hidden_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def file_keys(cls) -> list[str]:
        """The keys a file may set, for "did you mean"; excluded fields are the loader's."""
        return [key for key, info in cls.model_fields.items() if not info.exclude]

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, context: LoadContext, name: str = "") -> Self:
        """Validate one table from a file; TableInvalid lists every problem found."""
        model, found = cls._validate_table(table, cls._fixed(name), context)
        if found or model is None:
            raise TableInvalid(found)
        return model

    @classmethod
    def _fixed(cls, name: str) -> dict[str, Any]:
        """The fields the loader fills in, not the file."""
        return {"name": name} if "name" in cls.model_fields else {}

    @classmethod
    def _validate_table(
        cls, table: Mapping[str, Any], fixed: Mapping[str, Any], context: LoadContext
    ) -> tuple[Self | None, Problems]:
        found: Problems = []
        internal = set(cls.model_fields) - set(cls.file_keys())
        for key in table:
            if key in internal:  # a field the loader fills in is no key of the file
                found.append(((key,), "unknown key" + did_you_mean(key, cls.file_keys())))
        data = {key: value for key, value in table.items() if key not in internal}
        try:
            return cls.model_validate({**data, **fixed}, context=context), found
        except ValidationError as exc:
            found += [(tuple(err["loc"]), cls._explain(err)) for err in exc.errors()]
            return None, found

    @classmethod
    def _explain(cls, error: ErrorDetails) -> str:
        key = str(error["loc"][0]) if error["loc"] else ""
        return explain(error, cls, show=key not in cls.hidden_keys, known_keys=cls.file_keys())


class NamedTable(Table):
    name: str = Field(exclude=True)
    """The table's key (``[modules.<name>]``), never a key inside it."""
