"""The CHAOS v2 HTTP client: one shared session, tenacity retries, per-credential limits.

Credentials travel only in the POST body. Nothing raised or logged here carries the body, so a
password cannot reach an error message, a log line or a traceback.
"""

from __future__ import annotations

import asyncio
import http
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.proxy import Proxy, choose_proxy
from aaisp_multi_exporter.chaos.replies import Reply, json_or_none, parse_reply_async, refusal

if TYPE_CHECKING:
    from aaisp_multi_exporter.config import AuthConfig
    from aaisp_multi_exporter.config.proxy import ProxyAddress

USER_AGENT = f"aaisp-multi-exporter/{__version__}"

#: The session type, for callers that hold one without speaking HTTP (the diagnostics).
Session = aiohttp.ClientSession

#: Do not start an attempt with less time than this left: it could not finish.
MIN_ATTEMPT_SECONDS = 0.05
#: Longest answer CHAOS is allowed to send; its largest real reply is well under this.
MAX_REPLY_BYTES = 64 * 1024 * 1024
#: Longest error answer read for a refusal in it; an error page past this is just an error.
MAX_ERROR_BYTES = 1024 * 1024

#: Full-jitter exponential backoff (AWS style), so probes failing together retry apart.
BACKOFF = wait_random_exponential(multiplier=0.25, max=8, min=0.05)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class _WaitHonouringRetryAfter(wait_base):
    """Back off with jitter, but never sooner than the server asked."""

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = BACKOFF(retry_state)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, ChaosError) and error.retry_after is not None:
            return max(backoff, error.retry_after)
        return backoff


class CallLog(Protocol):
    """Where the client tells how a call went (the probe's own log, for ``debug=true``)."""

    def debug(self, message: str, **fields: object) -> None: ...


class CallMetrics(Protocol):
    """What the client counts: every attempt, by credential set, command and outcome; each
    retry; and how each call ended, after its retries (``chaos_up``)."""

    def chaos_request_done(self, auth: str, command: str, outcome: str, seconds: float) -> None: ...

    def chaos_retried(self, command: str) -> None: ...

    def chaos_call_done(self, auth: str, command: str, success: bool) -> None: ...


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, ChaosError) and error.retryable


