"""The exporter as a real process: the checkout it runs from, a free port for it, and one run
of the command line with its output captured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The environment the shipped modules.toml reads, with a sentinel password.
SHIPPED_ENV = {
    **os.environ,
    "AAISP_EXPORTER_AUTH__CONTROL_LOGIN": "ab12@a",
    "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD": "S3NTINEL-cli",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_exporter(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``aaisp-multi-exporter ARGS`` to completion from the checkout; ``env`` None inherits."""
    return subprocess.run(
        [sys.executable, "-m", "aaisp_multi_exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=None if env is None else dict(env),
        check=False,
    )
