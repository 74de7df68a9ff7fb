"""docs/troubleshooting.md says what the exporter says.

Every message in a **Message** column must be produced by a running exporter (a real server
and the simulator with its faults, as in the other tests) or, for what a test cannot easily
provoke (a flood, a shutdown), appear as a string literal of the package; whole probe reasons
must be produced. Flags and metric names the page mentions must exist.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from aaisp_multi_exporter.cli import build_parser
from aaisp_multi_exporter.probe.results import FailureKind
from aaisp_multi_exporter.simulator import Simulator
from aaisp_multi_exporter.simulator.model import Fault
from tests.conftest import ExporterFactory

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "troubleshooting.md"
PACKAGE = REPO / "aaisp_multi_exporter"
#: Its job names (``aaisp_quota``...) look like metric names in the page.
EXAMPLE = REPO / "examples" / "prometheus.yml"
#: ``<...>`` in a quoted message stands for a value.
PLACEHOLDER = re.compile(r"<[^<>`]+>")
#: What an f-string's ``{...}`` becomes in ``source_literals``.
HOLE = "\x00"


def message_cells(markdown: str) -> list[str]:
    """The code spans of the first column of every table whose first header is "Message"."""
    messages: list[str] = []
    in_messages = False
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            in_messages = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith("|---") or following.startswith("| ---"):
            in_messages = cells[0] == "Message"  # a header row
            continue
        if in_messages and not line.startswith("|---"):
            messages += re.findall(r"`([^`]+)`", cells[0])
    return messages


def table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The rows (as cells) of every table whose first header is ``first_header``."""
    rows: list[list[str]] = []
    lines = markdown.splitlines()
    inside = False
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            inside = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith(("|---", "| ---")):
            inside = cells[0] == first_header
            continue
        if inside and not line.startswith(("|---", "| ---")):
            rows.append(cells)
    return rows


def message_pattern(message: str) -> re.Pattern[str]:
    """Literal text, with each ``<...>`` matching any value on one line."""
    parts = PLACEHOLDER.split(message)
    return re.compile(r"[^\n]+?".join(re.escape(part) for part in parts))


def literal_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(value.value) if isinstance(value, ast.Constant) else HOLE for value in node.values
        )
    return None