class ChaosClient:
    """Talks to CHAOS for every probe of the process, over one session it owns.

    The session is opened with ``open`` (the app does it when the server starts) and closed
    with ``close``, so nothing is left unclosed whichever way the process ends.
    """

    def __init__(self, metrics: CallMetrics) -> None:
        self._metrics = metrics
        self._limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._open: aiohttp.ClientSession | None = None
        self._configured_proxy: ProxyAddress | None = None
        #: The proxy of each CHAOS base URL, chosen once per configuration.
        self._proxies: dict[str, Proxy | None] = {}

    def use_proxy(self, configured: ProxyAddress | None) -> None:
        """``[chaos] proxy_url`` of the configuration in force (a reload may change it)."""
        self._configured_proxy = configured
        self._proxies.clear()

    def proxy_for(self, base_url: str) -> Proxy | None:
        """The proxy requests to ``base_url`` go through; the environment is read once."""
        if base_url not in self._proxies:
            self._proxies[base_url] = choose_proxy(base_url, self._configured_proxy)
        return self._proxies[base_url]

    async def open(self) -> None:
        if self._open is None:
            self._open = make_session()

    async def close(self) -> None:
        if self._open is not None:
            await self._open.close()
            self._open = None

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self._open is None:
            raise RuntimeError("the CHAOS session is not open (ChaosClient.open)")
        return self._open

    def _limit(self, auth: AuthConfig) -> asyncio.Semaphore:
        # Keyed by size too, so a reload that changes max_concurrency takes effect at once.
        key = (auth.name, auth.max_concurrency)
        semaphore = self._limits.get(key)
        if semaphore is None:
            semaphore = self._limits[key] = asyncio.Semaphore(auth.max_concurrency)
        return semaphore

    async def fetch(
        self,
        base_url: str,
        command: Command,
        auth: AuthConfig,
        *,
        service: str | None,
        retries: int,
        deadline: float,
        log: CallLog,
    ) -> Reply:
        """Call ``command`` with retries; raise ChaosError/ChaosError on failure.

        ``deadline`` is in ``loop.time()`` units; no attempt starts or runs past it.
        """
        form: dict[str, str] = dict(auth.form_fields())
        if service is not None:
            form["service"] = service
        name = command.name
        url = f"{base_url}/{name}/json"
        proxy = self.proxy_for(base_url)
        # tenacity measures from its own start on the same monotonic clock as loop.time();
        # it stops when the next attempt could not start before the deadline.
        time_left = deadline - asyncio.get_running_loop().time() - MIN_ATTEMPT_SECONDS
        retrying = AsyncRetrying(
            stop=stop_after_attempt(retries + 1) | stop_before_delay(time_left),
            wait=_WaitHonouringRetryAfter(),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
            sleep=asyncio.sleep,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        self._metrics.chaos_retried(name)
                        log.debug("retrying CHAOS request", command=name, attempt=attempts)
                    reply = await self._attempt(url, command, auth, form, deadline, log, proxy)
                    break
            else:  # pragma: no cover
                raise AssertionError("tenacity ended without an outcome")
        except ChaosError:
            # A call stopped by a reload or shutdown (CancelledError) ended with no answer
            # either way, and is not told.
            self._metrics.chaos_call_done(auth.name, name, False)
            raise
        self._metrics.chaos_call_done(auth.name, name, True)
        return reply

    async def _attempt(
        self,
        url: str,
        command: Command,
        auth: AuthConfig,
        form: Mapping[str, str],
        deadline: float,
        log: CallLog,
        proxy: Proxy | None = None,
    ) -> Reply:
        started = time.perf_counter()
        name = command.name
        outcome = Outcome.OK
        try:
            async with asyncio.timeout_at(deadline), self._limit(auth):
                waited = time.perf_counter() - started
                if waited > 0.01:
                    log.debug("waited for a CHAOS slot", auth=auth.name, seconds=round(waited, 3))
                reply = await self._post(url, command, form, proxy)
            log.debug(
                "CHAOS answered",
                command=name,
                lines=len(reply.lines),
                seconds=round(time.perf_counter() - started, 3),
            )
            return reply
        except TimeoutError:
            outcome = Outcome.TIMEOUT
            raise ChaosError(
                outcome, f"no answer from CHAOS before the deadline ({name})", retryable=True
            ) from None
        except ChaosError as error:
            outcome = error.outcome
            log.debug("CHAOS request failed", command=name, outcome=outcome, reason=str(error))
            raise
        except asyncio.CancelledError:
            outcome = Outcome.TIMEOUT  # stopped by a reload or shutdown: no answer was had
            raise
        finally:
            self._metrics.chaos_request_done(
                auth.name, name, outcome.value, time.perf_counter() - started
            )

    async def _post(
        self, url: str, command: Command, form: Mapping[str, str], proxy: Proxy | None
    ) -> Reply:
        """One POST; the body is read whatever the status, because CHAOS may send its
        refusal with an HTTP error (a public client reports HTTP 500), and a refusal must
        never be retried."""
        if proxy is not None and proxy.problem is not None:
            raise ChaosError(
                Outcome.TRANSPORT_ERROR, f"cannot reach CHAOS ({command.name}): {proxy.problem}"
            )
        options = {} if proxy is None else proxy.request_options(url)
        try:
            async with self._session.post(
                url, data=form, allow_redirects=False, **options
            ) as response:
                status = response.status
                charset = response.charset
                retry_after = response.headers.get("Retry-After")
                ok = 200 <= status < 300
                body = await read_capped(response, MAX_REPLY_BYTES if ok else MAX_ERROR_BYTES)
        except aiohttp.ClientError as error:
            # aiohttp's messages name the host and port only (the proxy's has no credentials:
            # they travel in a header); the form body is never in them.
            raise ChaosError(
                Outcome.TRANSPORT_ERROR,
                f"cannot reach CHAOS{through(proxy)} ({command.name}): "
                f"{error.__class__.__name__}: {error}",
                retryable=True,
            ) from None
        if not ok:
            raise http_failure(command.name, status, body, charset, retry_after, proxy)
        if body is None:
            raise ChaosError(Outcome.INVALID_RESPONSE, f"CHAOS reply too large ({command.name})")
        return await parse_reply_async(command, body, charset)


@dataclass(frozen=True, slots=True)
class RawReply:
    """What CHAOS sent for one call, unparsed: a diagnostic reads the raw body itself."""

    status: int
    #: The charset the reply's ``Content-Type`` named, if any.
    charset: str | None
    body: bytes

    @property
    def ok(self) -> bool:
        """A 2xx status; any other is read with ``http_failure``."""
        return 200 <= self.status < 300

    @property
    def status_line(self) -> str:
        """``HTTP 503 Service Unavailable``, or the bare code for a status without a phrase."""
        try:
            phrase = http.HTTPStatus(self.status).phrase
        except ValueError:
            phrase = ""
        return f"HTTP {self.status} {phrase}".rstrip()


async def post_once(
    session: aiohttp.ClientSession,
    base_url: str,
    command: str,
    auth: AuthConfig,
    *,
    proxy: Proxy | None,
    timeout_seconds: float,
    limit: int = MAX_REPLY_BYTES,
) -> RawReply:
    """POST ``command`` once for ``auth`` in account scope: no retry, no metrics, whatever
    the status (the diagnostics' one call). Raises ChaosError when no whole reply came:
    ``timeout``, ``transport_error`` (naming the proxy, if any), ``invalid_response`` past
    ``limit`` bytes."""
    if proxy is not None and proxy.problem is not None:
        raise ChaosError(Outcome.TRANSPORT_ERROR, f"cannot reach CHAOS: {proxy.problem}")
    options = {} if proxy is None else proxy.request_options(base_url)
    try:
        async with (
            asyncio.timeout(timeout_seconds),
            session.post(
                f"{base_url}/{command}/json",
                data=auth.form_fields(),
                allow_redirects=False,
                **options,
            ) as response,
        ):
            status = response.status
            charset = response.charset
            body = await read_capped(response, limit)
    except TimeoutError:
        raise ChaosError(Outcome.TIMEOUT, f"no answer within {timeout_seconds:g} s") from None
    except aiohttp.ClientError as error:
        # aiohttp names the host and port only; the form body is never in its messages.
        raise ChaosError(
            Outcome.TRANSPORT_ERROR,
            f"cannot reach CHAOS{through(proxy)}: {error.__class__.__name__}: {error}",
        ) from None
    if body is None:
        raise ChaosError(Outcome.INVALID_RESPONSE, f"reply larger than {limit} bytes")
    return RawReply(status, charset, body)


def through(proxy: Proxy | None) -> str:
    """`` through proxy http://proxy:3128 (from HTTPS_PROXY)`` for a reason, or nothing."""
    return "" if proxy is None else f" through proxy {proxy}"


def http_failure(
    command: str,
    status: int,
    body: bytes | None,
    charset: str | None,
    retry_after: str | None,
    proxy: Proxy | None = None,
) -> ChaosError:
    """A non-2xx answer: CHAOS's refusal when its body carries one (never retried), else an
    HTTP error, retried for 429 and 5xx. Through a proxy, the answer may be the proxy's (a
    407, a 502 when it cannot reach CHAOS): the reason names it."""
    refused = refusal(json_or_none(body, charset)) if body else None
    if refused is not None:
        return ChaosError(refused.outcome, f"{refused} (sent with HTTP {status})")
    answered = "the proxy" if status == 407 else "CHAOS"
    return ChaosError(
        Outcome.HTTP_ERROR,
        f"{answered} answered HTTP {status}{through(proxy)} ({command})",
        retryable=status == 429 or status >= 500,
        retry_after=parse_retry_after(retry_after),
    )


async def read_capped(
    response: aiohttp.ClientResponse, limit: int = MAX_REPLY_BYTES
) -> bytes | None:
    """The whole body, or None past ``limit`` bytes.

    ``StreamReader.read(n)`` returns what happens to be buffered, not n bytes, so a reply
    larger than one network read (an account of about 1,000 lines) must be gathered in full.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_session(*, limit: int = 100) -> aiohttp.ClientSession:
    """The process's one CHAOS session: keep-alive, an honest User-Agent, no cookies."""
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    )
