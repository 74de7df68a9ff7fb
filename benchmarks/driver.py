"""A small closed-loop prober that reads every answer, for checks that need the bodies.

wrk does not look at bodies; this does, so it can count ``probe_success 1`` answers. It is
slower than wrk and only used where correctness is counted (one CHAOS call for N lines, the
bounded-memory run), never for the throughput figures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

SUCCESS = b"\nprobe_success 1"


@dataclass
class Counts:
    probes: int = 0
    succeeded: int = 0
    http_errors: int = 0
    transport_errors: int = 0
    failed: int = 0  # answered 200 without probe_success 1
    out_of_time: bool = False
    gave_up: bool = False

    @property
    def failures(self) -> int:
        return self.http_errors + self.transport_errors + self.failed


async def probe_range(
    session: aiohttp.ClientSession,
    base_url: str,
    module: str,
    first_id: int,
    start: int,
    stop: int,
    distinct: int,
    *,
    concurrency: int = 50,
    deadline: float | None = None,
    max_failures: int | None = None,
) -> Counts:
    """Probes ``start`` to ``stop - 1``; probe ``i`` targets line ``first_id + i % distinct``.

    Stops early at ``deadline`` (``time.monotonic()``; ``out_of_time``) or after more than
    ``max_failures`` failed probes (``gave_up``), so that a broken exporter cannot stretch the
    benchmark without bound.
    """
    counts = Counts()
    queue = iter(range(start, stop))

    async def worker() -> None:
        for i in queue:
            if deadline is not None and time.monotonic() > deadline:
                counts.out_of_time = True
                return
            if max_failures is not None and counts.failures > max_failures:
                counts.gave_up = True
                return
            url = f"{base_url}/probe?module={module}&target={first_id + i % distinct}"
            counts.probes += 1
            try:
                async with session.get(url) as response:
                    body = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                counts.transport_errors += 1
                continue
            if response.status != 200:
                counts.http_errors += 1
            elif SUCCESS in body:
                counts.succeeded += 1
            else:
                counts.failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def new_session(timeout: float = 30.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


async def probe_all(
    base_url: str,
    module: str,
    first_id: int,
    lines: int,
    concurrency: int = 50,
    budget: float = 60.0,
    max_failures: int = 100,
) -> Counts:
    """Every line once, ``concurrency`` at a time, within ``budget`` seconds."""
    async with new_session() as session:
        return await probe_range(
            session,
            base_url,
            module,
            first_id,
            0,
            lines,
            lines,
            concurrency=concurrency,
            deadline=time.monotonic() + budget,
            max_failures=max_failures,
        )
