"""exporter-toolkit's web flags (SPEC 8, R3) on the real process: ``--log.level=warn``,
``--web.listen-address`` repeated, ``--web.systemd-socket`` with a socket inherited as fd 3,
and ``--web.external-url``/``--web.route-prefix`` with every route under the prefix."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from aaisp_multi_exporter.cli import build_parser
from aaisp_multi_exporter.web.paths import WebPaths, web_paths
from tests.conftest import ExporterFactory, samples
from tests.processes import REPO, free_port
from tests.realprograms import require_program
from tests.web.test_listener import assert_one_line_exit_1

EXPORTER = [sys.executable, "-m", "aaisp_multi_exporter"]
STARTUP_SECONDS = 20.0
#: Makes fd 3 the socket it is given and says so in LISTEN_FDS/LISTEN_PID, then execs the
#: exporter in its own process (so LISTEN_PID is the exporter's), as systemd does.
LAUNCHER = """\
import os, sys
fd, pid_offset, *args = sys.argv[1:]
if int(fd) != 3:
    os.dup2(int(fd), 3)
    os.close(int(fd))
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid() + int(pid_offset))
os.environ["LISTEN_FDNAMES"] = "web"
os.execv(sys.executable, [sys.executable, "-m", "aaisp_multi_exporter", *args])
"""


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as systemd and Kubernetes stop it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@contextlib.contextmanager
def started(
    argv: Sequence[str], tmp_path: Path, *, pass_fds: Sequence[int] = ()
) -> Iterator[Started]:
    log = tmp_path / "exporter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=REPO, pass_fds=pass_fds
        )
    try:
        yield Started(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket, as systemd's ``ListenStream=/run/...`` offers one."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self.unix_path)
        self.sock = sock


Getter = Callable[[str], tuple[int, str]]


def tcp_get(base: str) -> Getter:
    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:  # loopback
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    return get


def unix_get(path_of_socket: str) -> Getter:
    def get(path: str) -> tuple[int, str]:
        connection = UnixHTTPConnection(path_of_socket)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    return get


def wait_healthy(get: Getter, exporter: Started, path: str = "/-/healthy") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if exporter.process.poll() is not None:
            pytest.fail(f"exporter exited {exporter.process.returncode}:\n{exporter.text()}")
        with contextlib.suppress(OSError):
            if get(path)[0] == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"exporter not healthy within {STARTUP_SECONDS:.0f}s:\n{exporter.text()}")


def assert_probes(get: Getter, prefix: str = "") -> None:
    status, body = get(f"{prefix}/probe?target=10000&module=line")
    assert status == 200, body
    assert samples(body)["probe_success"] == 1


# --------------------------------------------------------------------------- --log.level


def test_log_level_warn(tmp_path: Path) -> None:
    """exporter-toolkit's ``warn``: warnings (a rejected probe) are logged, info lines not."""
    port = free_port()
    argv = [*EXPORTER, "--demo", "--log.level=warn", f"--web.listen-address=127.0.0.1:{port}"]
    with started(argv, tmp_path) as exporter:
        get = tcp_get(f"http://127.0.0.1:{port}")
        wait_healthy(get, exporter)
        assert get("/probe?target=10000&module=nosuch")[0] == 400
        assert exporter.stop() == 0
    lines = exporter.text().splitlines()
    # exporter-toolkit's spelling in the output too (SPEC 8, R4), never Python's "warning".
    assert any("level=warn " in line and "request rejected" in line for line in lines), lines
    assert "level=warning" not in exporter.text()
    assert not [line for line in lines if "level=info" in line]


# --------------------------------------------------------------------------- listen addresses


