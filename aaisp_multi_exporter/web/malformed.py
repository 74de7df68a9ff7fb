"""aiohttp's own error log, quieted: a request it cannot parse is counted, not a traceback.

aiohttp answers a request it cannot parse (a header line over 8 KB, too many headers, a
100 KB URL, a request line that is not HTTP) with 400 from its protocol, before any
middleware runs, and logs each one at error with the parser's traceback: 5,000 such requests,
which need no credentials, wrote 3 MB of log. The server takes its logger as an argument
(``AppRunner(logger=...)``, in every aiohttp release ``pyproject.toml`` allows), so every
such record passes through ``RequestErrorLog``: it counts the request
(``aaisp_exporter_probe_requests_rejected_total{reason="malformed_request"}``) and writes one
warning line per interval, saying how many it stands for. The client's bytes are never
logged (an oversized ``Authorization`` header is still a credential). Anything else aiohttp
reports at error (an exporter bug) keeps its traceback, rate-limited the same way.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.obs.throttle import LogThrottle

#: The rejected-requests ``reason`` of a request aiohttp could not parse.
MALFORMED = "malformed_request"
#: As the other rejections: one line per kind every 10 s (docs/design.md, Logs).
LOG_INTERVAL = 10.0
#: Where the warning goes: beside the other rejections, which operators filter on.
LOGGER = logging.getLogger("aaisp_multi_exporter.rejections")


class RequestErrorLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to aiohttp's server in place of ``aiohttp.server``."""

    def __init__(
        self,
        count: Callable[[], None],
        *,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._count = count
        self._throttle = LogThrottle(interval, clock=clock)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Every call aiohttp makes (``exception``, ``debug``) arrives here."""
        error = _exception(kwargs.get("exc_info"))
        if isinstance(error, HttpProcessingError):
            self._malformed(error)
            return
        if level < logging.ERROR:
            self.logger.log(level, msg, *args, **kwargs)
            return
        held_back = self._throttle.admit(("error", str(msg), type(error).__name__))
        if held_back is None:
            return
        if held_back:
            kwargs["extra"] = fields(suppressed=held_back)
        self.logger.log(level, msg, *args, **kwargs)

    def _malformed(self, error: HttpProcessingError) -> None:
        self._count()
        held_back = self._throttle.admit(MALFORMED)
        if held_back is None:
            return
        LOGGER.warning(
            "request rejected",
            extra=fields(
                status=error.code,
                reason=MALFORMED,
                error=f"aiohttp could not parse it ({type(error).__name__})",
                suppressed=held_back,
            ),
        )


def _exception(exc_info: object) -> BaseException | None:
    """The exception a logging call's ``exc_info`` names, in any of its forms."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        found = exc_info[1]
        return found if isinstance(found, BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None
