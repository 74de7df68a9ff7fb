"""Basic auth on every request: the ``Authorization`` header, bcrypt off the loop, two caches.

bcrypt is slow on purpose, so checks run in one worker thread, at most ``max_pending_checks``
waiting (beyond that: 503), and outcomes are cached by hash and an HMAC of ``user:password``
under a key that lives only in the process. Good and bad logins are cached apart, so no number
of wrong passwords can push a real user's login out, and a cached login is answered before the
queue is looked at, so it never waits behind a flood of guesses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import hashlib
import hmac
import logging
import re
import secrets
from collections import OrderedDict

import bcrypt
from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import Handler, Middleware

from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.web.config import WebConfig
from aaisp_multi_exporter.web.watcher import WebConfigWatcher

__all__ = [
    "REALM",
    "AuthResult",
    "Authenticator",
    "basic_auth_middleware",
    "parse_basic_authorization",
]

#: The name the log lines had before the web package existed: operators filter on it.
LOGGER = logging.getLogger("aaisp_multi_exporter.webconfig")

REALM = "aaisp-multi-exporter"
WWW_AUTHENTICATE = f'Basic realm="{REALM}"'
_BCRYPT_MAX_PASSWORD = 72
_SPACES = re.compile(" +")


class AuthResult(enum.Enum):
    OK = "ok"
    DENIED = "denied"
    BUSY = "busy"


#: (the hash it was checked against, HMAC of ``user:password``): no password is ever stored.
_AuthKey = tuple[bytes, bytes]


def parse_basic_authorization(header: str | None) -> tuple[str, bytes] | None:
    """``Basic base64(user:password)`` -> (user, password); anything else -> None.

    aiohttp's ``BasicAuth.decode`` does the parsing. Decoded as latin-1, which maps every byte
    to itself, the password stays the bytes the client sent (exporter-toolkit compares bytes
    too); only the user name must be UTF-8. Runs of spaces after the scheme are accepted.
    """
    if not header:
        return None
    try:
        auth = BasicAuth.decode(_SPACES.sub(" ", header.strip()), encoding="latin1")
        return auth.login.encode("latin1").decode("utf-8"), auth.password.encode("latin1")
    except ValueError:  # malformed, another scheme, not base64, no ":", user not UTF-8
        return None


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


class Authenticator:
    """bcrypt checks of basic-auth credentials, cached, one at a time, off the event loop."""

    def __init__(
        self,
        *,
        granted_cache_size: int = 100,
        denied_cache_size: int = 1000,
        max_pending_checks: int = 64,
    ) -> None:
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

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def authenticate(self, config: WebConfig, header: str | None) -> AuthResult:
        """Unknown users cost the same as known ones; a cached valid login never waits.

        A cached valid login is answered before anything else: it never queues behind bcrypt
        checks of other (possibly hostile) requests.
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


def basic_auth_middleware(watcher: WebConfigWatcher, authenticator: Authenticator) -> Middleware:
    """Basic auth on every request (any path, any method) when the file has users.

    The configured headers are not added here: ``watcher.add_headers`` on
    ``app.on_response_prepare`` puts them on every answer, these included.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        config = await watcher.current()
        if config.basic_auth:
            header = request.headers.get(hdrs.AUTHORIZATION)
            result = await authenticator.authenticate(config, header)
            if result is AuthResult.BUSY:
                return web.Response(
                    status=503,
                    text="too many authentication checks in progress; retry shortly\n",
                    headers={hdrs.RETRY_AFTER: "1"},
                )
            if result is not AuthResult.OK:
                LOGGER.debug("basic auth failed", extra=fields(remote=request.remote))
                return web.Response(
                    status=401,
                    text="Unauthorized\n",
                    headers={hdrs.WWW_AUTHENTICATE: WWW_AUTHENTICATE},
                )
        return await handler(request)

    return middleware
