"""Log lines that do not grow with an attack or an outage: one line per key per interval.

A flood of failing probes, rejected requests or accept() errors is one event seen many times;
the log should say so once and count the rest, so its volume follows the number of distinct
problems, not the request rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: Keys come from configuration and fixed enums; this bound only guards against a bug.
MAX_KEYS = 10_000


@dataclass(slots=True)
class _Window:
    last_logged: float
    suppressed: int = 0


class LogThrottle:
    """Decides, per key, whether a line may be written now.

    ``admit`` answers ``None`` while the key's interval runs (the event is counted), then the
    number of events held back since the last line, so that line can say how many it stands
    for. Used from the event loop only.
    """

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def admit(self, key: Hashable) -> int | None:
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and now - window.last_logged < self.interval:
            window.suppressed += 1
            return None
        held_back = 0 if window is None else window.suppressed
        if window is None and len(self._windows) >= MAX_KEYS:
            self._forget_quiet(now)
        self._windows[key] = _Window(last_logged=now)
        return held_back

    def _forget_quiet(self, now: float) -> None:
        """Drop keys whose interval ended with nothing held back: they have nothing to say."""
        for key, window in list(self._windows.items()):
            if now - window.last_logged >= self.interval and not window.suppressed:
                del self._windows[key]
        while len(self._windows) >= MAX_KEYS:
            del self._windows[next(iter(self._windows))]
