"""Processes under test: spawn, wait until ready, read resident memory, always stop.

Every server runs as its own process so that its memory can be read from ``/proc`` and so
that the load generator never shares an event loop with what it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
VENV_BIN = ROOT / ".venv" / "bin"
BLACKBOX = Path("/usr/bin/prometheus-blackbox-exporter")
HOST = "127.0.0.1"
#: Simulator accounts are numbered; account 1 has these fake, published credentials.
SIM_LOGIN = "sim1@a"
SIM_PASSWORD = "sim1-password"
FIRST_LINE_ID = 10000

# Proxies would take loopback traffic off the machine's loopback; none of it may leave.
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class InfraError(RuntimeError):
    """The benchmark itself could not run (a server did not start, a tool is missing)."""


def add_exporter_cmd(parser: argparse.ArgumentParser) -> None:
    """``--exporter-cmd``, as every benchmark takes it: split as a shell would, so that an
    ``env PYTHONPATH=... python -m aaisp_multi_exporter`` prefix runs another checkout."""
    parser.add_argument(
        "--exporter-cmd",
        type=shlex.split,
        default=[str(VENV_BIN / "aaisp-multi-exporter")],
        help="how to start the exporter, split as a shell would (default: the venv's script)",
    )


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _PROXY_VARS}
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """A plain GET over loopback, no proxy; (status, body), status 0 when unreachable."""
    status, _, body = http_fetch(url, timeout)
    return status, body


def http_fetch(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """``http_get`` with the answer's headers."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return int(response.status), dict(response.headers), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), dict(error.headers), bytes(error.read())
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


def http_post(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=b"", method="POST")
    with _OPENER.open(request, timeout=timeout) as response:
        return int(response.status), bytes(response.read())


