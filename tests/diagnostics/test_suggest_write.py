"""``--chaos.suggest``'s file on disk: never over a ``--config.file`` or a file it did not
write, whole or not at all. What goes in it is in ``test_suggest.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aaisp_multi_exporter.diagnostics.suggest import HEADER, refusal, write
from tests.diagnostics.test_suggest import suggested
from tests.processes import REPO

# -- where the file goes --------------------------------------------------------------------------

WRITTEN = HEADER + ': an earlier run\n[[commands."telephony/info".gauges]]\n'


def _place(tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    """(the file asked for, the --config.file list) for each case of the refusal table."""
    config = tmp_path / "modules.toml"
    config.write_text("[auths.home]\n")
    out = tmp_path / "out.toml"
    if case == "config-file":
        return config, [str(config)]
    if case == "config-file-relative":  # the test runs in tmp_path
        return Path("modules.toml"), [str(config)]
    if case == "config-file-by-symlink":
        out.symlink_to(config)
        return out, [str(config)]
    if case == "config-file-hard-link":
        os.link(config, out)
        return out, [str(config)]
    if case == "config-file-with-header":  # a suggested file loaded beside modules.toml
        out.write_text(WRITTEN)
        return out, [str(config), str(out)]
    if case == "another-file":
        out.write_text("# my notes\n")
    elif case == "written-by-suggest":
        out.write_text(WRITTEN)
    elif case == "empty":
        out.write_text("")
    elif case == "directory":
        out.mkdir()
    elif case == "no-directory":
        return tmp_path / "missing" / "out.toml", [str(config)]
    return out, [str(config)]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("new-file", None),
        ("written-by-suggest", None),
        ("empty", None),
        ("config-file", "modules.toml is a --config.file; write the suggestions to another file"),
        ("config-file-relative", "modules.toml is a --config.file"),
        ("config-file-by-symlink", "out.toml is a --config.file"),
        ("config-file-hard-link", "out.toml is a --config.file"),
        ("config-file-with-header", "out.toml is a --config.file"),
        (
            "another-file",
            "out.toml exists and was not written by --chaos.suggest (its first line would say "
            "so); remove it or choose another file",
        ),
        ("directory", "out.toml exists and is not a file"),
        ("no-directory", "out.toml: no directory "),
    ],
)
def test_where_suggestions_may_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, problem: str | None
) -> None:
    """Nothing but a new file, an empty one or one it wrote itself; never a --config.file.
    A refused write leaves every file as it was, byte for byte."""
    monkeypatch.chdir(tmp_path)
    path, config_files = _place(tmp_path, case)
    before = _contents(tmp_path)
    found = refusal(path, config_files)
    written, line = write(path, suggested([{"number": "1", "calls": "2"}]), config_files)
    if problem is None:
        assert found is None
        assert written, line
        assert line.startswith(f"Suggestions written to {path}: 1 gauge(s).")
        assert path.read_text().startswith(HEADER + ":")
        assert 'field = "calls"' in path.read_text()
    else:
        assert found is not None
        assert problem in found
        assert (written, line) == (False, f"Suggestions not written: {found}")
        assert _contents(tmp_path) == before
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def _contents(directory: Path) -> dict[str, bytes | None]:
    return {
        str(path): path.read_bytes() if path.is_file() else None
        for path in sorted(directory.rglob("*"))
    }


#: A process whose files may not grow past 64 bytes (EFBIG, not SIGXFSZ), as a full disk or
#: a quota would stop a write half-way: then ``write`` on the file named, with some text.
_SHORT_OF_SPACE = """
import resource, signal, sys
from pathlib import Path
from aaisp_multi_exporter.diagnostics.suggest import write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
print(write(Path(sys.argv[1]), sys.argv[2])[1])
"""


def test_a_write_that_fails_half_way_leaves_the_old_file(tmp_path: Path) -> None:
    """The new text goes to a file beside the old one, renamed over it once complete: a
    write cut short leaves the old file whole and no temporary file behind."""
    path = tmp_path / "out.toml"
    path.write_text(WRITTEN)
    text = suggested([{"number": "1", "calls": "2"}])
    assert len(text) > 64
    done = subprocess.run(
        [sys.executable, "-c", _SHORT_OF_SPACE, str(path), text],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Suggestions not written: cannot write {path}: File too large\n"
    assert path.read_text() == WRITTEN
    assert sorted(os.listdir(tmp_path)) == ["out.toml"]


def test_the_header_is_the_first_line() -> None:
    assert suggested([]).startswith(HEADER + ":")
