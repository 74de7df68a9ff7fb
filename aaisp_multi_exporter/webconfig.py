"""``--web.config.file``: exporter-toolkit's TLS and bcrypt basic auth, for every endpoint.

The file format is exporter-toolkit's (``docs/web-configuration.md``), so one file can serve
this exporter and the Go exporters beside it. Like the toolkit, the file is re-read while the
exporter runs: users, hashes, headers and the server certificate change without a restart.
What Python's ``ssl`` module cannot do the same way is refused at load with a message that
says so, rather than silently behaving differently.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import enum
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import stat
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from aaisp_multi_exporter.logsetup import fields

LOGGER = logging.getLogger("aaisp_multi_exporter.webconfig")

REALM = "aaisp-multi-exporter"
WWW_AUTHENTICATE = f'Basic realm="{REALM}"'
PRODUCT = "aaisp-multi-exporter"

#: exporter-toolkit's ``client_auth_type`` values; "RequireClientCert" is its legacy alias.
CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
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

_TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users"})
_TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
        "max_version",
        "prefer_server_cipher_suites",
    }
)
_HTTP_KEYS = frozenset({"headers", "http2"})
#: exporter-toolkit keys this exporter knows but does not implement, with what to do instead.
_UNSUPPORTED = {
    "rate_limit": "",
    "tls_server_config.cert": "use cert_file",
    "tls_server_config.key": "use key_file",
    "tls_server_config.client_ca": "use client_ca_file",
    "tls_server_config.cipher_suites": "the OpenSSL defaults apply",
    "tls_server_config.curve_preferences": "the OpenSSL defaults apply",
    "tls_server_config.client_allowed_sans": "",
}

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_BCRYPT_SHAPE = "want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters"
_MIN_COST, _MAX_COST = 4, 31
_BCRYPT_MAX_PASSWORD = 72
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----")
_ENCRYPTED_KEY = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")
_SSL_SUFFIX = re.compile(r"\s*\(_ssl\.c:\d+\)$")
_BARE_NAME = re.compile(r"[A-Za-z0-9_@-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WebConfigError(Exception):
    """Every problem found in a web config file; none of them quotes a hash or a password."""

    problems: list[str]

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[WebConfigError], tuple[list[str]]]:
        return (WebConfigError, (self.problems,))


@dataclass(frozen=True)
class TLSSettings:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
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


@dataclass(frozen=True)
class WebConfig:
    """A validated web config. Hashes stay out of ``repr``: they must never reach a log."""

    source: str
    tls: TLSSettings | None = None
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    #: Checked for unknown users so that a wrong name costs as long as a wrong password.
    dummy_hash: bytes = field(default=b"", repr=False)
    #: sha256 of every file read, by config key ("" for the web config file itself).
    file_digests: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def digest(self) -> bytes:
        return _combine(self.file_digests)

    @property
    def basic_auth(self) -> bool:
        return bool(self.users)


# --------------------------------------------------------------------------- loading


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate a web config file; relative file names are next to it."""
    return _load(str(path))[0]


