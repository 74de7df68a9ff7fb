"""Open-loop load: requests leave on a fixed schedule, whatever the server is doing.

``python -m benchmarks.openloop --rate 500 --duration 10 URL`` sends request ``i`` at
``start + i / rate`` (with ``--count C``, ``{id}`` in the URL becomes ``--first`` plus
``i mod C``) and measures each latency from that *scheduled* time, so a server that stalls
is charged for the requests queued behind the stall (no coordinated omission). Prints one
JSON object on stdout.

The first ``--warmup`` seconds follow the same schedule but are not recorded (connections
being opened). ``--expect`` counts 200 answers whose body lacks the given text as failures.
``--gauge NAME`` reads the samples of gauge NAME from every recorded answer (text format) and
reports the largest (``gauge_max``) and how many answers lacked it (``gauge_missing``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    http_errors: int = 0
    transport_errors: int = 0
    unexpected_bodies: int = 0
    send_times: list[float] = field(default_factory=list)
    max_send_lag: float = 0.0
    gauge_max: float = -math.inf
    gauge_missing: int = 0


def gauge_max(body: bytes, name: bytes) -> float | None:
    """The largest sample of gauge ``name`` in a text exposition, None when it has none.

    Byte splitting rather than a parser, so that reading every answer costs microseconds:
    a sample is a line that starts with ``name`` then ``{`` or a space (not ``# HELP name``,
    not ``name_other``), and its value is the line's last field (the exporter writes no
    sample timestamps).
    """
    best: float | None = None
    cut = len(name)
    for line in body.split(b"\n"):
        if line.startswith(name) and line[cut : cut + 1] in (b"{", b" "):
            try:
                value = float(line.rsplit(b" ", 1)[-1])
            except ValueError:
                continue
            if best is None or value > best:
                best = value
    return best


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    scheduled: float,
    expect: bytes | None,
    gauge: bytes | None,
    tally: Tally | None,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    if tally is not None:
        tally.send_times.append(started)
        tally.max_send_lag = max(tally.max_send_lag, started - scheduled)
    try:
        async with session.get(url) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        if tally is not None:
            tally.transport_errors += 1
        return
    finished = loop.time()
    if tally is None:
        return
    if status != 200:
        tally.http_errors += 1
        return
    if expect is not None and expect not in body:
        tally.unexpected_bodies += 1
    if gauge is not None:
        value = gauge_max(body, gauge)
        if value is None:
            tally.gauge_missing += 1
        else:
            tally.gauge_max = max(tally.gauge_max, value)
    tally.latencies.append(finished - scheduled)


async def run(
    urls: Sequence[str],
    rate: float,
    duration: float,
    *,
    warmup: float = 1.0,
    request_seconds: float = 10.0,
    expect: bytes | None = None,
    gauge: bytes | None = None,
) -> dict[str, float | int]:
    """Send ``rate * (warmup + duration)`` requests on schedule; summarise the recorded ones."""
    tally = Tally()
    warm = round(rate * warmup)
    total = warm + round(rate * duration)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=request_seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        tasks: set[asyncio.Task[None]] = set()
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(
                _one(
                    session,
                    urls[i % len(urls)],
                    scheduled,
                    expect,
                    gauge,
                    tally if i >= warm else None,
                )
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    latencies = sorted(tally.latencies)
    sends = sorted(tally.send_times)
    span = sends[-1] - sends[0] if len(sends) > 1 else 0.0
    recorded = total - warm
    gauge_figures = (
        {}
        if gauge is None
        else {
            "gauge_max": tally.gauge_max if tally.gauge_max > -math.inf else math.nan,
            "gauge_missing": tally.gauge_missing,
        }
    )
    return {
        **gauge_figures,
        "scheduled": recorded,
        "sent_total": total,  # warm-up included: what the server saw
        "rate": rate,
        "ok": len(latencies),
        "http_errors": tally.http_errors,
        "transport_errors": tally.transport_errors,
        "unexpected_bodies": tally.unexpected_bodies,
        "achieved_rate": (len(sends) - 1) / span if span > 0 else 0.0,
        "max_send_lag_ms": tally.max_send_lag * 1000,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else math.nan) * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openloop", description=__doc__)
    parser.add_argument("url", help="URL; {id} is replaced when --count is given")
    parser.add_argument("--first", type=int, default=0, help="first {id}")
    parser.add_argument("--count", type=int, default=0, help="how many {id}s, in turn")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="recorded seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds first")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--expect", default=None, help="text every 200 body must contain")
    parser.add_argument("--gauge", default=None, help="gauge whose largest sample to report")
    args = parser.parse_args(argv)
    urls = [args.url]
    if args.count > 0:
        urls = [args.url.replace("{id}", str(args.first + i)) for i in range(args.count)]
    result = asyncio.run(
        run(
            urls,
            args.rate,
            args.duration,
            warmup=args.warmup,
            request_seconds=args.timeout,
            expect=args.expect.encode() if args.expect else None,
            gauge=args.gauge.encode() if args.gauge else None,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
