"""Reading ``--web.config.file``: bytes, YAML, the models, and every problem at once.

Problems are told as for ``modules.toml`` (``config/problems.py``): ``<file>: <key>: <what>``,
in file order, with "did you mean" for a misspelt key. YAML errors give a position, never the
offending line, which may hold a hash.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aaisp_multi_exporter.config.problems import (
    PathPart,
    describe,
    did_you_mean,
    explain,
    format_path,
    os_reason,
    quote,
)
from aaisp_multi_exporter.web.config import (
    PRODUCT,
    HTTPServerConfig,
    NotRegular,
    TLSSettings,
    WebConfig,
    WebConfigError,
    WebLoadContext,
    YamlTable,
    read_regular,
)
from aaisp_multi_exporter.web.tls import build_ssl_context

__all__ = ["load_web_config", "load_with_context"]

#: The tables of the file that are models of their own, for messages and ordering.
_SECTIONS: dict[str, type[YamlTable]] = {
    "tls_server_config": TLSSettings,
    "http_server_config": HTTPServerConfig,
}
#: A problem: the key it belongs to (for file order), where it is told to be, and what it is.
_Found = tuple[tuple[object, ...], tuple[PathPart, ...], str]
#: Sections whose values are secrets, or could be: their messages never show a value.
_HIDDEN_SECTIONS = frozenset({"basic_auth_users"})


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate a web config file; relative file names are next to it."""
    return load_with_context(str(path))[0]


def load_with_context(source: str) -> tuple[WebConfig, ssl.SSLContext | None]:
    """The config and a server context built from it (which is also the TLS validation)."""
    try:
        data = read_regular(Path(source))
    except OSError as exc:
        raise WebConfigError([f"{source}: cannot read file: {os_reason(exc)}"]) from None
    except NotRegular:
        raise WebConfigError([f"{source}: not a regular file"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebConfigError([f"{source}: not valid UTF-8 (at byte {exc.start})"]) from None
    document = _parse_yaml(text, source)
    context = WebLoadContext(base_dir=Path(source).parent)
    config = _validate(document, source, context)
    ssl_context = None
    if config.tls is not None:
        try:
            ssl_context = build_ssl_context(config.tls)
        except WebConfigError as error:
            raise WebConfigError(f"{source}: {problem}" for problem in error.problems) from None
    digests = {"": hashlib.sha256(data).digest(), **context.file_digests}
    dummy = _dummy_hash(config.users) if config.users else b""
    loaded = config.model_copy(update={"file_digests": digests, "dummy_hash": dummy})
    return loaded, ssl_context


# --------------------------------------------------------------------------- YAML


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
                        None, None, f"duplicate key {quote(key_node.value)}", key_node.start_mark
                    )
                seen.add(key)
            _reject_duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item)


# --------------------------------------------------------------------------- problems


def _validate(document: object, source: str, context: WebLoadContext) -> WebConfig:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        got = describe(document, show=False, dialect="yaml")  # a file that is just a password
        raise WebConfigError([f"{source}: expected a mapping at the top level, got {got}"])
    found: list[_Found] = []
    internal = set(WebConfig.model_fields) - set(WebConfig.file_keys())
    for key in document:
        if key in internal:  # a field the loader fills in is no key of the file
            hint = did_you_mean(key, WebConfig.file_keys())
            found.append(((key,), (key,), "unknown key" + hint))
    data = {key: value for key, value in document.items() if key not in internal}
    try:
        config = WebConfig.model_validate(data, context=context)
    except ValidationError as exc:
        found += [_located(error) for error in exc.errors()]
    if found:
        found.sort(key=lambda item: _rank(document, item[0]))
        raise WebConfigError(
            f"{source}: {format_path(where)}: {what}" if where else f"{source}: {what}"
            for _, where, what in found
        )
    return config


def _located(error: ErrorDetails) -> _Found:
    """The key a problem belongs to (for ordering), where to say it is, and what it is."""
    loc = tuple(error["loc"])
    if error["type"] == "invalid_key":  # a key that is not a string: its loc is str(None)...
        key = error["input"]
        return (*loc[:-1], key), loc[:-1], f"unknown key {describe(key, dialect='yaml')}"
    return loc, loc, _explain(error)


def _explain(error: ErrorDetails) -> str:
    """One pydantic error in the words of the table it is in."""
    loc = error["loc"]
    depth = 1 if loc and loc[0] in _SECTIONS else 0
    model: type[YamlTable] = _SECTIONS[str(loc[0])] if depth else WebConfig
    relative: ErrorDetails = {**error, "loc": loc[depth:]}
    key = str(relative["loc"][0]) if relative["loc"] else ""
    if error["type"] == "extra_forbidden" and key in model.unsupported:
        hint = model.unsupported[key]
        return f"not supported by {PRODUCT}" + (f"; {hint}" if hint else "")
    if error["type"] == "missing":
        return f"required when {loc[0]} is set"
    show = not loc or loc[0] not in _HIDDEN_SECTIONS
    return explain(relative, model, show=show, known_keys=model.file_keys(), dialect="yaml")


def _rank(document: dict[Any, Any], loc: Sequence[object]) -> tuple[int, ...]:
    """File order: by the key at the top, then by the key inside a section's table.

    Within ``basic_auth_users`` and ``headers`` the validators already report in file order;
    a key the file does not have (a required one) comes after those it has.
    """
    rank: list[int] = []
    table: object = document
    for part in loc[:2]:
        if not isinstance(table, dict):
            break
        keys = list(table)
        rank.append(keys.index(part) if part in table else len(keys))
        if part not in _SECTIONS:
            break
        table = table.get(part)
    return tuple(rank)


def _dummy_hash(users: dict[str, bytes]) -> bytes:
    """A hash nobody can match, at the cost most users have, so timing hides valid names."""
    costs = Counter(int(hashed[4:6]) for hashed in users.values())
    cost = costs.most_common(1)[0][0]
    return bcrypt.hashpw(secrets.token_urlsafe(32).encode(), bcrypt.gensalt(rounds=cost))
