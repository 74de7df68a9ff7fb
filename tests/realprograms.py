"""Tests that drive real programs (Chromium, Prometheus) find them here.

A developer without the program gets a skip that says what is missing; CI sets
``AAISP_REQUIRE_REAL_PROGRAMS=1`` so a missing program fails the run instead of quietly
skipping the very tests that matter there.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REQUIRE_ENV = "AAISP_REQUIRE_REAL_PROGRAMS"


def programs_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def find_program(path_or_name: str) -> str | None:
    """An absolute path is taken as is; a bare name is looked up on ``PATH``."""
    if os.sep in path_or_name:
        usable = os.path.isfile(path_or_name) and os.access(path_or_name, os.X_OK)
        return path_or_name if usable else None
    return shutil.which(path_or_name)


def require_program(path_or_name: str, hint: str = "") -> str:
    """The program's path; skip the test without it, or fail when CI demands real programs.

    ``hint`` says how to get it, e.g. ``"apt-get install chromium"``.
    """
    found = find_program(path_or_name)
    if found is not None:
        return found
    reason = f"{path_or_name} not found" + (f" ({hint})" if hint else "")
    if programs_required():
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` over ``text``: its exit status and what it said."""
    tool = require_program("promtool", "apt-get install prometheus")
    return subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def promtool_clean(text: str) -> None:
    """The exposition passes ``promtool check metrics``."""
    checked = promtool_check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
