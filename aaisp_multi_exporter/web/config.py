"""exporter-toolkit's web config file as pydantic models: what each key may hold.

The models are the configuration, as in ``config/models.py``: a key is a field, its type and
its validator; ``load.py`` turns their errors into messages with ``config/problems.py``, so a
problem reads the same here as in ``modules.toml``. The format is exporter-toolkit's
(its web-configuration.md; ours is docs/web-config.md), so one file can serve this exporter
and the Go exporters beside it; what Python's ``ssl`` cannot do the same way is refused
with a message that says so.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from aaisp_multi_exporter.config.problems import (
    ProblemError,
    describe,
    did_you_mean,
    os_reason,
    quote,
)

__all__ = [
    "ALLOWED_HEADERS",
    "CLIENT_AUTH_TYPES",
    "PRODUCT",
    "TLS_VERSIONS",
    "HTTPServerConfig",
    "NotRegular",
    "TLSSettings",
    "WebConfig",
    "WebConfigError",
    "WebLoadContext",
    "YamlTable",
    "read_regular",
]

PRODUCT = "aaisp-multi-exporter"

ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
#: exporter-toolkit's ``client_auth_type`` values; "RequireClientCert" is its legacy alias.
CLIENT_AUTH_TYPES: tuple[str, ...] = get_args(ClientAuthType)
_CLIENT_AUTH_ALIASES = {"RequireClientCert": "RequireAnyClientCert"}
#: Client auth types that need a CA to verify against (Python verifies every certificate it
#: asks for: it cannot accept an unverified one as Go's RequireAnyClientCert does).
_NEEDS_CA = frozenset(
    {"RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"}
)

TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_OLD_TLS_VERSIONS = frozenset({"TLS10", "TLS11"})
_VERSION_NAMES = {version: name for name, version in TLS_VERSIONS.items()}

#: exporter-toolkit's allow-list: header -> accepted values (empty: any value).
ALLOWED_HEADERS: dict[str, tuple[str, ...]] = {
    "Content-Security-Policy": (),
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
}

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_BCRYPT_SHAPE = "want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters"
_MIN_COST, _MAX_COST = 4, 31
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----")
_ENCRYPTED_KEY = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WebConfigError(ProblemError):
    """Every problem found in a web config file; none of them quotes a hash or a password."""


# --------------------------------------------------------------------------- files


class NotRegular(Exception):
    """A device, FIFO or directory where a file was expected."""


def read_regular(path: Path) -> bytes:
    """Read a file, refusing devices and FIFOs that would block or never end."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise NotRegular
    return path.read_bytes()


@dataclass
class WebLoadContext:
    """What validation needs from outside the file, and what it read (pydantic's context)."""

    base_dir: Path
    """Where relative certificate paths are read from: the directory of the web config file."""
    file_digests: dict[str, bytes] = field(default_factory=dict)
    """sha256 of each file a key names, by key, so a later change can be noticed."""


# --------------------------------------------------------------------------- models


def _problem(message: str) -> PydanticCustomError:
    # The message travels as a context value, so braces in a path are never placeholders.
    return PydanticCustomError("web_config", "{message}", {"message": message})


def _at(loc: tuple[str, ...], message: str) -> InitErrorDetails:
    """One of several problems a validator reports together, at ``loc`` inside its field."""
    return {"type": _problem(message), "loc": loc, "input": None}


def _expected_string() -> PydanticCustomError:
    """pydantic's own error kind, so ``explain`` words it as for a plain ``str`` field."""
    return PydanticCustomError("string_type", "Input should be a valid string")


class YamlTable(BaseModel):
    """Shared rules: no unknown keys, no coercion (YAML types are exact), never echo input.

    A key left empty (YAML null) means the default, as Go's YAML decoding leaves such a field
    at its zero value.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)
    #: exporter-toolkit keys this exporter knows but does not implement, with what to do instead.
    unsupported: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def file_keys(cls) -> list[str]:
        """The keys a file may set, for "did you mean"; excluded fields are the loader's."""
        return [info.alias or name for name, info in cls.model_fields.items() if not info.exclude]

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keys = set(cls.file_keys())
        return {key: value for key, value in data.items() if value is not None or key not in keys}