def _load(source: str) -> tuple[WebConfig, ssl.SSLContext | None]:
    """The config and a server context built from it (which is also the TLS validation)."""
    try:
        data = _read_regular(Path(source))
    except OSError as exc:
        raise WebConfigError([f"{source}: cannot read file: {_os_reason(exc)}"]) from None
    except _NotRegular:
        raise WebConfigError([f"{source}: not a regular file"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebConfigError([f"{source}: not valid UTF-8 (at byte {exc.start})"]) from None
    document = _parse_yaml(text, source)
    checker = _Checker(source, Path(source).parent)
    config = checker.check(document)
    context = checker.build_ssl_context(config.tls) if config.tls is not None else None
    if checker.problems:
        raise WebConfigError(checker.problems)
    digests = {"": hashlib.sha256(data).digest(), **checker.file_digests}
    return replace(config, file_digests=digests), context


def _parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` plus the duplicate-key check Go's strict unmarshalling makes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _reject_duplicate_keys(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        # str(exc) would quote the offending line, which may hold a hash: give position only.
        problem = exc.problem or exc.context or "syntax error"
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        raise WebConfigError([f"{source}: invalid YAML: {problem}{where}"]) from None
    except yaml.reader.ReaderError as exc:
        raise WebConfigError(
            [f"{source}: invalid YAML: unacceptable character at position {exc.position}"]
        ) from None
    except yaml.YAMLError as exc:
        raise WebConfigError([f"{source}: invalid YAML: {type(exc).__name__}"]) from None
    finally:
        loader.dispose()


def _reject_duplicate_keys(node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[tuple[str, str]] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {_quote(key_node.value)}", key_node.start_mark
                    )
                seen.add(key)
            _reject_duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item)


class _NotRegular(Exception):
    pass


def _read_regular(path: Path) -> bytes:
    """Read a file, refusing devices and FIFOs that would block or never end."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise _NotRegular
    return path.read_bytes()


class _EncryptedKey(Exception):
    """Raised from the key password callback: never let OpenSSL prompt on a terminal."""


def _refuse_key_password() -> bytes:
    raise _EncryptedKey


class _Checker:
    """Collects every problem, in file order, so one start shows them all."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.problems: list[str] = []
        self.file_digests: dict[str, bytes] = {}

    def add(self, where: str, message: str) -> None:
        self.problems.append(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        )

    def mapping(self, value: object, where: str) -> dict[Any, Any] | None:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.add(where, f"expected a mapping, got {_describe(value)}")
        return None

    def known_keys(self, table: dict[Any, Any], known: frozenset[str], prefix: str) -> None:
        for key in table:
            where = f"{prefix}{key}" if isinstance(key, str) else f"{prefix}{_describe(key)}"
            if where in _UNSUPPORTED:
                hint = _UNSUPPORTED[where]
                self.add(where, f"not supported by {PRODUCT}" + (f"; {hint}" if hint else ""))
            elif key not in known:
                self.add(where, "unknown key")

    def check(self, document: object) -> WebConfig:
        if document is None:
            document = {}
        if not isinstance(document, dict):
            self.add("", f"expected a mapping at the top level, got {_describe(document)}")
            return WebConfig(source=self.source)
        self.known_keys(document, _TOP_KEYS, "")
        tls = self.check_tls(document.get("tls_server_config"))
        headers, http2 = self.check_http(document.get("http_server_config"))
        users = self.check_users(document.get("basic_auth_users"))
        return WebConfig(
            source=self.source,
            tls=tls,
            headers=headers,
            http2=http2,
            users=users,
            dummy_hash=_dummy_hash(users) if users and not self.problems else b"",
        )

    # ----------------------------------------------------------------------- tls_server_config

    def check_tls(self, value: object) -> TLSSettings | None:
        table = self.mapping(value, "tls_server_config")
        if not table:
            return None
        self.known_keys(table, _TLS_KEYS, "tls_server_config.")
        settings = [key for key in table if key in _TLS_KEYS and table[key] is not None]
        if not settings:
            return None
        cert_file = self.path(table, "cert_file", required=True)
        key_file = self.path(table, "key_file", required=True)
        auth_type = self.client_auth_type(table.get("client_auth_type"))
        ca_file = self.path(table, "client_ca_file", required=False)
        if ca_file is not None and auth_type == "NoClientCert":
            self.add(
                "tls_server_config.client_ca_file",
                "set, but client_auth_type is NoClientCert; "
                "use RequireAndVerifyClientCert to check client certificates",
            )
        if auth_type in _NEEDS_CA and table.get("client_ca_file") is None:
            self.add(
                "tls_server_config.client_auth_type",
                f"{auth_type} needs client_ca_file (the CA that signs client certificates)",
            )
        min_version = self.version(table, "min_version", ssl.TLSVersion.TLSv1_2)
        max_version = self.version(table, "max_version", ssl.TLSVersion.TLSv1_3)
        if min_version is not None and max_version is not None and max_version < min_version:
            self.add(
                "tls_server_config.max_version",
                f"{_VERSION_NAMES[max_version]} is below min_version {_VERSION_NAMES[min_version]}",
            )
        prefer = table.get("prefer_server_cipher_suites", True)
        if prefer is None:
            prefer = True
        if not isinstance(prefer, bool):
            self.add(
                "tls_server_config.prefer_server_cipher_suites",
                f"expected a boolean, got {_describe(prefer)}",
            )
            prefer = True
        if cert_file is None or key_file is None or auth_type is None:
            return None
        if min_version is None or max_version is None:
            return None
        return TLSSettings(
            cert_file=cert_file,
            key_file=key_file,
            client_auth_type=auth_type,
            client_ca_file=ca_file,
            min_version=min_version,
            max_version=max_version,
            prefer_server_cipher_suites=prefer,
        )

    def path(self, table: dict[Any, Any], key: str, *, required: bool) -> Path | None:
        where = f"tls_server_config.{key}"
        value = table.get(key)
        if value is None:
            if required:
                self.add(where, "required when tls_server_config is set")
            return None
        if not isinstance(value, str):
            self.add(where, f"expected a string, got {_describe(value)}")
            return None
        if not value.strip():
            self.add(where, "must not be empty")
            return None
        path = Path(value)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            data = _read_regular(path)
        except OSError as exc:
            self.add(where, f"cannot read {_quote(str(path))}: {_os_reason(exc)}")
            return None
        except _NotRegular:
            self.add(where, f"{_quote(str(path))} is not a regular file")
            return None
        self.file_digests[key] = hashlib.sha256(data).digest()
        shown = _quote(str(path))
        if key == "cert_file" and b"-----BEGIN CERTIFICATE-----" not in data:
            self.add(where, f"no PEM certificate in {shown}")
            return None
        if key == "client_ca_file" and b"-----BEGIN CERTIFICATE-----" not in data:
            self.add(where, f"no PEM certificate in {shown}")
            return None
        if key == "key_file":
            if _ENCRYPTED_KEY.search(data):
                self.add(where, f"{shown} is encrypted; give an unencrypted key")
                return None
            if not _PRIVATE_KEY.search(data):
                self.add(where, f"no PEM private key in {shown}")
                return None
        return path

    def client_auth_type(self, value: object) -> str | None:
        where = "tls_server_config.client_auth_type"
        if value is None or value == "":
            return "NoClientCert"
        if not isinstance(value, str):
            self.add(where, f"expected a string, got {_describe(value)}")
            return None
        value = _CLIENT_AUTH_ALIASES.get(value, value)
        if value not in CLIENT_AUTH_TYPES:
            self.add(where, f"unknown value {_quote(value)}; known: {', '.join(CLIENT_AUTH_TYPES)}")
            return None
        return value

    def version(
        self, table: dict[Any, Any], key: str, default: ssl.TLSVersion
    ) -> ssl.TLSVersion | None:
        where = f"tls_server_config.{key}"
        value = table.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.add(where, f"expected a string, got {_describe(value)}")
            return None
        if value in _OLD_TLS_VERSIONS:
            self.add(where, f"{value} is not supported; use TLS12 or TLS13")
            return None
        if value not in TLS_VERSIONS:
            self.add(where, f"unknown TLS version {_quote(value)}; use TLS12 or TLS13")
            return None
        return TLS_VERSIONS[value]

    def build_ssl_context(self, tls: TLSSettings) -> ssl.SSLContext | None:
        if self.problems:
            return None
        try:
            return build_ssl_context(tls)
        except WebConfigError as error:
            self.problems.extend(f"{self.source}: {problem}" for problem in error.problems)
            return None

    # ----------------------------------------------------------------------- http_server_config

    def check_http(self, value: object) -> tuple[tuple[tuple[str, str], ...], bool]:
        table = self.mapping(value, "http_server_config")
        if not table:
            return (), True
        self.known_keys(table, _HTTP_KEYS, "http_server_config.")
        http2 = table.get("http2", True)
        if http2 is None:
            http2 = True
        if not isinstance(http2, bool):
            self.add("http_server_config.http2", f"expected a boolean, got {_describe(http2)}")
            http2 = True
        headers_table = self.mapping(table.get("headers"), "http_server_config.headers") or {}
        headers: list[tuple[str, str]] = []
        for name, header_value in headers_table.items():
            where = f"http_server_config.headers.{name}"
            if name not in ALLOWED_HEADERS:
                self.add(
                    "http_server_config.headers",
                    f"header {_quote(str(name))} cannot be configured; "
                    f"allowed: {', '.join(ALLOWED_HEADERS)}",
                )
                continue
            if header_value is None or header_value == "":
                continue  # exporter-toolkit: "Unset if blank".
            if not isinstance(header_value, str):
                self.add(where, f"expected a string, got {_describe(header_value)}")
                continue
            allowed = ALLOWED_HEADERS[name]
            if allowed and header_value not in allowed:
                self.add(where, f"must be one of {', '.join(allowed)}, got {_quote(header_value)}")
                continue
            if _CONTROL.search(header_value):
                self.add(where, "must not contain control characters")
                continue
            headers.append((name, header_value))
        return tuple(headers), http2

    # ----------------------------------------------------------------------- basic_auth_users

    def check_users(self, value: object) -> dict[str, bytes]:
        table = self.mapping(value, "basic_auth_users")
        users: dict[str, bytes] = {}
        for name, hashed in (table or {}).items():
            if not isinstance(name, str):
                self.add(
                    "basic_auth_users",
                    f"user names must be strings, got {_describe(name)}; quote it",
                )
                continue
            where = f"basic_auth_users.{_path_name(name)}"
            if name == "":
                self.add(where, "user name must not be empty")
                continue
            if ":" in name or _CONTROL.search(name):
                self.add(where, 'user name must not contain ":" or control characters')
                continue
            # Never quote the value: it is a password hash, or a password pasted by mistake.
            if not isinstance(hashed, str):
                self.add(where, f"expected a bcrypt hash, got {_kind(hashed)}")
                continue
            match = _BCRYPT_HASH.fullmatch(hashed.strip())
            if match is None:
                self.add(where, f"not a bcrypt hash ({_BCRYPT_SHAPE})")
                continue
            cost = int(match.group(1))
            if not _MIN_COST <= cost <= _MAX_COST:
                self.add(
                    where, f"bcrypt cost must be between {_MIN_COST} and {_MAX_COST}, got {cost}"
                )
                continue
            users[name] = hashed.strip().encode("ascii")
        return users


def build_ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    """A server context for ``tls``; problems are raised naming the config keys."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = tls.min_version
    context.maximum_version = tls.max_version
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    load_cert_chain(context, tls)
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                [
                    f"tls_server_config.client_ca_file: cannot load "
                    f"{_quote(str(tls.client_ca_file))}: {_ssl_reason(exc)}"
                ]
            ) from None
    context.verify_mode = tls.verify_mode
    context.set_alpn_protocols(["http/1.1"])
    return context


def load_cert_chain(context: ssl.SSLContext, tls: TLSSettings) -> None:
    cert, key = _quote(str(tls.cert_file)), _quote(str(tls.key_file))
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_refuse_key_password)
    except _EncryptedKey:
        raise WebConfigError(
            [f"tls_server_config.key_file: {key} is encrypted; give an unencrypted key"]
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            message = f"tls_server_config.key_file: {key} does not match cert_file {cert}"
        else:
            message = (
                f"tls_server_config: cannot load cert_file {cert} with key_file {key}: "
                f"{_ssl_reason(exc)}"
            )
        raise WebConfigError([message]) from None
    except OSError as exc:
        raise WebConfigError(
            [f"tls_server_config: cannot load cert_file {cert}: {_os_reason(exc)}"]
        ) from None


def _dummy_hash(users: Mapping[str, bytes]) -> bytes:
    """A hash nobody can match, at the cost most users have, so timing hides valid names."""
    costs = Counter(int(hashed[4:6]) for hashed in users.values())
    cost = costs.most_common(1)[0][0]
    return bcrypt.hashpw(secrets.token_urlsafe(32).encode(), bcrypt.gensalt(rounds=cost))


# --------------------------------------------------------------------------- formatting


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _path_name(name: str) -> str:
    return name if _BARE_NAME.fullmatch(name) else _quote(name)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _describe(value: object) -> str:
    """Type and value, for settings that are not secret."""
    kind = _kind(value)
    if isinstance(value, bool):
        return f"{kind} {str(value).lower()}"
    if isinstance(value, int | float):
        return f"{kind} {value}"
    if isinstance(value, str):
        return f"{kind} {_quote(value)}"
    return kind


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _ssl_reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
        return _SSL_SUFFIX.sub("", text)
    if isinstance(exc, OSError):
        return _os_reason(exc)
    return type(exc).__name__


def _combine(digests: Mapping[str, bytes]) -> bytes:
    combined = hashlib.sha256()
    for key in sorted(digests):
        combined.update(key.encode() + b"\0" + digests[key])
    return combined.digest()


def _scan_digest(source: str, tls: TLSSettings | None) -> bytes:
    """What ``WebConfig.digest`` would be now for the files the running config names."""
    digests: dict[str, bytes] = {}
    files: list[tuple[str, Path]] = [("", Path(source))]
    if tls is not None:
        files.extend(tls.files())
    for key, path in files:
        try:
            digests[key] = hashlib.sha256(_read_regular(path)).digest()
        except (OSError, _NotRegular) as exc:
            digests[key] = f"unreadable: {exc!r}".encode()
    return _combine(digests)


# --------------------------------------------------------------------------- the watcher


class AuthResult(enum.Enum):
    OK = "ok"
    DENIED = "denied"
    BUSY = "busy"


#: (the hash it was checked against, HMAC of ``user:password``): no password is ever stored.
_AuthKey = tuple[bytes, bytes]


class _AuthCache:
    """A bounded set of checked credentials, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[_AuthKey, None] = OrderedDict()

    def __contains__(self, key: _AuthKey) -> bool:
        if key not in self._entries:
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, key: _AuthKey) -> None:
        self._entries[key] = None
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    if len(password) > _BCRYPT_MAX_PASSWORD:
        return False  # refused, not truncated (bcrypt < 5 would compare the first 72 bytes)
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # e.g. a password over bcrypt's 72-byte limit
        return False


def parse_basic_authorization(header: str | None) -> tuple[str, bytes] | None:
    """``Basic base64(user:password)`` -> (user, password); anything else -> None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


class WebConfigWatcher:
    """The web config in force: re-checked on requests, at most every ``check_interval``.

    A file that changed is validated fully before it replaces the running one; a broken file
    is logged once and the last good config stays. The server certificate is reloaded into
    the same ``SSLContext`` the listener uses, so new connections get the new certificate.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        granted_cache_size: int = 100,
        denied_cache_size: int = 1000,
        max_pending_checks: int = 64,
    ) -> None:
        self.path = str(path)
        self._config, self._ssl_context = _load(self.path)  # WebConfigError: refuse to start
        self._running_tls = self._config.tls
        #: Content digests of the TLS files the running context was built from.
        self._running_digests: dict[str, bytes] = dict(self._config.file_digests)
        self._seen = self._config.digest
        self._check_interval = check_interval
        self._clock = clock
        self._last_check = clock()
        self._refresh_task: asyncio.Task[None] | None = None
        # Two caches, so that no number of wrong passwords can push a good one out: only a
        # valid password enters the first.
        self._granted = _AuthCache(granted_cache_size)
        self._denied = _AuthCache(denied_cache_size)
        self._cache_key = secrets.token_bytes(32)
        self._max_pending = max_pending_checks
        self._in_flight: dict[_AuthKey, asyncio.Future[bool]] = {}
        # One thread: bcrypt is CPU-bound, and a flood of guesses must not take every core.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="bcrypt"
        )
        #: bcrypt comparisons queued (cache misses), those that matched, and checks refused
        #: because the queue was full; for tests and debugging.
        self.bcrypt_checks = 0
        self.bcrypt_matches = 0
        self.busy_refusals = 0
        if self._config.basic_auth and self._config.tls is None:
            LOGGER.warning(
                "basic auth without TLS: passwords cross the network in clear text",
                extra=fields(file=self.path),
            )

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context to listen with; None when the file configures no TLS."""
        return self._ssl_context

    @property
    def basic_auth(self) -> bool:
        return self._config.basic_auth

    @property
    def running_tls(self) -> TLSSettings | None:
        return self._running_tls

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def current(self) -> WebConfig:
        """The config to apply to this request, after re-reading the file if it is due."""
        task = self._refresh_task
        if task is None and self._clock() - self._last_check >= self._check_interval:
            self._last_check = self._clock()
            task = self._refresh_task = asyncio.get_running_loop().create_task(self._refresh())
            task.add_done_callback(self._refresh_done)
        if task is not None:
            # Shielded: a client that goes away must not abort a reload half-way.
            await asyncio.shield(task)
        return self._config

    def _refresh_done(self, task: asyncio.Task[None]) -> None:
        self._refresh_task = None

    async def _refresh(self) -> None:
        seen, running = self._seen, self._config
        try:
            outcome = await asyncio.to_thread(self._scan, seen, running.tls)
        except Exception:
            # A bug here must not turn every request into a 500: keep serving as before.
            LOGGER.exception("web config check failed", extra=fields(file=self.path))
            return
        if outcome is None:
            return
        digest, loaded = outcome
        if isinstance(loaded, WebConfigError):
            self._seen = digest  # log a broken file once, not once a second
            LOGGER.error(
                "web config reload failed; keeping the last good one",
                extra=fields(file=self.path, error=str(loaded)),
            )
            return
        self._install(loaded)

    def _scan(
        self, seen: bytes, tls: TLSSettings | None
    ) -> tuple[bytes, WebConfig | WebConfigError] | None:
        digest = _scan_digest(self.path, tls)
        if hmac.compare_digest(digest, seen):
            return None
        try:
            config, _ = _load(self.path)
        except WebConfigError as error:
            return digest, error
        return config.digest, config

    def _install(self, config: WebConfig) -> None:
        self._seen = config.digest
        tls_applied = self._apply_tls(config)
        if not tls_applied:
            self._seen = b""  # retry the certificate on the next check
        self._config = config
        LOGGER.info(
            "web config reloaded",
            extra=fields(
                file=self.path,
                tls=self._running_tls is not None,
                basic_auth_users=len(config.users),
            ),
        )

    def _apply_tls(self, config: WebConfig) -> bool:
        """Reload the certificate live; other TLS changes wait for a restart (logged)."""
        running, wanted = self._running_tls, config.tls
        if running is None or wanted is None or self._ssl_context is None:
            if (running is None) != (wanted is None):
                LOGGER.warning(
                    "switching TLS on or off needs a restart; serving as before",
                    extra=fields(file=self.path, tls=running is not None),
                )
            return True
        old = self._running_digests
        changed = [
            name
            for name in ("client_auth_type", "client_ca_file", "min_version", "max_version")
            if getattr(running, name) != getattr(wanted, name)
        ]
        if running.prefer_server_cipher_suites != wanted.prefer_server_cipher_suites:
            changed.append("prefer_server_cipher_suites")
        if "client_ca_file" not in changed and old.get("client_ca_file") != config.file_digests.get(
            "client_ca_file"
        ):
            changed.append("client_ca_file content")
        if changed:
            LOGGER.warning(
                "TLS settings changed that need a restart; the running ones stay",
                extra=fields(file=self.path, changed=",".join(changed)),
            )
        cert_changed = (
            running.cert_file != wanted.cert_file
            or running.key_file != wanted.key_file
            or any(
                old.get(key) != config.file_digests.get(key) for key in ("cert_file", "key_file")
            )
        )
        if not cert_changed:
            return True
        try:
            load_cert_chain(self._ssl_context, wanted)
        except WebConfigError as error:
            LOGGER.error(
                "certificate reload failed; will retry",
                extra=fields(file=self.path, error=str(error)),
            )
            return False
        self._running_tls = replace(running, cert_file=wanted.cert_file, key_file=wanted.key_file)
        self._running_digests = {
            **old,
            "cert_file": config.file_digests.get("cert_file", b""),
            "key_file": config.file_digests.get("key_file", b""),
        }
        LOGGER.info(
            "TLS certificate reloaded",
            extra=fields(cert_file=str(wanted.cert_file), key_file=str(wanted.key_file)),
        )
        return True

    async def authenticate(self, config: WebConfig, header: str | None) -> AuthResult:
        """bcrypt off the event loop, one at a time, cached; unknown users cost the same.

        A cached valid login is answered before anything else, without waiting: it never
        queues behind bcrypt checks of other (possibly hostile) requests.
        """
        credentials = parse_basic_authorization(header)
        if credentials is None:
            return AuthResult.DENIED
        user, password = credentials
        hashed = config.users.get(user)
        known = hashed is not None
        if hashed is None:
            hashed = config.dummy_hash
        # The user cannot contain ":" (the header splits at the first one): unambiguous.
        digest = hmac.new(self._cache_key, user.encode() + b":" + password, hashlib.sha256)
        key = (hashed, digest.digest())
        if key in self._granted:
            return AuthResult.OK if known else AuthResult.DENIED
        if key in self._denied:
            return AuthResult.DENIED
        future = self._in_flight.get(key)
        if future is None:
            if len(self._in_flight) >= self._max_pending:
                self.busy_refusals += 1
                return AuthResult.BUSY
            future = self._submit(key, password, hashed)
        matched = await asyncio.shield(future)
        return AuthResult.OK if known and matched else AuthResult.DENIED

    def _submit(self, key: _AuthKey, password: bytes, hashed: bytes) -> asyncio.Future[bool]:
        self.bcrypt_checks += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, _bcrypt_matches, password, hashed)
        self._in_flight[key] = future

        def done(finished: asyncio.Future[bool]) -> None:
            self._in_flight.pop(key, None)
            if finished.cancelled() or finished.exception() is not None:
                return
            if finished.result():
                self.bcrypt_matches += 1
                self._granted.add(key)
            else:
                self._denied.add(key)

        future.add_done_callback(done)
        return future


def web_config_middleware(watcher: WebConfigWatcher) -> Middleware:
    """Basic auth on every request (any path, any method) plus the configured headers."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        config = await watcher.current()
        headers = config.headers
        if config.basic_auth:
            result = await watcher.authenticate(config, request.headers.get(hdrs.AUTHORIZATION))
            if result is AuthResult.BUSY:
                return _with_headers(
                    web.Response(
                        status=503,
                        text="too many authentication checks in progress; retry shortly\n",
                        headers={"Retry-After": "1"},
                    ),
                    headers,
                )
            if result is not AuthResult.OK:
                LOGGER.debug("basic auth failed", extra=fields(remote=request.remote))
                return _with_headers(
                    web.Response(
                        status=401,
                        text="Unauthorized\n",
                        headers={hdrs.WWW_AUTHENTICATE: WWW_AUTHENTICATE},
                    ),
                    headers,
                )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            for name, value in headers:
                exc.headers[name] = value
            raise
        return _with_headers(response, headers)

    return middleware


def _with_headers(
    response: web.StreamResponse, headers: tuple[tuple[str, str], ...]
) -> web.StreamResponse:
    if not response.prepared:
        for name, value in headers:
            response.headers[name] = value
    return response


def server_ssl_context(watcher: WebConfigWatcher | None) -> ssl.SSLContext | None:
    """What to pass as ``TCPSite(ssl_context=...)``."""
    return None if watcher is None else watcher.ssl_context
