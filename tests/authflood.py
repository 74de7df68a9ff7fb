"""A wrong-password flood, run as its own process so it does not share the server's loop.

``python -m tests.authflood URL --rate 400 --seconds 6`` sends basic-auth requests with a new
wrong password each, at a fixed rate (open loop: a slow answer does not slow the flood), over
a pool of keep-alive connections. It prints ``started`` once its connections are open, then a
JSON line with the number of requests and their statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections import Counter

import aiohttp


async def flood(url: str, user: str, rate: float, seconds: float, connections: int) -> None:
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(n: int) -> None:
            token = base64.b64encode(f"{user}:wrong-{n}".encode()).decode()
            try:
                async with http.get(url, headers={"Authorization": f"Basic {token}"}) as reply:
                    await reply.read()
                    statuses[str(reply.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                statuses[type(error).__name__] += 1

        await asyncio.gather(*(one(-n) for n in range(1, connections + 1)))  # open the pool
        print("started", flush=True)
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    print(json.dumps({"requests": total, "seconds": elapsed, "statuses": statuses}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--user", default="prometheus")
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(flood(args.url, args.user, args.rate, args.seconds, args.connections))


if __name__ == "__main__":
    main()
