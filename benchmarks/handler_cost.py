"""What one cached probe costs the handler alone, without sockets: CPU time, and with
``--callgrind`` the instructions, a count that repeats on a busy machine where timings do not.

``python -m benchmarks.handler_cost [--lines N] [--probes P] [--callgrind]`` runs the real app's
``/probe`` handler on mocked requests against the simulator, after one probe of every line has
filled the cache. With ``--callgrind`` it runs itself twice under valgrind (P and 2P probes)
and prints the difference per probe, so start-up is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp.test_utils import make_mocked_request

from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.server.app import create_app, probe
from aaisp_multi_exporter.server.state import build_state
from aaisp_multi_exporter.simulator import SimAccount, Simulator, generate_lines

FIRST_LINE_ID = 10000


async def run(lines: int, probes: int) -> float:
    """CPU seconds per probe over ``probes`` cached probes rotating over ``lines`` lines."""
    simulator = Simulator([SimAccount("sim1@a", "pw", generate_lines(lines))])
    url = await simulator.start()
    text = (
        f'[chaos]\nurl = "{url}"\n[auths.s]\ncontrol_login = "sim1@a"\n'
        'control_password = "pw"\n[modules.line]\ncommands = ["broadband/info"]\n'
        "cache_seconds = 3600\n"
    )
    state = build_state(lambda: parse_config(text), max_requests=0)
    state.reload()
    app = create_app(state)
    await state.services.client.open()
    try:
        requests = [
            make_mocked_request("GET", f"/probe?target={FIRST_LINE_ID + i}&module=line", app=app)
            for i in range(lines)
        ]
        for request in requests:  # fill the cache: one CHAOS call, every line rendered once
            await probe(request)
        started = time.process_time()
        for index in range(probes):
            await probe(requests[index % lines])
        return (time.process_time() - started) / probes if probes else 0.0
    finally:
        await state.services.client.close()
        await simulator.stop()


def instructions(lines: int, probes: int) -> int:
    """Total instructions of one run of this module under callgrind."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.handler_cost",
                "--lines",
                str(lines),
                "--probes",
                str(probes),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONMALLOC": "malloc"},
        )
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handler_cost", description=__doc__)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--probes", type=int, default=20_000)
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions per probe (slow)"
    )
    args = parser.parse_args(argv)
    if args.callgrind:
        if shutil.which("valgrind") is None:
            parser.error("valgrind not found (apt-get install valgrind)")
        few, many = 200, 1200
        per_probe = (instructions(args.lines, many) - instructions(args.lines, few)) / (many - few)
        print(f"{per_probe:,.0f} instructions per cached probe (handler only)")
        return 0
    seconds = asyncio.run(run(args.lines, args.probes))
    print(f"{seconds * 1e6:.1f} µs CPU per cached probe (handler only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