class TLSSettings(YamlTable):
    """``tls_server_config``: the server certificate and what is asked of clients."""

    unsupported: ClassVar[Mapping[str, str]] = {
        "cert": "use cert_file",
        "key": "use key_file",
        "client_ca": "use client_ca_file",
        "cipher_suites": "the OpenSSL defaults apply",
        "curve_preferences": "the OpenSSL defaults apply",
        "client_allowed_sans": "",
    }

    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    prefer_server_cipher_suites: bool = True

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        if self.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
            return ssl.CERT_REQUIRED
        if self.client_auth_type == "VerifyClientCertIfGiven" or (
            self.client_auth_type == "RequestClientCert" and self.client_ca_file is not None
        ):
            return ssl.CERT_OPTIONAL
        return ssl.CERT_NONE

    def files(self) -> list[tuple[str, Path]]:
        """The files whose content the running server depends on, by config key."""
        out = [("cert_file", self.cert_file), ("key_file", self.key_file)]
        if self.client_ca_file is not None:
            out.append(("client_ca_file", self.client_ca_file))
        return out

    @field_validator("cert_file", "key_file", "client_ca_file", mode="before")
    @classmethod
    def _pem_file(cls, value: object, info: ValidationInfo) -> Path:
        """Read now, so a missing or wrong file is told at load with the key that names it."""
        if not isinstance(value, str):
            raise _expected_string()
        if not value.strip():
            raise _problem("must not be empty")
        context = info.context if isinstance(info.context, WebLoadContext) else None
        path = Path(value)
        if not path.is_absolute() and context is not None:
            path = context.base_dir / path
        shown = quote(str(path))
        try:
            data = read_regular(path)
        except OSError as exc:
            raise _problem(f"cannot read {shown}: {os_reason(exc)}") from None
        except NotRegular:
            raise _problem(f"{shown} is not a regular file") from None
        key = info.field_name or ""
        if context is not None:
            context.file_digests[key] = hashlib.sha256(data).digest()
        if key != "key_file" and _CERTIFICATE not in data:
            raise _problem(f"no PEM certificate in {shown}")
        if key == "key_file" and _ENCRYPTED_KEY.search(data):
            raise _problem(f"{shown} is encrypted; give an unencrypted key")
        if key == "key_file" and not _PRIVATE_KEY.search(data):
            raise _problem(f"no PEM private key in {shown}")
        return path

    @field_validator("client_auth_type", mode="before")
    @classmethod
    def _client_auth_type(cls, value: object) -> str:
        if value == "":
            return "NoClientCert"
        if not isinstance(value, str):
            raise _expected_string()
        value = _CLIENT_AUTH_ALIASES.get(value, value)
        if value not in CLIENT_AUTH_TYPES:
            raise _problem(f"unknown value {quote(value)}; known: {', '.join(CLIENT_AUTH_TYPES)}")
        return value

    @field_validator("min_version", "max_version", mode="before")
    @classmethod
    def _tls_version(cls, value: object) -> ssl.TLSVersion:
        if not isinstance(value, str):
            raise _expected_string()
        if value in _OLD_TLS_VERSIONS:
            raise _problem(f"{value} is not supported; use TLS12 or TLS13")
        if value not in TLS_VERSIONS:
            raise _problem(f"unknown TLS version {quote(value)}; use TLS12 or TLS13")
        return TLS_VERSIONS[value]

    @model_validator(mode="after")
    def _consistent(self) -> TLSSettings:
        errors: list[InitErrorDetails] = []
        if self.client_ca_file is not None and self.client_auth_type == "NoClientCert":
            errors.append(
                _at(
                    ("client_ca_file",),
                    "set, but client_auth_type is NoClientCert; "
                    "use RequireAndVerifyClientCert to check client certificates",
                )
            )
        if self.client_auth_type in _NEEDS_CA and self.client_ca_file is None:
            errors.append(
                _at(
                    ("client_auth_type",),
                    f"{self.client_auth_type} needs client_ca_file "
                    "(the CA that signs client certificates)",
                )
            )
        if self.max_version < self.min_version:
            low, high = _VERSION_NAMES[self.min_version], _VERSION_NAMES[self.max_version]
            errors.append(_at(("max_version",), f"{high} is below min_version {low}"))
        if errors:
            raise ValidationError.from_exception_data("tls_server_config", errors)
        return self


