"""The web config in force: re-read when its files change, the last good one kept.

Like exporter-toolkit, which reads the file on every request, the exporter checks the file and
the certificate files it names when a request arrives (at most once a second, by content):
users, hashes and headers change without a restart, and a renewed certificate is loaded into
the listener's own ``SSLContext``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web

from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.web.config import (
    NotRegular,
    TLSSettings,
    WebConfig,
    WebConfigError,
    read_regular,
)
from aaisp_multi_exporter.web.load import load_with_context
from aaisp_multi_exporter.web.tls import load_cert_chain

__all__ = ["WebConfigWatcher"]

#: The name the log lines had before the web package existed: operators filter on it.
LOGGER = logging.getLogger("aaisp_multi_exporter.webconfig")

#: TLS settings an OpenSSL context cannot take back once set: changing them needs a restart.
_RESTART_SETTINGS = (
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
)


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
    ) -> None:
        self.path = str(path)
        self._config, self._ssl_context = load_with_context(self.path)  # WebConfigError
        self._running_tls = self._config.tls
        #: Content digests of the TLS files the running context was built from.
        self._running_digests: dict[str, bytes] = dict(self._config.file_digests)
        self._seen = _combine(self._config.file_digests)
        self._check_interval = check_interval
        self._clock = clock
        self._last_check = clock()
        self._refresh_task: asyncio.Task[None] | None = None
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

    async def add_headers(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """For ``app.on_response_prepare``: the configured headers on every answer, 401 and
        404 included, set just before the headers are sent."""
        for name, value in self._config.headers:
            response.headers[name] = value

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
            config, _ = load_with_context(self.path)
        except WebConfigError as error:
            return digest, error
        return _combine(config.file_digests), config

    def _install(self, config: WebConfig) -> None:
        self._seen = _combine(config.file_digests)
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
            name for name in _RESTART_SETTINGS if getattr(running, name) != getattr(wanted, name)
        ]
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
        self._running_tls = running.model_copy(
            update={"cert_file": wanted.cert_file, "key_file": wanted.key_file}
        )
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


def _scan_digest(source: str, tls: TLSSettings | None) -> bytes:
    """What ``_combine(config.file_digests)`` would be now for the files ``tls`` names."""
    digests: dict[str, bytes] = {}
    files: list[tuple[str, Path]] = [("", Path(source))]
    if tls is not None:
        files.extend(tls.files())
    for key, path in files:
        try:
            digests[key] = hashlib.sha256(read_regular(path)).digest()
        except (OSError, NotRegular) as exc:
            digests[key] = f"unreadable: {exc!r}".encode()
    return _combine(digests)


def _combine(digests: Mapping[str, bytes]) -> bytes:
    """One digest over every file read, by config key ("" for the web config file itself)."""
    combined = hashlib.sha256()
    for key in sorted(digests):
        combined.update(key.encode() + b"\0" + digests[key])
    return combined.digest()
