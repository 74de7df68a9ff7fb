"""CHAOS calls during an outage or a refused login: per credential set, or per line?

``python -m benchmarks.outage [--exporter-cmd CMD]`` starts the simulator (20 lines) failing
every request, in turn with HTTP 500 and with the refusal "Login locked", and an exporter with
one module (``broadband/info``, account scope, ``retries = 2``), sends 40 probes of the 20
lines one after another (as Prometheus spreads its scrapes) and prints how many calls reached
CHAOS. ``--exporter-cmd`` runs another build, e.g. an older checkout through ``PYTHONPATH``,
for the before and after of issue 6 ("an outage costs one CHAOS call per line").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks.procs import (
    FIRST_LINE_ID,
    add_exporter_cmd,
    exporter_config,
    http_get,
    sim_calls,
    start_exporter,
    start_simulator,
)

LINES = 20
PROBES = 40
RETRIES = 2
FAULTS = {
    "HTTP 500": ("--fail-rate", "1", "--fail-status", "500"),
    "error text 'Login locked'": ("--error", "Login locked"),
}


def measure(fault: Sequence[str], exporter_cmd: Sequence[str]) -> tuple[int, int]:
    """(CHAOS calls, probes that failed) for PROBES probes of LINES lines under ``fault``."""
    sim = start_simulator(LINES, *fault)
    try:
        modules = {"line": {"commands": ["broadband/info"], "retries": RETRIES}}
        exporter = start_exporter("outage", exporter_config(sim.base_url, modules), exporter_cmd)
        try:
            failed = 0
            for index in range(PROBES):
                target = FIRST_LINE_ID + index % LINES
                _, body = http_get(f"{exporter.base_url}/probe?target={target}&module=line", 30)
                failed += b"probe_success 0" in body
            return sim_calls(sim), failed
        finally:
            exporter.stop()
    finally:
        sim.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outage", description=__doc__)
    add_exporter_cmd(parser)
    args = parser.parse_args(argv)
    command = args.exporter_cmd
    bound = 2 * (RETRIES + 1)
    print(f"{PROBES} probes of {LINES} lines, one after another, retries = {RETRIES}")
    for name, fault in FAULTS.items():
        calls, failed = measure(fault, command)
        print(
            f"  CHAOS {name}: {calls} CHAOS calls, {failed} of {PROBES} probes failed"
            f" (goal: at most {bound})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
