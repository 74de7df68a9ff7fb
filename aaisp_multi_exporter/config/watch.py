"""What a reload can see: the files to watch for ``--config.enable-auto-reload``, and the
values only a restart can change.

A reload reads the configuration files again, and every ``_file`` they name. It cannot see
a new value of an environment variable (``_env``): a process's environment is fixed when it
starts. Nor, as a rule, a new systemd credential: systemd copies ``LoadCredential=`` files into
``$CREDENTIALS_DIRECTORY`` when the service starts (only recent releases can refresh them on
reload, with ``RefreshOnReload=``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aaisp_multi_exporter.config.load import config_paths
from aaisp_multi_exporter.config.models import Config

__all__ = ["RestartBound", "checksum", "restart_bound", "secret_files"]


@dataclass(frozen=True, slots=True)
class RestartBound:
    """A table whose keys read values a reload cannot change, and why."""

    table: str  # ``auths.home`` or ``chaos``
    keys: tuple[str, ...]  # ``control_password_env``...: the keys, never the values
    why: str


def _sources(config: Config) -> list[tuple[str, str, str, str | None]]:
    """(table, key, kind, reference) of every value read from a file or variable."""
    given = [
        (f"auths.{name}", field, source)
        for name, auth in config.auths.items()
        for field, source in auth.sources.items()
    ]
    if config.chaos.proxy_source is not None:
        given.append(("chaos", "proxy_url", config.chaos.proxy_source))
    return [
        (table, f"{field}_{source.kind}", source.kind, source.reference)
        for table, field, source in given
        if source.kind != "inline"
    ]


def secret_files(config: Config) -> list[str]:
    """The ``_file`` paths the configuration read, in table order."""
    return [ref for _, _, kind, ref in _sources(config) if kind == "file" and ref is not None]


def restart_bound(config: Config, environ: Mapping[str, str] | None = None) -> list[RestartBound]:
    """The tables that read a value a reload cannot change: ``_env``, and ``_file`` in
    systemd's credentials directory."""
    env = os.environ if environ is None else environ
    credentials = env.get("CREDENTIALS_DIRECTORY")
    keys: dict[tuple[str, str], list[str]] = {}
    for table, key, kind, reference in _sources(config):
        if kind == "env":
            why = "read from the environment, which only a restart changes"
        elif kind == "file" and credentials and _inside(reference, credentials):
            why = "a systemd credential, copied when the service starts (RefreshOnReload= aside)"
        else:
            continue
        keys.setdefault((table, why), []).append(key)
    return [RestartBound(table, tuple(names), why) for (table, why), names in keys.items()]


def _inside(path: str | None, directory: str) -> bool:
    if path is None:
        return False
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(directory))


def checksum(patterns: Sequence[str], config: Config | None) -> str:
    """SHA-256 over the configuration files (globs expanded now) and the secret files the
    configuration in force read: it changes when a reload would read something new.

    A file that cannot be read counts as its error, so a change of that shows too."""
    digest = hashlib.sha256()
    files = config_paths(patterns)
    digest.update(f"{len(files)} configuration file(s)\0".encode())
    for path in [*files, *(secret_files(config) if config is not None else [])]:
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            data = f"unreadable: {error.errno}".encode()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()
