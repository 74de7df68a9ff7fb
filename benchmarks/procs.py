"""Processes under test, each its own so that its memory can be read from ``/proc`` and no load
generator shares its event loop; and "today's build", another revision run beside this one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
VENV_BIN = ROOT / ".venv" / "bin"
BLACKBOX = Path("/usr/bin/prometheus-blackbox-exporter")
HOST = "127.0.0.1"
#: The simulator's account 1: fake, published credentials.
SIM_LOGIN, SIM_PASSWORD = "sim1@a", "sim1-password"
SIM_FORM = f"control_login={SIM_LOGIN.replace('@', '%40')}&control_password={SIM_PASSWORD}"
FIRST_LINE_ID = 10000
PYTHON = str(VENV_BIN / "python")
EXPORTER = [str(VENV_BIN / "aaisp-multi-exporter")]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


Answer = tuple[int, dict[str, str], bytes]


def drop_proxies() -> None:
    """A proxy would take loopback traffic off the machine: none may leave the load generators
    and servers, which inherit this environment (the harness's own opener uses none)."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ.pop(var, None)


class InfraError(RuntimeError):
    """The benchmark itself could not run (a server did not start, a tool is missing)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def fetch(url: str, data: bytes | None = None, timeout: float = 10) -> Answer:
    """(status, headers, body) of a GET (POST with ``data``); status 0 when unreachable."""
    try:
        with _OPENER.open(urllib.request.Request(url, data=data), timeout=timeout) as answer:
            return int(answer.status), dict(answer.headers), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), dict(error.headers), bytes(error.read())
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


def fetch_size(url: str, timeout: float = 120) -> tuple[int, int]:
    """(status, bytes) of a GET, read a megabyte at a time: a 100 MB answer is never held
    whole, so a thread polling beside it is not starved of the interpreter."""
    size = 0
    with _OPENER.open(urllib.request.Request(url), timeout=timeout) as answer:
        while piece := answer.read(1 << 20):
            size += len(piece)
        return int(answer.status), size


def parse_status(text: str) -> dict[str, int]:
    """The ``Vm*`` lines of ``/proc/PID/status``, in KiB."""
    pairs = (line.split(":", 1) for line in text.splitlines() if line.startswith("Vm"))
    return {key: int(rest.split()[0]) for key, rest in pairs}


@dataclass
class Server:
    """A spawned server; a context manager that always stops it."""

    name: str
    popen: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    ready_s: float = 0.0

    def mb(self, key: str = "VmRSS") -> float:
        """``VmRSS`` (now) or ``VmHWM`` (peak) in MB of 10^6 bytes."""
        return parse_status(Path(f"/proc/{self.popen.pid}/status").read_text())[key] * 1024 / 1e6

    def event_loop(self) -> str:
        """``uvloop`` when its extension is mapped into the process: read from ``/proc`` so the
        bare reference runs what the exporter runs, however the exporter chose it."""
        maps = Path(f"/proc/{self.popen.pid}/maps").read_text(errors="replace")
        return "uvloop" if "/uvloop/" in maps else "asyncio"

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise InfraError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(name: str, argv: list[str], ready_path: str, port: int) -> Server:
    """Start ``argv`` (in OUT: ``python -m`` puts the working directory first on sys.path, which
    would shadow an exporter given through PYTHONPATH) and poll ``ready_path`` until a 200."""
    log_path = OUT / f"{name}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(argv, stdout=log, stderr=log, cwd=OUT)
    server = Server(name, popen, f"http://{HOST}:{port}", log_path)
    try:
        while fetch(server.base_url + ready_path, timeout=1.0)[0] != 200:
            server.check_alive()
            if time.monotonic() - started > 120:
                raise InfraError(f"{name} not ready after 120 s")
            time.sleep(0.005)
    except BaseException:
        server.stop()
        raise
    server.ready_s = time.monotonic() - started
    return server


def start_simulator(lines: int, *options: str, name: str = "") -> Server:
    port = free_port()
    flags = f"--lines {lines} --accounts 1 --listen {HOST}:{port} --log-level WARNING".split()
    argv = [PYTHON, "-m", "aaisp_multi_exporter.simulator", *flags, *options]
    return spawn(name or f"simulator-{lines}", argv, "/_sim/stats", port)


def exporter_config(chaos_url: str, modules: Mapping[str, Mapping[str, object]]) -> str:
    """TOML for the simulator's account 1 as credential set ``sim`` and the given modules."""
    text = f'[chaos]\nurl = "{chaos_url}"\n[auths.sim]\ncontrol_login = "{SIM_LOGIN}"\n'
    text += f'control_password = "{SIM_PASSWORD}"\n'
    for name, keys in modules.items():
        text += f"[modules.{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return text


def module(*commands: str, **keys: object) -> dict[str, object]:
    """One module on the simulator's account, account scope unless ``keys`` say otherwise."""
    defaults = {"auth": "sim", "scope": "account", "timeout_seconds": 10, "retries": 2}
    return {"commands": list(commands), **defaults, **keys}


def start_exporter(
    name: str, config: str, command: Sequence[str], *, max_requests: int = 0
) -> Server:
    """An exporter on ``config``; ``--web.max-requests`` lifted (0) unless given: most
    scenarios measure the probe path, not the limit."""
    path = OUT / f"{name}.toml"
    path.write_text(config, encoding="utf-8")
    port = free_port()
    program, *rest = command
    if "/" in program and not os.path.isabs(program):
        program = str(ROOT / program)  # servers run in OUT
    flags = f"--config.file {path} --web.listen-address {HOST}:{port} --log.level warning"
    limit = ["--web.max-requests", str(max_requests)]
    return spawn(name, [program, *rest, *flags.split(), *limit], "/-/ready", port)


BLACKBOX_CONFIG = "modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n"


def start_blackbox(name: str) -> Server:
    if not BLACKBOX.exists():
        raise InfraError(f"{BLACKBOX} not found (apt-get install prometheus-blackbox-exporter)")
    config = OUT / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG, encoding="utf-8")
    port = free_port()
    argv = [str(BLACKBOX), f"--config.file={config}", f"--web.listen-address={HOST}:{port}"]
    return spawn(name, argv, "/-/ready", port)