def test_listen_address_repeated_gives_one_listener_each(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    addresses = [f"127.0.0.1:{ports[0]}", f"[::1]:{ports[1]}"]
    if not socket.has_ipv6:
        addresses[1] = f"127.0.0.1:{ports[1]}"
    argv = [*EXPORTER, "--demo", *(f"--web.listen-address={a}" for a in addresses)]
    with started(argv, tmp_path) as exporter:
        for address in addresses:
            get = tcp_get(f"http://{address}")
            wait_healthy(get, exporter)
            assert_probes(get)
        assert exporter.stop() == 0
    (listening,) = [line for line in exporter.text().splitlines() if "msg=listening" in line]
    assert f"addresses={','.join(addresses)} " in listening


def test_listen_address_repeated_one_taken_is_one_line_and_exit_1() -> None:
    """Each address is bound before anything starts: the second one taken is one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [*EXPORTER, "--demo", "--web.listen-address", f"127.0.0.1:{free_port()}",
             "--web.listen-address", address],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        )  # fmt: skip
    assert_one_line_exit_1(result, f"address={address}", "already in use")


# --------------------------------------------------------------------------- systemd sockets


def listening_socket(kind: str, tmp_path: Path) -> tuple[socket.socket, Getter, str]:
    """A bound, listening socket as systemd would pass it; how to reach it; how it is named."""
    if kind == "unix":
        path = str(tmp_path / "exporter.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen()
        return sock, unix_get(path), path
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    return sock, tcp_get(f"http://{address}"), address


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_systemd_socket_inherited_as_fd_3(kind: str, tmp_path: Path) -> None:
    """The process serves on the socket it inherits, not on --web.listen-address, and stops
    cleanly on SIGTERM as systemd sends it."""
    sock, get, name = listening_socket(kind, tmp_path)
    ignored = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-c", LAUNCHER, str(sock.fileno()), "0", "--demo",
            "--web.systemd-socket", "--web.listen-address", ignored]  # fmt: skip
    with started(argv, tmp_path, pass_fds=[sock.fileno()]) as exporter:
        sock.close()  # only the exporter holds it now
        wait_healthy(get, exporter)
        assert_probes(get)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://{ignored}/-/healthy", timeout=5)
        assert exporter.stop() == 0
    (listening,) = [line for line in exporter.text().splitlines() if "msg=listening" in line]
    assert f"addresses={name} " in listening
    assert "Traceback" not in exporter.text()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        pytest.param("unset", "no socket activation file descriptors found", id="not-activated"),
        pytest.param(
            "fds-without-pid",
            "no socket activation file descriptors found (LISTEN_PID unset)",
            id="fds-without-pid",
        ),
        pytest.param("another-process", "LISTEN_PID is not this process", id="another-pid"),
        pytest.param("file", "socket operation on non-socket", id="a-file"),
        pytest.param("udp", "not a listening stream socket", id="udp"),
        pytest.param("not-listening", "not a listening stream socket", id="bound-only"),
    ],
)
def test_systemd_socket_unusable_is_one_line_and_exit_1(
    case: str, reason: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        extra_env = {"LISTEN_FDS": "1"} if case == "fds-without-pid" else {}
        if case in ("unset", "fds-without-pid"):
            argv = [*EXPORTER, "--demo", "--web.systemd-socket"]
            fds: list[int] = []
        else:
            if case == "file":
                handle = stack.enter_context((tmp_path / "file").open("w"))
                fd = handle.fileno()
            else:
                kind = socket.SOCK_DGRAM if case == "udp" else socket.SOCK_STREAM
                sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
                sock.bind(("127.0.0.1", 0))
                if case == "another-process":
                    sock.listen()
                fd = sock.fileno()
            offset = "1" if case == "another-process" else "0"
            argv = [sys.executable, "-c", LAUNCHER, str(fd), offset, "--demo",
                    "--web.systemd-socket"]  # fmt: skip
            fds = [fd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")} | extra_env
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
            pass_fds=fds, env=env,
        )  # fmt: skip
    assert_one_line_exit_1(result, 'msg="cannot listen; not starting"', reason)
    assert 'address="systemd socket activation' in result.stderr
    assert "LISTEN_FDS unset" not in result.stderr or case == "unset"


def test_systemd_socket_activate(tmp_path: Path) -> None:
    """systemd's own launcher: it binds, waits for the first connection, then execs the
    exporter with the socket as fd 3; that first connection is answered."""
    activate = require_program("systemd-socket-activate", "apt-get install systemd")
    port = free_port()
    argv = [activate, "--listen", f"127.0.0.1:{port}", *EXPORTER, "--demo",
            "--web.systemd-socket"]  # fmt: skip
    with started(argv, tmp_path) as exporter:
        get = tcp_get(f"http://127.0.0.1:{port}")
        wait_healthy(get, exporter)
        assert_probes(get)
        assert exporter.stop() == 0
    assert re.search(rf"msg=listening addresses=127\.0\.0\.1:{port} ", exporter.text())


# --------------------------------------------------------------------------- route prefix


class Links(HTMLParser):
    """Every ``href`` and form ``action`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag == "form" and values.get("action"):
            self.actions.append(str(values["action"]))


ROUTES = ["/", "/metrics", "/config", "/discover", "/health", "/-/healthy", "/-/ready"]


@pytest.mark.parametrize(
    ("external_url", "route_prefix"),
    [
        pytest.param("http://proxy.example:8080/aaisp/", "", id="external-url"),
        pytest.param("", "/aaisp", id="route-prefix"),
        pytest.param("", "aaisp/", id="route-prefix-slashes"),
    ],
)
async def test_every_route_lives_under_the_prefix(
    make_exporter: ExporterFactory, external_url: str, route_prefix: str
) -> None:
    exporter = await make_exporter(paths=web_paths(external_url, route_prefix))
    http = exporter.http
    for path in ROUTES:
        async with http.get(exporter.url + "/aaisp" + path) as response:
            assert response.status == 200, path
        if path != "/":
            async with http.get(exporter.url + path) as response:
                assert response.status == 404, path
    probe = "/probe?target=10000&module=line"
    assert samples((await exporter.get("/aaisp" + probe))[1])["probe_success"] == 1
    assert (await exporter.get(probe))[0] == 404
    async with http.post(exporter.url + "/aaisp/-/reload") as response:
        assert response.status == 200
    async with http.get(exporter.url + "/aaisp/-/reload") as response:
        assert response.status == 405
    # As Prometheus: the root (and the bare prefix) send a browser to the landing page.
    for path in ("/", "/aaisp"):
        async with http.get(exporter.url + path, allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (302, "/aaisp/"), path


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param(web_paths("", "/aaisp"), id="route-prefix"),
        pytest.param(web_paths("http://proxy.example/a/b/", ""), id="deep-external-url"),
    ],
)
async def test_landing_page_links_work_under_the_prefix(
    make_exporter: ExporterFactory, paths: WebPaths
) -> None:
    """Followed from the page as a browser resolves them, every link and the probe form
    answer 200 under the prefix, the probe's log links included."""
    exporter = await make_exporter(paths=paths)
    prefix = paths.route_prefix
    await exporter.get(f"{prefix}/probe?target=10000&module=line")
    await exporter.get(f"{prefix}/probe?target=99999&module=line")  # a failing one too
    async with exporter.http.get(exporter.url + "/") as response:  # redirected to the page
        assert response.status == 200
        page_url = str(response.url)
        page = await response.text()
    assert urlsplit(page_url).path == f"{prefix}/"
    links = Links()
    links.feed(page)
    assert len(links.hrefs) >= 6, links.hrefs  # metrics, config, discover, health, two logs
    (action,) = links.actions
    targets = [urljoin(page_url, href) for href in links.hrefs]
    targets.append(urljoin(page_url, action) + "?target=10000&module=line&module=quota")
    for url in targets:
        assert urlsplit(url).path.startswith(f"{prefix}/"), url
        async with exporter.http.get(url) as response:
            assert response.status == 200, url


@pytest.mark.parametrize(
    ("paths", "metrics_path"),
    [
        pytest.param(web_paths(), None, id="root"),
        pytest.param(web_paths("", "/aaisp"), "/aaisp/probe", id="route-prefix"),
        # A proxy that strips /out before the exporter: served at the root, scraped at /out.
        pytest.param(web_paths("https://proxy.example/out", "/"), "/out/probe", id="proxy"),
    ],
)
async def test_discover_tells_prometheus_the_probe_path(
    make_exporter: ExporterFactory, paths: WebPaths, metrics_path: str | None
) -> None:
    """HTTP SD labels override a job's ``metrics_path``: under a prefix each group carries
    ``__metrics_path__``, at the root nothing changes."""
    exporter = await make_exporter(paths=paths)
    async with exporter.http.get(exporter.url + paths.route("/discover?module=line")) as response:
        assert response.status == 200
        groups = await response.json()
    assert groups
    for group in groups:
        assert group["labels"].get("__metrics_path__") == metrics_path
        assert group["labels"]["__param_module"] == "line"


def test_demo_under_a_route_prefix_logs_urls_that_work(tmp_path: Path) -> None:
    """The command line end to end: the demo's example URLs carry the prefix, and answer."""
    port = free_port()
    argv = [*EXPORTER, "--demo", "--web.route-prefix=/aaisp/",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with started(argv, tmp_path) as exporter:
        get = tcp_get(f"http://127.0.0.1:{port}")
        wait_healthy(get, exporter, "/aaisp/-/healthy")
        assert get("/-/healthy")[0] == 404
        urls = re.findall(r'msg="demo: try this probe" url="?([^"\s]+)', exporter.text())
        assert len(urls) >= 3
        for url in urls:
            assert url.startswith(f"http://127.0.0.1:{port}/aaisp/"), url
            assert tcp_get("")(url)[0] in (200, 503), url  # 503: a never-answered auth
        assert exporter.stop() == 0
    assert re.search(r"msg=listening .* route_prefix=/aaisp$", exporter.text(), re.MULTILINE)


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--web.external-url", "localhost:9099", "want an absolute http or https URL"),
        ("--web.external-url", "https://h/x?y", "no query or fragment"),
        ("--web.external-url", "https://h/x#", "no query or fragment"),
        ("--web.external-url", "http://h/a/../b", "its path '/a/../b': no . or .. segment allowed"),
        ("--web.route-prefix", "/{x}", "a path may hold only"),
        ("--web.route-prefix", "/.", "no . or .. segment allowed"),  # redirected to itself
        ("--web.route-prefix", "/a/../b", "no . or .. segment allowed"),  # every endpoint 404
        ("--web.route-prefix", "/a//b", "no empty segment (//) allowed"),
    ],
)
def test_bad_web_path_flags_are_one_line_and_exit_1(flag: str, value: str, reason: str) -> None:
    """Refused at start, before anything listens: one line naming the flag, the value and why.
    (The listen address is bad too, so a regression fails on the message instead of serving.)"""
    result = subprocess.run(
        [*EXPORTER, "--demo", f"{flag}={value}", "--web.listen-address=nowhere"],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert_one_line_exit_1(result, f'msg="invalid {flag}; not starting"', f"value={value} ")
    assert f'reason="{reason}' in result.stderr or f"reason={reason}" in result.stderr


def test_web_flags_defaults() -> None:
    """Nothing given: one listener on :9099 (set by main), no socket activation, the root."""
    args = build_parser().parse_args([])
    assert (args.listen_address, args.systemd_socket) == (None, False)
    assert (args.external_url, args.route_prefix) == ("", "")
    assert web_paths(args.external_url, args.route_prefix) == WebPaths()
