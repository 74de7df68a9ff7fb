"""The four CHAOS credentials and the three forms each may take in a table.

``control_password = "..."`` (inline), ``control_password_file = "/run/secrets/x"`` or
``control_password_env = "VARIABLE"``. A :class:`CredentialForms` model validates what one
credential's keys hold and resolves it into its value. Whatever a credential key holds may be
a password pasted into the wrong key, so no message here ever shows it: not the inline text,
not a file path, not a variable name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from aaisp_multi_exporter.config.problems import PathPart, Problems, explain, os_reason
from aaisp_multi_exporter.config.secret import Secret

__all__ = [
    "CREDENTIAL_FIELDS",
    "CREDENTIAL_KEYS",
    "SECRET_FIELDS",
    "CredentialForms",
    "CredentialSource",
    "given_forms",
    "pairing_problem",
    "resolve_credentials",
    "resolve_one",
]

CREDENTIAL_FIELDS: tuple[str, ...] = (
    "control_login",
    "control_password",
    "account_number",
    "account_password",
)
"""The CHAOS credential attributes, in the order they are sent and rendered."""

SECRET_FIELDS = frozenset({"control_password", "account_password"})
_SUFFIXES: dict[str, Literal["inline", "file", "env"]] = {
    "": "inline",
    "_file": "file",
    "_env": "env",
}
CREDENTIAL_KEYS: tuple[str, ...] = tuple(
    name + suffix for name in CREDENTIAL_FIELDS for suffix in _SUFFIXES
)
"""Every key a credential may be given as; none of their values is ever shown."""

_MAX_SECRET_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where a credential came from, so ``/config`` can name the file or variable, not the value."""

    kind: Literal["inline", "file", "env"]
    reference: str | None = None
    """The file path (as opened) or the environment variable name; None for inline."""


class CredentialForms(BaseModel):
    """One credential's keys in a table (``x``, ``x_file``, ``x_env``): exactly one is allowed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    name: str
    # Any of them may hold a password pasted into the wrong key: kept out of repr too.
    inline: str | None = Field(None, repr=False)
    file: str | None = Field(None, repr=False)
    env: str | None = Field(None, repr=False)

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> CredentialForms | None:
        """The forms of ``name`` given in ``table``; None when it gives none."""
        given = given_forms(name, table)
        return cls.model_validate({"name": name, **given}) if given else None

    @staticmethod
    def key_of(name: str, kind: str) -> str:
        """The key of one form in a table: (``control_password``, ``file``) -> ``..._file``."""
        return name + next(suffix for suffix, each in _SUFFIXES.items() if each == kind)

    @field_validator("inline", "file", "env")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value == "":
            raise PydanticCustomError("empty", "must not be empty")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, data: Any) -> Any:
        """Checked first: with two forms given, what either holds does not matter yet."""
        if isinstance(data, Mapping) and sum(kind in data for kind in _SUFFIXES.values()) > 1:
            choices = ", ".join(str(data.get("name")) + suffix for suffix in _SUFFIXES)
            raise PydanticCustomError("forms", "give only one of {choices}", {"choices": choices})
        return data

    @property
    def kind(self) -> Literal["inline", "file", "env"]:
        return "file" if self.file is not None else "env" if self.env is not None else "inline"

    def resolve(
        self, env: Mapping[str, str], base_dir: Path | None
    ) -> tuple[str, CredentialSource]:
        """The value, read from the file or variable at every load; PydanticCustomError if not.

        A relative path is read from ``base_dir`` (the directory of the file that names it).
        """
        if self.file is not None:
            path = Path(self.file)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            try:
                value = _read_secret_file(path)
            except OSError as exc:
                raise _problem(f"names a file that cannot be read: {os_reason(exc)}") from None
            except ValueError as exc:
                raise _problem(f"names a file that cannot be read: {exc}") from None
            if value == "":
                raise _problem("names a file that is empty")
            return value, CredentialSource("file", str(path))
        if self.env is not None:
            found = env.get(self.env)
            if found is None:
                raise _problem("names an environment variable that is not set")
            if found == "":
                raise _problem("names an environment variable that is empty")
            return found, CredentialSource("env", self.env)
        assert self.inline is not None  # the model holds exactly one form
        return self.inline, CredentialSource("inline", None)


def resolve_credentials(
    table: Mapping[str, Any], env: Mapping[str, str], base_dir: Path | None
) -> tuple[dict[str, Any], Problems]:
    """Every credential ``table`` gives, by field, passwords as Secret; and the problems.

    The result also holds ``sources``: where each value came from, for ``/config``.
    """
    values: dict[str, Any] = {}
    sources: dict[str, CredentialSource] = {}
    found: Problems = []
    for name in CREDENTIAL_FIELDS:
        resolved, problems = resolve_one(name, table, env, base_dir)
        found += problems
        if resolved is not None:
            value, sources[name] = resolved
            values[name] = Secret(value) if name in SECRET_FIELDS else value
    return {**values, "sources": sources}, found


def resolve_one(
    name: str, table: Mapping[str, Any], env: Mapping[str, str], base_dir: Path | None
) -> tuple[tuple[str, CredentialSource] | None, Problems]:
    """One value given in the three forms (``name``, ``name_file``, ``name_env``): the
    value and its source, None when the table gives none; and the problems, at their key."""
    try:
        forms = CredentialForms.from_table(name, table)
    except ValidationError as exc:
        return None, [_relocated(name, error) for error in exc.errors()]
    if forms is None:
        return None, []
    try:
        return forms.resolve(env, base_dir), []
    except PydanticCustomError as exc:
        return None, [((CredentialForms.key_of(name, forms.kind),), exc.message())]


def _relocated(name: str, error: ErrorDetails) -> tuple[tuple[PathPart, ...], str]:
    """A CredentialForms error at the table key it is about, never showing the value."""
    loc = error["loc"]
    key = CredentialForms.key_of(name, str(loc[0])) if loc else name
    return (key, *loc[1:]), explain(error, CredentialForms, show=False)


def given_forms(name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """The forms of one credential that ``table`` gives, by kind (``inline``/``file``/``env``)."""
    return {
        kind: table[name + suffix] for suffix, kind in _SUFFIXES.items() if name + suffix in table
    }


def pairing_problem(present: Collection[str]) -> str | None:
    """Why a set of credential fields does not make a usable CHAOS login, if it does not."""
    login = "control_login" in present
    password = "control_password" in present
    number = "account_number" in present
    account_password = "account_password" in present
    if password and not login:
        return "control_password needs control_login"
    if account_password and not number:
        return "account_password needs account_number"
    if number and not account_password:
        return "account_number needs account_password"
    if password and number:
        return (
            "give control_login and control_password, or account_number and "
            "account_password (optionally with control_login), not both"
        )
    if (login and password) or (number and account_password):
        return None
    return "needs control_login and control_password, or account_number and account_password"


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("credential", message)


def _read_secret_file(path: Path) -> str:
    """A credential file's text minus one trailing newline (what ``echo`` and editors add)."""
    with path.open("rb") as handle:
        data = handle.read(_MAX_SECRET_FILE_BYTES + 1)
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text