def start_bare(body: bytes, headers: Mapping[str, str], loop: str, name: str) -> Server:
    """The bare-aiohttp reference answering ``body`` with the exporter's headers."""
    body_path = OUT / f"{name}-body.txt"
    body_path.write_bytes(body)
    port = free_port()
    content_type, vary = headers.get("Content-Type", "text/plain"), headers.get("Vary", "")
    argv = [PYTHON, str(ROOT / "benchmarks" / "bare.py"), str(body_path), f"{HOST}:{port}", loop]
    return spawn(name, [*argv, content_type, vary], "/-/ready", port)


def sim_calls(sim: Server) -> int:
    status, _, body = fetch(sim.base_url + "/_sim/stats")
    if status != 200:
        raise InfraError(f"simulator stats answered {status}")
    return int(json.loads(body)["total_calls"])


def sim_reset(sim: Server) -> None:
    fetch(sim.base_url + "/_sim/reset", data=b"")


def sim_fault(sim: Server, fault: Mapping[str, object] | None) -> None:
    """Add a fault (a ``Fault`` as JSON) to the simulator; None clears them all."""
    url = sim.base_url + "/_sim/faults"
    request = urllib.request.Request(url, method="DELETE")
    if fault is not None:
        request = urllib.request.Request(url, data=json.dumps(fault).encode())
    with _OPENER.open(request, timeout=10) as answer:
        if answer.status not in (200, 201):
            raise InfraError(f"simulator faults answered {answer.status}")


def failures(exporter: Server) -> float:
    return counter(exporter, "aaisp_exporter_probes_total", result="failure")


def refreshed_ahead(exporter: Server) -> float:
    return counter(exporter, "aaisp_exporter_snapshot_lookups_total", result="refreshed_ahead")


def counter(exporter: Server, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` on the exporter's ``/metrics`` matching ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    status, _, body = fetch(exporter.base_url + "/metrics")
    if status != 200:
        raise InfraError(f"{exporter.name} /metrics answered {status}")
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def sh(command: str | Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a tool to its end, its output captured (a string is run by the shell)."""
    shell = isinstance(command, str)
    return subprocess.run(
        command, shell=shell, capture_output=True, text=True, timeout=timeout, check=False
    )


def git(*args: str) -> str:
    done = sh(["git", "-C", str(ROOT), *args])
    return done.stdout.strip() if done.returncode == 0 else ""


def results_commit() -> str:
    """The commit that last changed the committed RESULTS.md: the code that produced it."""
    return git("log", "-1", "--format=%h", "--", "benchmarks/RESULTS.md")


def export_today(rev: str) -> tuple[str, list[str]]:
    """(short commit, command) of ``rev``'s tree, exported once with ``git archive`` under OUT
    and run from this virtualenv (PYTHONPATH puts it before the editable install)."""
    commit = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        raise InfraError(f"no commit {rev!r} in {ROOT}")
    short = git("rev-parse", "--short", commit)
    directory = OUT / f"today-{short}"
    marker = directory / ".exported"  # written once tar has finished
    if not (marker.is_file() and marker.read_text().strip() == commit):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        done = sh(f"git -C '{ROOT}' archive {commit} | tar -x -C '{directory}'")
        if done.returncode != 0 or not (directory / "aaisp_multi_exporter").is_dir():
            raise InfraError(f"git archive {short} | tar -x failed: {done.stderr.strip()}")
        marker.write_text(commit + "\n")
    return short, ["env", f"PYTHONPATH={directory}", PYTHON, "-m", "aaisp_multi_exporter"]
