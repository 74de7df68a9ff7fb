"""``--chaos.suggest``'s pure parts: which fields become gauges, their names, and a file that
always loads beside the configuration, whatever keys a reply carries.

The round trip against a real simulator is in ``test_run_declared.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaisp_multi_exporter.chaos.commands import compile_commands
from aaisp_multi_exporter.chaos.replies import parse_reply
from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.config.commands import (
    READ_ONLY,
    command_name_problem,
    field_problem,
    metric_problem,
)
from aaisp_multi_exporter.probe.suggest import (
    HEADER,
    Suggestions,
    _metric_name,
    refusal,
    render,
    write,
)
from tests.config.support import MINIMAL
from tests.declared import TELEPHONY_COMMAND
from tests.processes import REPO

DECLARED = '[modules.phones]\ncommands = ["telephony/info"]\n' + TELEPHONY_COMMAND
NAME = "telephony/info"


@pytest.mark.parametrize(
    ("field", "taken", "metric"),
    [
        ("calls_today", set(), "aaisp_telephony_calls_today"),
        ("Calls-Today", set(), "aaisp_telephony_calls_today"),
        ("calls_today", {"aaisp_telephony_calls_today"}, "aaisp_telephony_info_calls_today"),
        (
            "calls_today",
            {"aaisp_telephony_calls_today", "aaisp_telephony_info_calls_today"},
            "aaisp_telephony_info_calls_today_2",
        ),
        ("total", set(), "aaisp_telephony_total_value"),  # _total is a counter's
        ("calls_count", set(), "aaisp_telephony_calls_count_value"),
        ("--", set(), "aaisp_telephony_field"),
    ],
)
def test_metric_names(field: str, taken: set[str], metric: str) -> None:
    assert _metric_name(NAME, field, taken) == metric


@pytest.mark.parametrize(
    ("command", "field", "metric"),
    [
        # aaisp_probe_ and aaisp_exporter_ are the exporter's own: the loader refuses them.
        ("probe/info", "success", "aaisp_chaos_probe_success"),
        ("exporter/info", "build", "aaisp_chaos_exporter_build"),
        ("probe_x/info", "calls", "aaisp_chaos_probe_x_calls"),
        ("exporter/quota", "total", "aaisp_chaos_exporter_total_value"),
        ("probes/info", "calls", "aaisp_probes_calls"),  # not the exporter's prefix
    ],
)
def test_metric_names_the_loader_takes(command: str, field: str, metric: str) -> None:
    assert _metric_name(command, field, set()) == metric
    assert metric_problem(metric) is None


_SUBSYSTEM = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_FIELD_NAME = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(
    subsystem=st.one_of(_SUBSYSTEM, st.sampled_from(["probe", "exporter", "probe_", "exporter_"])),
    command=st.sampled_from(READ_ONLY),
    field=st.one_of(_FIELD_NAME, st.sampled_from(["total", "a_count", "x_sum", "created", "--"])),
    taken=st.integers(min_value=0, max_value=3),
)
def test_every_suggested_metric_loads(subsystem: str, command: str, field: str, taken: int) -> None:
    """Whatever the declared command and field (as the loader accepts them), and however
    many of the names it would pick are taken, the name suggested is one the loader takes."""
    name = f"{subsystem}/{command}"
    if command_name_problem(name) is not None or field_problem(field) is not None:
        return
    names: set[str] = set()
    for _ in range(taken):
        names.add(_metric_name(name, field, names))
    metric = _metric_name(name, field, names)
    assert metric not in names
    assert metric_problem(metric) is None, metric


def suggested(entries: list[dict[str, object]]) -> str:
    config = parse_config(MINIMAL + DECLARED, env={})
    command = compile_commands(config.commands)[NAME]
    body = json.dumps({"info": entries}).encode()
    lines = parse_reply(command, body, keep_entries=True).lines
    suggestions = Suggestions()
    suggestions.add(command, lines)  # type: ignore[arg-type]  # a LineIndex with keep_entries
    taken = [metric for declared in config.commands.values() for metric in declared.metrics()]
    return render(suggestions, taken, {NAME: len(lines)})


def gauges_loaded(text: str) -> list[tuple[str, str, str]]:
    """The file loads beside the configuration; the gauges it added."""
    config = parse_config(MINIMAL + DECLARED + "\n" + text, env={})
    return [(g.field, g.metric, g.kind) for g in config.commands[NAME].gauges[1:]]


@pytest.mark.parametrize(
    ("entries", "gauges", "comments"),
    [
        pytest.param(
            [{"number": f"0163296000{i}", "calls_today": str(i)} for i in range(3)],
            [("calls_today", "aaisp_telephony_calls_today", "count")],
            ['# "calls_today": carried by 3 entries'],
            id="whole-numbers",
        ),
        pytest.param(
            [{"number": "01632960000", "minutes_left": "120"}, {"number": "01632960001"}],
            [("minutes_left", "aaisp_telephony_minutes_left", "count")],
            ['# "minutes_left": carried by 1 entry'],
            id="one-entry",
        ),
        pytest.param(
            [{"number": "1", "rate": "1"}, {"number": "2", "rate": "1.5"}],
            [("rate", "aaisp_telephony_rate", "number")],
            [],
            id="a-fraction-makes-it-a-number",
        ),
        pytest.param(
            [{"number": "1", "plan": "7"}, {"number": "2", "plan": "gold"}],
            [],
            ["# Nothing to suggest from telephony/info (2 entries)."],
            id="one-text-value-is-not-a-gauge",
        ),
        pytest.param(
            [{"number": "1", "credit": "2.50", "name": "Home", "NAME": "x"}],
            [],
            ["# Nothing to suggest from telephony/info (1 entry)."],
            id="fields-already-read",
        ),
        pytest.param(
            [{"number": "1", "total": "3"}],
            [("total", "aaisp_telephony_total_value", "count")],
            [],
            id="counter-suffix",
        ),
        pytest.param(
            [{"number": "1", "a b": "3", "calls": "1"}],
            [("calls", "aaisp_telephony_calls", "count")],
            [
                '# Not suggested: telephony/info field "a b" (carried by 1 entry): its name '
                "is not one a declaration can hold."
            ],
            id="a-name-no-declaration-holds",
        ),
        pytest.param(
            [{"number": "1", 'x"\n[evil]\nk = 1': "3"}],
            [],
            [
                '# Not suggested: telephony/info field "x\\"\\n[evil]\\nk = 1" (carried by '
                "1 entry): its name is not one a declaration can hold."
            ],
            id="a-name-cannot-write-toml",
        ),
        pytest.param(
            [{"number": "1", "x" * 200: "3"}],
            [],
            [f'# Not suggested: telephony/info field "{"x" * 77}"... (carried by 1 entry)'],
            id="a-long-name-is-cut",
        ),
        pytest.param(
            [],
            [],
            ["# Nothing to suggest from telephony/info (0 entries)."],
            id="no-entries",
        ),
    ],
)
def test_suggestions(
    entries: list[dict[str, object]], gauges: list[tuple[str, str, str]], comments: list[str]
) -> None:
    text = suggested(entries)
    assert gauges_loaded(text) == gauges
    assert all(any(line.startswith(c) for line in text.splitlines()) for c in comments), text
    assert set(tomllib.loads(text)) <= {"commands"}


def test_help_does_not_change_with_the_replies() -> None:
    """A HELP line is part of what Prometheus stores; two checks write the same one."""
    one = suggested([{"number": "1", "calls": "1"}])
    three = suggested([{"number": str(i), "calls": "1"} for i in range(3)])
    help_of = [line for line in one.splitlines() if line.startswith("help")]
    assert help_of == [line for line in three.splitlines() if line.startswith("help")]
    assert help_of == ['help = "CHAOS telephony/info field calls; its unit is not known."']


@pytest.mark.parametrize("subsystem", ["probe", "exporter", "probe_calls", "telephony"])
def test_the_file_loads_for_any_subsystem(subsystem: str) -> None:
    """A command whose subsystem is ``probe`` or ``exporter`` is suggested names the loader
    takes (``aaisp_probe_calls`` would be refused), and the file loads beside the
    configuration."""
    name = f"{subsystem}/info"
    declared = (
        f'[modules.p]\ncommands = ["{name}"]\n'
        f'[commands."{name}"]\npayload = "info"\nkey = "number"\n'
    )
    config = parse_config(MINIMAL + declared, env={})
    command = compile_commands(config.commands)[name]
    entries = [{"number": "1", "success": "1", "calls": "3", "total": "7"}]
    body = json.dumps({"info": entries}).encode()
    lines = parse_reply(command, body, keep_entries=True).lines
    suggestions = Suggestions()
    suggestions.add(command, lines)  # type: ignore[arg-type]  # a LineIndex with keep_entries
    text = render(suggestions, [], {name: len(lines)})
    loaded = parse_config(MINIMAL + declared + "\n" + text, env={})
    metrics = [gauge.metric for gauge in loaded.commands[name].gauges]
    assert len(metrics) == 3, text
    assert all(metric_problem(metric) is None for metric in metrics)


@pytest.mark.parametrize(
    ("entries", "comment"),
    [
        pytest.param(
            [{"number": "1", "Calls-Today": "4", "calls_today": "4"}],
            '# "Calls-Today": carried by 1 entry',
            id="two-spellings-one-entry",
        ),
        pytest.param(
            [{"number": "1", "calls_today": "4"}, {"number": "2", "CALLS_TODAY": "5"}],
            '# "calls_today": carried by 2 entries',
            id="two-spellings-two-entries",
        ),
    ],
)
def test_spellings_of_one_field_are_one_field(
    entries: list[dict[str, object]], comment: str
) -> None:
    """CHAOS reads ``Foo-Bar`` as ``foo_bar``: one field, counted once per entry."""
    text = suggested(entries)
    assert comment in text.splitlines(), text
    assert text.count("[[commands.") == 1


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
from aaisp_multi_exporter.probe.suggest import write
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
