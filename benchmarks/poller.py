"""Polls a URL every 10 ms and prints each answer's wait, one a line, until stopped.

``python benchmarks/poller.py URL``. Run as its own process so that the benchmark reading a
100 MB answer beside it cannot hold up the polls (a thread of the same interpreter waits for
the reader's copies): what it measures is the server's stall, not the client's.
"""

from __future__ import annotations

import sys
import time
import urllib.request


def main(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        started = time.monotonic()
        with opener.open(url, timeout=60) as answer:
            answer.read()
        print(f"{time.monotonic() - started:.6f}", flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1])