def source_literals(root: Path = PACKAGE) -> list[str]:
    """Every string literal of the package; an f-string's values as ``HOLE``."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        # The pieces of an f-string are read through it, not on their own.
        inside = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.JoinedStr)
            for child in ast.walk(node)
            if child is not node
        }
        for node in ast.walk(tree):
            if id(node) in inside or not isinstance(node, ast.expr):
                continue
            if (text := literal_text(node)) is not None:
                found.append(text)
    return found


def said(message: str, texts: list[str]) -> bool:
    """Somewhere in what a run said, not cut short at either end (``too deep`` is not
    ``too deeply``)."""
    pattern = re.compile(rf"(?<!\w){message_pattern(message).pattern}(?!\w)")
    return any(pattern.search(text) for text in texts)


def written(message: str, literals: list[str]) -> bool:
    """The whole of one string literal, but for its surrounding white space."""
    pattern = message_pattern(message)
    return any(pattern.fullmatch(literal.strip()) for literal in literals)


@pytest.mark.parametrize(
    ("markdown", "messages"),
    [
        (
            "| Message | x |\n|---|---|\n| `a` or `b <c>` | `not this` |\n\ntext `nor this`\n",
            ["a", "b <c>"],
        ),
        ("| Where | x |\n|---|---|\n| `a` | b |\n", []),
        ("| Message |\n|---|\n| `a` |\n| Where |\n|---|\n| `b` |\n", ["a"]),
    ],
)
def test_message_cells(markdown: str, messages: list[str]) -> None:
    assert message_cells(markdown) == messages


@pytest.mark.parametrize(
    ("markdown", "rows"),
    [
        ("| Kind | x |\n|---|---|\n| `a` | b |\n\n| Other |\n|---|\n| c |\n", [["`a`", "b"]]),
        ("| Where | x |\n|---|---|\n| `a` | b |\n", []),
    ],
)
def test_table_rows(markdown: str, rows: list[list[str]]) -> None:
    assert table_rows(markdown, "Kind") == rows


def test_every_failure_kind_is_documented() -> None:
    """Each value ``aaisp_probe_module_failure_info``'s ``kind`` can take has its row, with a
    cause and what to do, and the table names no other."""
    rows = table_rows(DOC.read_text(), "Kind")
    documented = [re.fullmatch(r"`(\w+)`", row[0]) for row in rows]
    assert all(documented), rows
    assert sorted(match.group(1) for match in documented if match) == sorted(FailureKind)
    assert all(len(row) == 3 and row[1] and row[2] for row in rows), rows


@pytest.mark.parametrize(
    ("message", "text", "found"),
    [
        ('unknown module "<m>"; known: <ms>', 'unknown module "x"; known: line, quota\n', True),
        ('unknown module "<m>"; known: <ms>', "unknown module x; known: line", False),
        ("nested too deep", "m: reply is nested too deeply [invalid_response]", False),
        ("reply is nested too deeply", "m: reply is nested too deeply [invalid_response]", True),
        ("; next try in <n> s", "x [http_error]; next try in 5 s", True),
        ("a.b", "axb", False),  # literal dots
        ("<x> s", "first line\n s", False),  # a value stays on one line
    ],
)
def test_said(message: str, text: str, found: bool) -> None:
    assert said(message, [text]) is found


@pytest.mark.parametrize(
    ("message", "literal", "found"),
    [
        ("too many (limit <n>); retry", f"too many (limit {HOLE}); retry", True),
        ("Unauthorized", "Unauthorized\n", True),
        ("too many (limit <n>)", f"too many (limit {HOLE}); retry", False),
        ("<command>: deadline exceeded", f"{HOLE}: deadline exceeded", True),
    ],
)
def test_written(message: str, literal: str, found: bool) -> None:
    assert written(message, [literal]) is found


def test_source_literals_join_fstrings(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        'x = 1\nA = "plain"\nB = (f"a {x} b " "c")\nC = f"{x}"\nD = b"bytes"\n'
    )
    assert source_literals(tmp_path) == ["plain", f"a {HOLE} b c", HOLE]


# --------------------------------------------------------------------------- what runs say

#: Faults of the simulator and what each should make a probe say; each is probed twice, so
#: the second probe meets the shared failure.
FAULTS = [
    {"kind": "http_status", "status": 503},
    {"kind": "html"},
    {"kind": "drop"},
    {"kind": "wrong_shape"},
    {"kind": "body", "body": ["not", "an", "object"]},
    {"kind": "deep_nesting"},
    {"kind": "entries_without_id", "entries": 10_001},
    {"kind": "error", "error_text": "Control authorisation failed"},
    {"kind": "error", "error_text": "Unknown command"},
    {"kind": "latency", "latency_seconds": 3.0},
]
#: Requests that are refused, and the header they carry.
REFUSED = [
    ("/probe", {}),
    ("/probe?target=10000&target=10001&module=line", {}),
    (f"/probe?target={quote('10000 x')}&module=line", {}),
    ("/probe?target=10000", {}),
    ("/probe?target=10000&module=nosuch", {}),
    ("/probe?target=10000&module=line,,quota", {}),
    ("/probe?target=10000&module=line&auth=nosuch", {}),
    ("/probe?target=10000&module=line&auth=home&auth=other", {}),
    ("/probe?target=10000&module=line&debug=maybe", {}),
    ("/probe?target=10000&module=line", {"X-Prometheus-Scrape-Timeout-Seconds": "soon"}),
    ("/discover?module=line&module=quota", {}),
    ("/discover?auth=nosuch", {}),
    ("/logs", {}),
    ("/logs?id=x", {}),
    ("/logs?target=55555", {}),
]


async def produced_texts(exporter_factory: ExporterFactory, simulator: Simulator) -> list[str]:
    """Probe reasons under every fault, and the bodies of refused requests."""
    exporter = await exporter_factory(cache_seconds="0", retries="0", timeout_seconds="1")
    texts: list[str] = []
    # Before anything succeeds: discovery of a set CHAOS refuses.
    simulator.add_fault(Fault(kind="error", error_text="Control authorisation failed"))
    texts.append((await exporter.get("/discover?auth=home"))[1])
    for fault in FAULTS:
        simulator.clear_faults()
        exporter.clock.advance(3600)  # past every backoff and kept refusal
        simulator.add_fault(Fault(**fault))  # type: ignore[arg-type]
        for module in ("line", "quota", "line"):
            await exporter.get(f"/probe?target=10000&module={module}")
    simulator.clear_faults()
    exporter.clock.advance(3600)
    await exporter.get("/probe?target=99999&module=line")
    for record in exporter.state.history.recent():
        texts += [reason for _, reason in record.reasons]
    for path, headers in REFUSED:
        status, body, _ = await exporter.get(path, headers=headers)
        assert status in (400, 404), (path, status, body)
        texts.append(body)
    return texts


async def test_every_quoted_message_is_the_exporters(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    messages = message_cells(DOC.read_text())
    assert len(messages) >= 45, messages
    produced = await produced_texts(make_exporter, simulator)
    literals = source_literals()
    unexplained = [m for m in messages if not (said(m, produced) or written(m, literals))]
    assert not unexplained
    # Whole reasons, and every CHAOS failure a probe can meet here, were seen from a probe.
    whole = [m for m in messages if m.startswith("broadband/")]
    assert len(whole) >= 3
    assert [m for m in whole if not said(m, produced)] == []
    seen = [m for m in messages if said(m, produced)]
    for expected in ("CHAOS error:", "reply is a JSON", "without a usable ID", "cannot reach"):
        assert any(expected in m for m in seen), expected


def mentioned_flags(markdown: str) -> Iterator[str]:
    yield from sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z.-]*[a-z])", markdown)))


def test_flags_mentioned_are_the_exporters() -> None:
    known = set(build_parser()._option_string_actions)  # argparse's own index of flags
    flags = list(mentioned_flags(DOC.read_text()))
    assert "--chaos.check" in flags
    assert [flag for flag in flags if flag not in known] == []


async def test_metrics_mentioned_are_exported(make_exporter: ExporterFactory) -> None:
    exporter = await make_exporter()
    text = (await exporter.get("/probe?target=10000&module=line,quota"))[1]
    text += (await exporter.get("/probe?target=99999&module=line"))[1]  # a failure's kind
    text += (await exporter.get("/metrics"))[1]
    exported = set(re.findall(r"^(aaisp_\w+)", text, re.MULTILINE))
    jobs = {job["job_name"] for job in yaml.safe_load(EXAMPLE.read_text())["scrape_configs"]}
    mentioned = set(re.findall(r"\b(aaisp_\w+?)(?:\{|\b)", DOC.read_text())) - jobs
    assert jobs >= {"aaisp_quota", "aaisp_line", "aaisp_exporter"}
    assert {
        "aaisp_probe_data_age_seconds",
        "aaisp_probe_module_failure_info",
        "aaisp_exporter_chaos_up",
    } <= mentioned
    assert mentioned - exported == set()