class HTTPServerConfig(YamlTable):
    """``http_server_config``: response headers; ``http2`` is accepted and ignored."""

    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True

    @field_validator("headers", mode="before")
    @classmethod
    def _allowed_headers(cls, value: object) -> tuple[tuple[str, str], ...]:
        """exporter-toolkit's allow-list, in file order; a blank value sets nothing."""
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
        errors: list[InitErrorDetails] = []
        headers: list[tuple[str, str]] = []
        for name, header in value.items():
            if name not in ALLOWED_HEADERS:
                shown = str(name)
                errors.append(
                    _at(
                        (),
                        f"header {quote(shown)} cannot be configured; "
                        f"allowed: {', '.join(ALLOWED_HEADERS)}"
                        + did_you_mean(shown, ALLOWED_HEADERS),
                    )
                )
            elif header is None or header == "":
                continue  # exporter-toolkit: "Unset if blank".
            elif not isinstance(header, str):
                got = describe(header, dialect="yaml")
                errors.append(_at((name,), f"expected a string, got {got}"))
            elif ALLOWED_HEADERS[name] and header not in ALLOWED_HEADERS[name]:
                allowed = ", ".join(ALLOWED_HEADERS[name])
                errors.append(_at((name,), f"must be one of {allowed}, got {quote(header)}"))
            elif _CONTROL.search(header):
                errors.append(_at((name,), "must not contain control characters"))
            else:
                headers.append((name, header))
        if errors:
            raise ValidationError.from_exception_data("headers", errors)
        return tuple(headers)


class WebConfig(YamlTable):
    """A validated web config. Hashes stay out of ``repr``: they must never reach a log."""

    unsupported: ClassVar[Mapping[str, str]] = {"rate_limit": ""}

    tls: TLSSettings | None = Field(None, alias="tls_server_config")
    http: HTTPServerConfig = Field(default_factory=HTTPServerConfig, alias="http_server_config")
    users: dict[str, bytes] = Field(default_factory=dict, alias="basic_auth_users", repr=False)
    # Filled in by the loader, never keys of the file.
    dummy_hash: bytes = Field(b"", exclude=True, repr=False)
    """Checked for unknown users so that a wrong name costs as long as a wrong password."""
    file_digests: dict[str, bytes] = Field(default_factory=dict, exclude=True, repr=False)
    """sha256 of every file read, by config key ("" for the web config file itself)."""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.http.headers

    @property
    def http2(self) -> bool:
        return self.http.http2

    @property
    def basic_auth(self) -> bool:
        return bool(self.users)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_set(cls, value: object) -> object:
        """A table that sets nothing (empty, or every key left blank) means plain HTTP."""
        if isinstance(value, dict) and all(setting is None for setting in value.values()):
            return None
        return value

    @field_validator("users", mode="before")
    @classmethod
    def _bcrypt_users(cls, value: object) -> dict[str, bytes]:
        """Every entry checked, in file order; a value is never quoted (a hash, or a password
        pasted in by mistake)."""
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
        errors: list[InitErrorDetails] = []
        users: dict[str, bytes] = {}
        for name, hashed in value.items():
            problem = _user_problem(name, hashed)
            if problem is not None:
                errors.append(problem)
            elif isinstance(name, str) and isinstance(hashed, str):
                users[name] = hashed.strip().encode("ascii")
        if errors:
            raise ValidationError.from_exception_data("basic_auth_users", errors)
        return users


def _user_problem(name: object, hashed: object) -> InitErrorDetails | None:
    if not isinstance(name, str):
        got = describe(name, dialect="yaml")
        return _at((), f"user names must be strings, got {got}; quote it")
    if name == "":
        return _at((name,), "user name must not be empty")
    if ":" in name or _CONTROL.search(name):
        return _at((name,), 'user name must not contain ":" or control characters')
    if not isinstance(hashed, str):
        got = describe(hashed, show=False, dialect="yaml")
        return _at((name,), f"expected a bcrypt hash, got {got}")
    match = _BCRYPT_HASH.fullmatch(hashed.strip())
    if match is None:
        return _at((name,), f"not a bcrypt hash ({_BCRYPT_SHAPE})")
    cost = int(match.group(1))
    if not _MIN_COST <= cost <= _MAX_COST:
        message = f"bcrypt cost must be between {_MIN_COST} and {_MAX_COST}, got {cost}"
        return _at((name,), message)
    return None
