"""The probe deadline, by blackbox_exporter's rule, so operators' intuitions carry over."""

from __future__ import annotations

import math

SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
#: What a probe gets when neither Prometheus nor the module says.
DEFAULT_TIMEOUT_SECONDS = 120.0
#: The longest probe: a header asking for more (or for 1e308 s) gets this, the largest
#: module timeout, so no request can hold a probe slot for ever.
MAX_TIMEOUT_SECONDS = 600.0


class BadTimeoutHeader(ValueError):
    """The scrape-timeout header is not a usable number."""


def parse_timeout_header(value: str | None) -> float | None:
    """Seconds from the header; ``None`` when absent or zero (Prometheus sends no limit)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise BadTimeoutHeader(f"{SCRAPE_TIMEOUT_HEADER} is not a number: {value[:32]!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise BadTimeoutHeader(f"{SCRAPE_TIMEOUT_HEADER} must be a positive number")
    return min(seconds, MAX_TIMEOUT_SECONDS) or None


def effective_timeout(
    scrape_timeout: float | None, offset: float, module_timeout: float | None
) -> float:
    """The whole probe's budget in seconds.

    Prometheus' scrape timeout less ``offset`` (time to send the answer back); the module's
    ``timeout_seconds`` wins when smaller, or when the header leaves nothing; with neither,
    120 s.
    """
    if scrape_timeout is None:
        return module_timeout if module_timeout else DEFAULT_TIMEOUT_SECONDS
    budget = scrape_timeout - offset
    if module_timeout and (module_timeout < budget or budget <= 0):
        return module_timeout
    if budget <= 0:
        # Nothing left and no module timeout: blackbox would cancel at once; give the
        # probe the scrape timeout itself rather than a guaranteed failure.
        return scrape_timeout
    return budget
