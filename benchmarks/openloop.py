"""Open-loop load: requests leave on a fixed schedule, whatever the server is doing.

``python -m benchmarks.openloop URL --rate R --duration D [--first F --count C]`` sends request
``i`` at ``start + i / R`` (``{id}`` in URL becomes ``F + i mod C``) and measures its latency
from that *scheduled* time, so a server that stalls is charged for every request queued behind
the stall (no coordinated omission). The first ``--warmup`` seconds are sent, not recorded.
``--expect TEXT`` counts 200 answers without TEXT as failed; ``--gauge NAME`` reports the
largest sample of gauge NAME over the answers. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp import TCPConnector

COUNTED = ("http_errors", "http_503", "transport_errors", "unexpected_bodies", "gauge_missing")


def gauge_max(body: bytes, name: bytes) -> float | None:
    """The largest sample of gauge ``name`` in a text exposition; None when it has none.

    A byte split, not a parser, so reading every answer costs microseconds: a sample line starts
    with ``name`` then ``{`` or a space, and its value is the last field (no timestamps).
    """
    values = []
    for line in body.split(b"\n"):
        if line.startswith(name) and line[len(name) : len(name) + 1] in (b"{", b" "):
            try:
                values.append(float(line.rsplit(b" ", 1)[-1]))
            except ValueError:
                continue
    return max(values, default=None)


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values; NaN when there are none."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered)))) - 1]


@dataclass
class Tally:
    """What the recorded requests met; ``expect`` and ``gauge`` as the command line says."""

    expect: bytes | None = None
    gauge: bytes | None = None
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # send time behind schedule
    gauges: list[float] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(COUNTED, 0)))

    async def one(self, session: aiohttp.ClientSession, url: str, scheduled: float) -> None:
        loop = asyncio.get_running_loop()
        self.lags.append(loop.time() - scheduled)
        try:
            async with session.get(url) as answer:
                body, status = await answer.read(), answer.status
        except (aiohttp.ClientError, TimeoutError):
            self.counts["transport_errors"] += 1
            return
        if status != 200:
            self.counts["http_errors"] += 1
            self.counts["http_503"] += status == 503  # refused: --web.max-requests
            return
        self.latencies.append(loop.time() - scheduled)
        self.counts["unexpected_bodies"] += self.expect is not None and self.expect not in body
        value = gauge_max(body, self.gauge) if self.gauge else None
        self.counts["gauge_missing"] += self.gauge is not None and value is None
        self.gauges += [] if value is None else [value]


async def run(
    urls: Sequence[str], rate: float, duration: float, warmup: float, tally: Tally
) -> dict[str, float]:
    """Send ``rate * (warmup + duration)`` requests on schedule; summarise the recorded ones."""
    warm, total = round(rate * warmup), round(rate * (warmup + duration))
    timeout, unrecorded = aiohttp.ClientTimeout(total=10), Tally()
    async with aiohttp.ClientSession(timeout=timeout, connector=TCPConnector(limit=0)) as session:
        loop = asyncio.get_running_loop()
        start, tasks = loop.time() + 0.05, set[asyncio.Task[None]]()
        for i in range(total):
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            one = (tally if i >= warm else unrecorded).one(session, urls[i % len(urls)], scheduled)
            tasks.add(task := asyncio.create_task(one))
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    ordered, lags, sent = sorted(tally.latencies), tally.lags, len(tally.lags) - 1
    return {
        "requests": total,  # warm-up included: what the server saw
        "rate": rate,
        # Sends fall behind schedule only when the generator itself is starved.
        "max_send_lag_ms": max(lags, default=0.0) * 1000,
        "achieved_rate": sent / (sent / rate + lags[-1] - lags[0]) if sent > 0 else 0.0,
        **{f"p{p}_ms": percentile(ordered, p) * 1000 for p in (50, 90, 99)},
        "max_ms": (ordered[-1] if ordered else math.nan) * 1000,
        "gauge_max": max(tally.gauges, default=math.nan),
        **tally.counts,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openloop", description=__doc__)
    parser.add_argument("url", help="URL; {id} is replaced when --count is given")
    parser.add_argument("--first", type=int, default=0, help="first {id}")
    parser.add_argument("--count", type=int, default=0, help="how many {id}s, in turn")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="recorded seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds first")
    parser.add_argument("--expect", help="text every 200 answer must contain")
    parser.add_argument("--gauge", help="gauge whose largest sample to report")
    args = parser.parse_args(argv)
    urls = [args.url.replace("{id}", str(args.first + i)) for i in range(max(1, args.count))]
    expect, gauge = (x.encode() if x else None for x in (args.expect, args.gauge))
    figures = run(urls, args.rate, args.duration, args.warmup, Tally(expect, gauge))
    print(json.dumps(asyncio.run(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