@dataclass
class Server:
    """A spawned server; ``ready_seconds`` is from spawn to its first good readiness answer."""

    name: str
    popen: subprocess.Popen[bytes]
    spawned_at: float
    base_url: str
    log_path: Path
    ready_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) from /proc, in KiB."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        return values

    def event_loop(self) -> str:
        """``uvloop`` when the process has uvloop's extension mapped, else ``asyncio``.

        Read from ``/proc`` so that the answer does not depend on how (or whether) the
        exporter chooses its loop: whatever it runs, the bare-aiohttp reference runs too.
        """
        with open(f"/proc/{self.pid}/maps", encoding="utf-8", errors="replace") as maps:
            return "uvloop" if any("/uvloop/" in line for line in maps) else "asyncio"

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise InfraError(f"{self.name} exited with {self.popen.returncode}; log tail:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; safe to call twice."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def spawn(
    name: str,
    argv: Sequence[str],
    base_url: str,
    ready_path: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Server:
    """Start ``argv`` and poll ``ready_path`` every 5 ms until it answers 200."""
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / f"{name}.log"
    with open(log_path, "wb") as log:
        spawned_at = time.monotonic()
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(env),
            # Not the repository: ``python -m`` puts the working directory first on sys.path,
            # which would shadow an exporter given through PYTHONPATH.
            cwd=OUT,
        )
    server = Server(name, popen, spawned_at, base_url, log_path)
    try:
        deadline = spawned_at + timeout
        while True:
            status, _ = http_get(base_url + ready_path, timeout=1.0)
            if status == 200:
                server.ready_seconds = time.monotonic() - spawned_at
                return server
            server.check_alive()
            if time.monotonic() > deadline:
                raise InfraError(f"{name} not ready after {timeout} s")
            time.sleep(0.005)
    except BaseException:
        server.stop()
        raise


def start_simulator(lines: int, *options: str) -> Server:
    """The simulator with ``lines`` lines on account 1; ``options`` are more of its flags."""
    port = free_port()
    argv = [
        str(VENV_BIN / "python"),
        "-m",
        "aaisp_multi_exporter.simulator",
        "--lines",
        str(lines),
        "--accounts",
        "1",
        "--listen",
        f"{HOST}:{port}",
        "--log-level",
        "WARNING",
        *options,
    ]
    server = spawn(f"simulator-{lines}", argv, f"http://{HOST}:{port}", "/_sim/stats")
    server.extra["lines"] = lines
    return server


def exporter_config(chaos_url: str, modules: Mapping[str, Mapping[str, object]]) -> str:
    """TOML for one credential set (the simulator's account 1) and the given modules."""
    parts = [
        f'[chaos]\nurl = "{chaos_url}"\n',
        f'[auths.sim]\ncontrol_login = "{SIM_LOGIN}"\ncontrol_password = "{SIM_PASSWORD}"\n',
    ]
    for name, settings in modules.items():
        lines = [f"[modules.{name}]"]
        for key, value in settings.items():
            lines.append(f"{key} = {json.dumps(value)}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def start_exporter(
    name: str,
    config_text: str,
    exporter_cmd: Sequence[str],
) -> Server:
    OUT.mkdir(parents=True, exist_ok=True)
    config_path = OUT / f"{name}.toml"
    config_path.write_text(config_text, encoding="utf-8")
    port = free_port()
    program, *rest = exporter_cmd
    if "/" in program and not os.path.isabs(program):
        program = str(ROOT / program)  # servers run in OUT, not in the repository
    argv = [
        program,
        *rest,
        "--config.file",
        str(config_path),
        "--web.listen-address",
        f"{HOST}:{port}",
        "--log.level",
        "warning",
        "--web.max-requests",
        "0",
    ]
    return spawn(name, argv, f"http://{HOST}:{port}", "/-/ready")


BLACKBOX_CONFIG = f"""\
modules:
  http_2xx:
    prober: http
    timeout: 10s
  # The same request the exporter makes to CHAOS: POST, form body, full account listing.
  http_2xx_chaos:
    prober: http
    timeout: 10s
    http:
      method: POST
      headers:
        Content-Type: application/x-www-form-urlencoded
      body: "control_login={SIM_LOGIN.replace("@", "%40")}&control_password={SIM_PASSWORD}"
"""


def start_blackbox(name: str) -> Server:
    if not BLACKBOX.exists():
        raise InfraError(f"{BLACKBOX} not found (apt-get install prometheus-blackbox-exporter)")
    OUT.mkdir(parents=True, exist_ok=True)
    config_path = OUT / "blackbox.yml"
    config_path.write_text(BLACKBOX_CONFIG, encoding="utf-8")
    port = free_port()
    argv = [
        str(BLACKBOX),
        f"--config.file={config_path}",
        f"--web.listen-address={HOST}:{port}",
    ]
    return spawn(name, argv, f"http://{HOST}:{port}", "/-/ready")


def start_bare(
    body: bytes, headers: Mapping[str, str], loop: str, name: str = "bare-aiohttp"
) -> Server:
    """The bare-aiohttp reference (``benchmarks/bare.py``) answering ``body`` to every GET;
    ``name`` names its log and body files."""
    OUT.mkdir(parents=True, exist_ok=True)
    body_path = OUT / f"{name}-body.txt"
    body_path.write_bytes(body)
    port = free_port()
    argv = [
        str(VENV_BIN / "python"),
        "-m",
        "benchmarks.bare",
        "--body-file",
        str(body_path),
        "--content-type",
        headers.get("Content-Type", "text/plain"),
        "--listen",
        f"{HOST}:{port}",
        "--loop",
        loop,
    ]
    if headers.get("Vary"):
        argv += ["--vary", headers["Vary"]]
    # Servers run in OUT; the reference is part of this repository, so put it on the path.
    env = {"PYTHONPATH": str(ROOT)}
    return spawn(name, argv, f"http://{HOST}:{port}", "/-/ready", env=env)


def sim_calls(sim: Server) -> int:
    status, body = http_get(sim.base_url + "/_sim/stats")
    if status != 200:
        raise InfraError(f"simulator stats answered {status}")
    return int(json.loads(body)["total_calls"])


def sim_reset(sim: Server) -> None:
    http_post(sim.base_url + "/_sim/reset")


def exporter_counter(exporter: Server, name: str, labels: Mapping[str, str]) -> float:
    """Sum of the samples of ``name`` on the exporter's /metrics matching ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(exporter.base_url + "/metrics")
    if status != 200:
        raise InfraError(f"exporter /metrics answered {status}")
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
