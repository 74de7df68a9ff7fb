"""examples/systemd/: checked by systemd's own tools and run as the units would run it.

``systemd-analyze verify`` needs the program of ``ExecStart`` to exist; it is not installed at
``/opt/aaisp-multi-exporter`` here, so the units are verified in a copy whose only change is
that path, pointed at this environment's ``aaisp-multi-exporter`` (and the unchanged files are
shown to fail on that path alone). This machine has no systemd as PID 1, so the units are never
started by systemd itself: the sandbox is rated offline (``systemd-analyze security``), and
the service's exact command line is run under ``systemd-socket-activate`` on a socket like the
socket unit's.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aaisp_multi_exporter.cli import DEFAULT_PORT, build_parser
from aaisp_multi_exporter.config import load_config
from aaisp_multi_exporter.config.models import MAX_MODULE_TIMEOUT_SECONDS, ModuleConfig
from aaisp_multi_exporter.probe.request import MAX_TIMEOUT_SECONDS
from aaisp_multi_exporter.serve import SHUTDOWN_GRACE_SECONDS
from tests.processes import REPO, free_port
from tests.realprograms import require_program

SYSTEMD = REPO / "examples" / "systemd"
SERVICE = SYSTEMD / "aaisp-multi-exporter.service"
SOCKET = SYSTEMD / "aaisp-multi-exporter.socket"
CONFIG = SYSTEMD / "modules.toml"
#: Where systemd puts the service's LoadCredential= files (``$CREDENTIALS_DIRECTORY``).
CREDENTIALS = f"/run/credentials/{SERVICE.name}"
#: Where the service's comments install the exporter.
UNIT_PROGRAM = "/opt/aaisp-multi-exporter/bin/aaisp-multi-exporter"
#: The console script of the environment running the tests (a pip install makes it).
PROGRAM = str(Path(sys.executable).parent / "aaisp-multi-exporter")
HINT = "apt-get install systemd"

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(text: str) -> Unit:
    """Sections of ``key=value`` pairs in order, repeated keys kept, ``\\`` continuations
    joined and comments dropped, as systemd reads a unit file."""
    sections: Unit = {}
    current: list[tuple[str, str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        key, _, value = stripped.partition("=")
        current.append((key.strip(), " ".join(value.split())))
    return sections


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[A]\nx=1\n", {"A": [("x", "1")]}),
        ("# c\n[A]\n; c\nx = 1\nx=2\n", {"A": [("x", "1"), ("x", "2")]}),
        (
            "[S]\nExecStart=/bin/p \\\n    --a \\\n    --b=c\n",
            {"S": [("ExecStart", "/bin/p --a --b=c")]},
        ),
        ("[A]\n[B]\ny=\n", {"A": [], "B": [("y", "")]}),
    ],
)
def test_parse_unit(text: str, expected: Unit) -> None:
    assert parse_unit(text) == expected


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [value for name, value in unit[section] if name == key]


def only(unit: Unit, section: str, key: str) -> str:
    (value,) = values(unit, section, key)
    return value


def service() -> Unit:
    return parse_unit(SERVICE.read_text())


def exec_start() -> list[str]:
    return shlex.split(only(service(), "Service", "ExecStart"))


def test_service_runs_the_exporter_on_the_socket_unit() -> None:
    """The command line is the exporter's (its own parser reads it), on systemd's socket; the
    socket is the exporter's usual port; stopping waits as long as a probe may run."""
    program, *args = exec_start()
    assert program == UNIT_PROGRAM
    parsed = build_parser().parse_args(args)
    assert parsed.systemd_socket is True
    assert parsed.config_file == ["/etc/aaisp-multi-exporter/modules.toml"]
    unit = service()
    assert only(unit, "Unit", "Requires") == SOCKET.name
    assert SOCKET.name in only(unit, "Unit", "After").split()
    assert only(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    stop = only(unit, "Service", "TimeoutStopSec")
    assert float(stop.removesuffix("s")) > SHUTDOWN_GRACE_SECONDS
    assert only(unit, "Service", "DynamicUser") == "yes"
    socket_unit = parse_unit(SOCKET.read_text())
    assert values(socket_unit, "Socket", "ListenStream") == [str(DEFAULT_PORT)]
    assert only(socket_unit, "Socket", "Accept") == "no"


def test_stopping_waits_for_the_longest_deadline_a_module_may_set() -> None:
    """SPEC 8, R4: TimeoutStopSec covers the longest deadline: the largest
    ``timeout_seconds`` the model accepts, or the largest scrape timeout a probe takes."""
    limits = ModuleConfig.model_fields["timeout_seconds"].metadata
    largest = max(getattr(limit, "le", 0) or 0 for limit in limits)
    assert largest == MAX_MODULE_TIMEOUT_SECONDS == 600
    assert max(largest, MAX_TIMEOUT_SECONDS) <= SHUTDOWN_GRACE_SECONDS
    stop = only(service(), "Service", "TimeoutStopSec")
    assert float(stop.removesuffix("s")) > SHUTDOWN_GRACE_SECONDS


def credentials() -> dict[str, str]:
    """LoadCredential= of the service: the name systemd gives each file, and where it reads it."""
    loaded = [value.split(":", 1) for value in values(service(), "Service", "LoadCredential")]
    return {name: path for name, path in loaded}


def test_credentials_reach_the_exporter_as_files() -> None:
    """No credential in the environment (no EnvironmentFile=, no Environment=): systemd passes
    files, and the unit's modules.toml is the repository's, its credential set reading those
    files instead of variables."""
    unit = service()
    assert values(unit, "Service", "EnvironmentFile") == []
    assert values(unit, "Service", "Environment") == []
    assert credentials() == {
        "control_login": "/etc/aaisp-multi-exporter/control_login",
        "control_password": "/etc/aaisp-multi-exporter/control_password",
    }
    shipped = (REPO / "modules.toml").read_text()
    reading_files = shipped.replace(
        'control_login_env = "AAISP_EXPORTER_AUTH__CONTROL_LOGIN"\n'
        'control_password_env = "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD"\n',
        "# The files systemd passes the service (its LoadCredential= lines).\n"
        f'control_login_file = "{CREDENTIALS}/control_login"\n'
        f'control_password_file = "{CREDENTIALS}/control_password"\n',
    )
    assert reading_files != shipped
    assert CONFIG.read_text() == reading_files


def verify(directory: Path) -> subprocess.CompletedProcess[str]:
    analyze = require_program("systemd-analyze", HINT)
    return subprocess.run(
        [analyze, "verify", SOCKET.name, SERVICE.name],
        capture_output=True, text=True, timeout=120, cwd=directory, check=False,
    )  # fmt: skip


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert Path(PROGRAM).is_file(), PROGRAM
    for unit in (SOCKET, SERVICE):
        (tmp_path / unit.name).write_text(unit.read_text().replace(UNIT_PROGRAM, PROGRAM))
    result = verify(tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # As shipped, the program's path is the one thing verify objects to.
    shipped = verify(SYSTEMD)
    assert shipped.returncode != 0
    complaints = (shipped.stdout + shipped.stderr).strip().splitlines()
    assert complaints == [
        f"{SERVICE.name}: Command {UNIT_PROGRAM} is not executable: No such file or directory"
    ]


def test_service_sandbox_rates_ok() -> None:
    """``systemd-analyze security``: the exposure left is what talking to CHAOS needs."""
    analyze = require_program("systemd-analyze", HINT)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", SERVICE.name],
        capture_output=True, text=True, timeout=120, cwd=SYSTEMD, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout
    assert found.group(2) in ("SAFE", "OK"), result.stdout


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_service_command_line_under_socket_activation(tmp_path: Path) -> None:
    """ExecStart word for word (the program and the configuration's path moved into this
    checkout), with examples/systemd/modules.toml reading the credentials from a directory
    made as systemd makes ``$CREDENTIALS_DIRECTORY``, on a socket that
    ``systemd-socket-activate`` binds as the socket unit would: ready with that
    configuration, a reload that says the credentials need a restart, and a clean exit on
    SIGTERM."""
    activate = require_program("systemd-socket-activate", HINT)
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "control_login").write_text("ab12@a")
    (directory / "control_password").write_text("S3NTINEL-unit\n")
    config = tmp_path / "modules.toml"
    config.write_text(CONFIG.read_text().replace(CREDENTIALS, str(directory)))
    assert load_config(config).auths["default"].form_fields() == {
        "control_login": "ab12@a",
        "control_password": "S3NTINEL-unit",
    }
    shipped = "/etc/aaisp-multi-exporter/modules.toml"
    args = [arg.replace(shipped, str(config)) for arg in exec_start()[1:]]
    port = free_port()
    log = tmp_path / "exporter.log"
    # systemd-socket-activate passes no environment but what it is told: the tests' own
    # PYTHONPATH (a checkout under test) goes too.
    setenv = [f"--setenv=CREDENTIALS_DIRECTORY={directory}"]
    if "PYTHONPATH" in os.environ:
        setenv.append(f"--setenv=PYTHONPATH={os.environ['PYTHONPATH']}")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [activate, f"--listen=127.0.0.1:{port}", *setenv, PROGRAM, *args],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = http_status(f"http://127.0.0.1:{port}/-/ready")
            except OSError:
                time.sleep(0.1)
        assert status == 200, log.read_text()
        process.send_signal(signal.SIGHUP)  # ExecReload=
        while time.monotonic() < deadline and "reloaded on SIGHUP" not in log.read_text():
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)
    text = log.read_text()
    assert re.search(rf"msg=listening addresses=127\.0\.0\.1:{port} ", text), text
    notes = [line for line in text.splitlines() if "restart the exporter" in line]
    assert len(notes) == 1, text
    (note,) = notes
    assert "table=auths.default keys=control_login_file,control_password_file" in note
    assert "systemd credential" in note
    assert "S3NTINEL" not in text
