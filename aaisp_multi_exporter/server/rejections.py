"""Requests the exporter refused, made visible: a warning in the log and a list on ``/``.

A Prometheus job with a wrong ``auth`` or ``module`` gets a 400 on every scrape; without this
only a counter moves and neither side says why. The log line is rate-limited per endpoint and
reason, and the page keeps each distinct refusal once with a count, so a job failing every
few seconds for hours stays a few lines, not a flood.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.obs.throttle import LogThrottle
from aaisp_multi_exporter.probe.request import echo

LOGGER = logging.getLogger("aaisp_multi_exporter.rejections")

#: Distinct refusals listed on the landing page; the least recently seen goes first.
DEFAULT_LIMIT = 20
#: At most one log line per path and reason every 10 s (docs/design.md, Logs).
LOG_INTERVAL_SECONDS = 10.0


@dataclass(slots=True)
class Rejection:
    """One distinct refusal (same endpoint, reason and message) and how often it was seen."""

    path: str
    reason: str
    message: str
    status: int
    first_seen: float  # Unix seconds
    last_seen: float
    count: int = 1


class RecentRejections:
    """Logs each refusal (rate-limited) and keeps the most recent distinct ones.

    Used from the event loop only, so no lock.
    """

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        log_interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
        throttle_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._throttle = LogThrottle(log_interval, clock=throttle_clock)
        self._seen: OrderedDict[tuple[str, str, str], Rejection] = OrderedDict()

    def add(
        self,
        path: str,
        reason: str,
        message: str,
        *,
        value: str | None,
        status: int = 400,
        log_key: str | None = None,
    ) -> None:
        """``message`` is the answer's text; ``value`` is what the caller sent, if one.

        Log lines are throttled per path and reason, or per ``log_key`` when the path is the
        caller's choice (a request outside the route prefix), so a scan of many paths is
        still one line per interval."""
        self._log(
            (path, reason) if log_key is None else log_key, path, reason, message, value, status
        )
        now = self._clock()
        key = (path, reason, message)
        seen = self._seen.pop(key, None)
        if seen is None:
            seen = Rejection(path, reason, message, status, first_seen=now, last_seen=now)
        else:
            seen.count += 1
            seen.last_seen = now
        self._seen[key] = seen
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def _log(
        self,
        key: Hashable,
        path: str,
        reason: str,
        message: str,
        value: str | None,
        status: int,
    ) -> None:
        suppressed = self._throttle.admit(key)
        if suppressed is None:
            return
        shown = {} if value is None else {"value": echo(value)}
        LOGGER.warning(
            "request rejected",
            extra=fields(
                path=path,
                status=status,
                reason=reason,
                **shown,
                error=message,
                suppressed=suppressed,
            ),
        )

    def recent(self) -> list[Rejection]:
        """Most recently seen first."""
        return list(reversed(self._seen.values()))

    def __len__(self) -> int:
        return len(self._seen)
