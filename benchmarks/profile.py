"""Where a cached probe's time goes: py-spy samples the exporter under wrk, summed per function
(``run --profile``). Not a measured load: py-spy pauses the process for every sample."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from typing import Any

from benchmarks.loads import Target, run_wrk
from benchmarks.procs import OUT, VENV_BIN, InfraError, Server

RATE = 200
TOP = 12
#: A function on the stack of nearly every sample (``<module>``, ``run_forever``) is the event
#: loop's scaffolding: true, and no help. Left out of *total*.
SCAFFOLDING = 0.95


def summarise(collapsed: str, top: int = TOP) -> dict[str, Any]:
    """py-spy's ``--format raw`` lines (``frame;frame;leaf COUNT``) summed per function: the
    ``top`` by *self* share (the function was running) and by *total* share (it was anywhere on
    the stack, once per sample however deep it recurs)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            own[frames[-1]] += int(count)
            anywhere.update(dict.fromkeys(frames, int(count)))
    samples = max(1, own.total())
    scaffolding = {frame for frame, n in anywhere.items() if n / samples >= SCAFFOLDING}
    total = [(f, n / samples) for f, n in anywhere.most_common() if f not in scaffolding]
    ranked = [(frame, n / samples) for frame, n in own.most_common(top)]
    return {"samples": own.total(), "self": ranked, "total": total[:top]} | {
        "scaffolding": len(scaffolding)
    }


def record(exporter: Server, target: Target, seconds: int) -> dict[str, Any]:
    """py-spy on ``exporter`` for ``seconds`` while wrk -c50 loads it; an ``error`` entry when
    py-spy cannot attach (no ptrace permission, e.g. a container without CAP_SYS_PTRACE)."""
    out = OUT / "profile-cached.txt"
    out.unlink(missing_ok=True)
    flags = f"--pid {exporter.popen.pid} --duration {seconds} --rate {RATE} --format raw --nolineno"
    command = [str(VENV_BIN / "py-spy"), "record", *flags.split(), "--output", str(out)]
    try:
        spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as error:
        return {"error": str(error)}
    time.sleep(0.5)  # py-spy attaches
    try:
        pps = run_wrk(target, 50, seconds + 1)["probes_per_second"]
    except InfraError:
        pps = 0.0
    log, _ = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not out.exists():
        return {"error": f"py-spy exited with {spy.returncode}: {log.strip()[-400:]}"}
    summary = summarise(out.read_text(errors="replace"))
    return summary | {"seconds": seconds, "rate": RATE, "wrk_pps": pps}
