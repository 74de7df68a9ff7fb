"""Where the exporter listens (``web/listener.py``): the address, bind errors, one-line exits.

The pure parts are table-driven; the exits run the real exporter in a subprocess, where a
listen problem must be one log line naming the address, exit 1, and nothing left open.
"""

from __future__ import annotations

import errno
import socket
import subprocess

import pytest

from aaisp_multi_exporter.web.listener import (
    SYSTEMD,
    InvalidListenAddress,
    ListenError,
    bind_reason,
    parse_listen_address,
    show_address,
    systemd_sockets,
)
from tests.processes import SHIPPED_ENV, run_exporter


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_exporter(*args, env=SHIPPED_ENV)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9099", (None, 9099)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9099", ("::1", 9099)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_listen_address(address: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("9099", "want [host]:port"),
        ("host:", "want [host]:port"),
        ("host:port", "want [host]:port"),
        (":-1", "want [host]:port"),
        (":٩٠٩٩", "want [host]:port"),  # digits, but not ASCII ones: refused, as Go does
        ("", "want [host]:port"),
        (":65536", "port out of range (0-65535)"),
        (":70000", "port out of range (0-65535)"),
        (":" + "9" * 5000, "port out of range (0-65535)"),
    ],
)
def test_bad_listen_address(address: str, reason: str) -> None:
    with pytest.raises(InvalidListenAddress, match=r"invalid --web\.listen-address") as caught:
        parse_listen_address(address)
    assert caught.value.reason == reason
    assert len(str(caught.value)) < 150  # a 5,000-digit port is cut, not echoed


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), "address already in use"),
        (
            OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
            "cannot assign requested address (not an address of this host)",
        ),
        (
            OSError(errno.EACCES, "Permission denied"),
            "permission denied (ports below 1024 need privileges)",
        ),
        (OSError(errno.EIO, "Input/output error"), "input/output error"),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "cannot resolve the host (Name or service not known)",
        ),
    ],
)
def test_bind_reason(error: OSError, reason: str) -> None:
    assert bind_reason(error) == reason


@pytest.mark.parametrize(
    ("host", "port", "shown"),
    [(None, 9099, ":9099"), ("127.0.0.1", 1, "127.0.0.1:1"), ("::1", 9099, "[::1]:9099")],
)
def test_show_address(host: str | None, port: int, shown: str) -> None:
    assert show_address(host, port) == shown


def assert_one_line_exit_1(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A listen problem: exit 1, and stderr is one log line naming it, with nothing else."""
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "level=error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    for noise in ("Traceback", "Unclosed", "Exception"):
        assert noise not in result.stderr


@pytest.mark.parametrize(
    ("address", "fragments"),
    [
        ("nowhere", ("address=nowhere", 'reason="want [host]:port"')),
        (":70000", ("address=:70000", 'reason="port out of range (0-65535)"')),
        (
            "192.0.2.1:9099",  # TEST-NET-1: never an address of this host
            ("address=192.0.2.1:9099", "cannot assign requested address"),
        ),
    ],
)
def test_bad_listen_address_is_one_line_and_exit_1(
    address: str, fragments: tuple[str, ...]
) -> None:
    """One line naming the address and exit 1 (a malformed address included)."""
    assert_one_line_exit_1(run("--demo", "--web.listen-address", address), *fragments)


@pytest.mark.parametrize("args", [("--demo",), ("--config.file", "modules.toml")])
def test_port_in_use_is_one_line_and_exit_1(args: tuple[str, ...]) -> None:
    """The port is bound before the demo simulator or the CHAOS session exist, so nothing is
    left open on the way out."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run(*args, "--web.listen-address", address)
    assert_one_line_exit_1(
        result, 'msg="cannot listen; not starting"', f"address={address}", "already in use"
    )


NOT_FOUND = "no socket activation file descriptors found"


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        pytest.param({}, f"{NOT_FOUND} (LISTEN_PID unset, LISTEN_FDS unset)", id="unset"),
        # Before: "(LISTEN_PID, LISTEN_FDS unset)" whichever was missing.
        pytest.param({"LISTEN_FDS": "1"}, f"{NOT_FOUND} (LISTEN_PID unset)", id="no-pid"),
        pytest.param({"LISTEN_PID": "1234"}, f"{NOT_FOUND} (LISTEN_FDS unset)", id="no-fds"),
        pytest.param(
            {"LISTEN_PID": "1234", "LISTEN_FDS": " "}, f"{NOT_FOUND} (LISTEN_FDS empty)", id="empty"
        ),
        pytest.param(
            {"LISTEN_PID": "", "LISTEN_FDS": "2"}, f"{NOT_FOUND} (LISTEN_PID empty)", id="no-pid2"
        ),
        pytest.param(
            {"LISTEN_PID": "4242", "LISTEN_FDS": "1"},
            "LISTEN_PID is not this process (1234): sockets not ours",
            id="another-process",
        ),
        pytest.param(
            {"LISTEN_PID": "1234", "LISTEN_FDS": "0"},
            "no socket activation file descriptors found (LISTEN_FDS=0)",
            id="none-passed",
        ),
        pytest.param(
            {"LISTEN_PID": "1234", "LISTEN_FDS": "one"},
            "LISTEN_PID and LISTEN_FDS must be small whole numbers",
            id="not-a-number",
        ),
        pytest.param(
            {"LISTEN_PID": "1234", "LISTEN_FDS": "9" * 5000},
            "LISTEN_PID and LISTEN_FDS must be small whole numbers",
            id="huge",
        ),
    ],
)
def test_systemd_sockets_refused(environ: dict[str, str], reason: str) -> None:
    """Nothing usable from systemd is one reason; the variables are consumed either way, as
    go-systemd's ``activation.Files(true)`` does, and nothing else is touched."""
    env = {**environ, "LISTEN_FDNAMES": "web", "HOME": "/nonexistent"}
    with pytest.raises(ListenError) as caught:
        systemd_sockets(env, pid=1234)
    assert (caught.value.address, caught.value.reason) == (SYSTEMD, reason)
    assert env == {"HOME": "/nonexistent"}
