"""``--web.max-requests``: a slot for each probe that starts CHAOS work, none for one that waits.

The limit protects CHAOS and the exporter from probes that would each start a call. A probe
whose missing answers are all being fetched already (a cold start, an answer that expired
under load) only waits for those calls: refusing it would turn one slow fetch into a burst of
failed scrapes, so it waits within its own deadline, bounded by ``--web.max-connections``.
A cached probe never waits, so it needs neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class TooManyProbes(Exception):
    """The probe would start a CHAOS call while every slot is taken: a 503, at once."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"too many probes in flight (limit {limit}); retry later")
        self.limit = limit


@dataclass(slots=True)
class ProbeSlots:
    """Probes waiting for CHAOS, counted as working (each started a call) or waiting.

    Used from the event loop only: ``hold`` checks and counts without suspending.
    """

    #: Probes that may start calls at once; 0 for no limit.
    limit: int = 40
    working: int = 0
    waiting: int = 0

    @property
    def in_flight(self) -> int:
        return self.working + self.waiting

    @contextmanager
    def hold(self, starts_work: bool) -> Iterator[None]:
        """Count the probe while it waits; a probe that starts work takes a slot, or raises
        ``TooManyProbes`` when there is none."""
        if not starts_work:
            self.waiting += 1
            try:
                yield
            finally:
                self.waiting -= 1
            return
        if self.limit and self.working >= self.limit:
            raise TooManyProbes(self.limit)
        self.working += 1
        try:
            yield
        finally:
            self.working -= 1
