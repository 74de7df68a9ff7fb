"""``--chaos.suggest=FILE`` as a process: it never writes over a ``--config.file`` or a file it
did not write, refuses before CHAOS is asked, and replaces a file it wrote.

Which fields become gauges is in ``test_suggest.py``; the round trip in ``test_run_declared.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from aaisp_multi_exporter.diagnostics.suggest import HEADER
from aaisp_multi_exporter.simulator import Simulator
from tests.conftest import SENTINEL, config_text


async def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes, by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("config_flags", "suggest", "problem"),
    [
        pytest.param(
            ["--config.file", "m.toml"],
            "m.toml",
            "m.toml is a --config.file; write the suggestions to another file",
            id="the-config-file",
        ),
        pytest.param(
            ["--config.file", "conf.d/*.toml"],
            "conf.d/../conf.d/m.toml",
            "conf.d/../conf.d/m.toml is a --config.file; write the suggestions to another file",
            id="a-file-of-a-glob",
        ),
        pytest.param(
            ["--config.file", "m.toml"],
            "notes.toml",
            "notes.toml exists and was not written by --chaos.suggest (its first line would "
            "say so); remove it or choose another file",
            id="a-file-it-did-not-write",
        ),
        pytest.param(
            ["--config.file", "m.toml", "--config.file", "suggested.toml"],
            "suggested.toml",
            "suggested.toml is a --config.file; write the suggestions to another file",
            id="its-own-file-loaded-as-config",
        ),
    ],
)
async def test_suggest_never_overwrites(
    simulator: Simulator, tmp_path: Path, config_flags: list[str], suggest: str, problem: str
) -> None:
    """Before: ``--config.file m.toml --chaos.suggest=m.toml`` replaced the configuration,
    credentials and all. Now: one line, exit 1, no CHAOS call, every file byte for byte."""
    (tmp_path / "conf.d").mkdir()
    for path in ("m.toml", "conf.d/m.toml"):
        (tmp_path / path).write_text(config_text(simulator.url))
    (tmp_path / "notes.toml").write_text("# my notes\n[modules.x]\n")
    (tmp_path / "suggested.toml").write_text(f"{HEADER}: an earlier run\n")
    before = files(tmp_path)
    status, out, err = await run_cli(*config_flags, f"--chaos.suggest={suggest}", cwd=tmp_path)
    assert (status, out, err) == (1, "", f"--chaos.suggest: {problem}\n")
    assert simulator.total_calls == 0
    assert files(tmp_path) == before


@pytest.mark.parametrize("existing", [None, f"{HEADER}: an earlier run\n# stale\n", ""])
async def test_suggest_writes_a_new_file_or_its_own(
    simulator: Simulator, tmp_path: Path, existing: str | None
) -> None:
    """A new file, an empty one, or one an earlier run wrote (its first line says so) is
    written whole, and the configuration is left alone."""
    config = tmp_path / "m.toml"
    config.write_text(config_text(simulator.url))
    original = config.read_bytes()
    out_file = tmp_path / "suggested.toml"
    if existing is not None:
        out_file.write_text(existing)
    status, out, err = await run_cli(
        "--config.file", "m.toml", "--chaos.suggest", "suggested.toml", cwd=tmp_path
    )
    assert status == 0, out + err
    assert "Suggestions written to suggested.toml: " in out
    text = out_file.read_text()
    assert text.startswith(f"{HEADER}: ")
    assert "# stale" not in text
    assert SENTINEL not in text
    assert config.read_bytes() == original
    assert sorted(files(tmp_path)) == ["m.toml", "suggested.toml"]  # no temporary file left
