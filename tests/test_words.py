"""One word for one thing (CONTRIBUTING.md, Glossary): names whose meaning was retired stay
retired. Each row is a name the code once used for something the glossary calls otherwise;
a change that brings one back fails here, with the word to use instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "aaisp_multi_exporter"

#: (files, a retired name as a pattern, the glossary's word for it).
RETIRED = [
    ("chaos/snapshots.py", r"\b_?[Aa]nswers?\b|_store_answer", "a stored reply is a snapshot"),
    ("server/app.py", r"\banswer\s*=", "what the exporter sends back is a response"),
    ("server/*.py", r"\boutcomes?\b(?!\s*=\s*\[)", "a ModuleResult is a result, not an outcome"),
    ("server/pages.py", r"\brecords?\b", "a HistoryEntry is an entry"),
    ("server/history.py", r"\brecords?\b", "a HistoryEntry is an entry"),
    ("**/*.py", r"(?<!chaos)\.records\b(?<!caplog\.records)", "ProbeResult holds command_results"),
    ("**/*.py", r"\bline_records\b", "a probe's CommandResults are line_results"),
]
#: Where an old name is still right: the CHAOS client's Outcome, the exporter's metrics of it.
ALLOWED = {
    "server/state.py": r"chaos_outcomes=\[outcome\.value for outcome in Outcome\]",
}


def _code(path: Path) -> str:
    text = path.read_text()
    relative = str(path.relative_to(PACKAGE))
    allowed = ALLOWED.get(relative)
    return re.sub(allowed, "", text) if allowed else text


@pytest.mark.parametrize(("files", "pattern", "word"), RETIRED, ids=[row[1] for row in RETIRED])
def test_a_retired_meaning_stays_retired(files: str, pattern: str, word: str) -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.glob(files))
        for number, line in enumerate(_code(path).splitlines(), start=1)
        if re.search(pattern, line) and "caplog" not in line
    ]
    assert not found, f"{word}:\n" + "\n".join(found)


def test_the_patterns_catch_what_they_retire() -> None:
    """Each pattern matches the name it retired, or the test above proves nothing."""
    samples = {
        r"\b_?[Aa]nswers?\b|_store_answer": "self._answers[key] = _Answer(snapshot, keep_for)",
        r"\banswer\s*=": "    answer = logs_response(request.query, history)",
        r"\boutcomes?\b(?!\s*=\s*\[)": "        for outcome in outcomes:",
        r"\brecords?\b": "def _probe_row(record: HistoryEntry) -> list[Cell]:",
        r"(?<!chaos)\.records\b(?<!caplog\.records)": "    for command_result in result.records:",
        r"\bline_records\b": "records=tuple(line_records(modules, commands))",
    }
    for pattern, sample in samples.items():
        assert re.search(pattern, sample), pattern
    for _, pattern, _ in RETIRED:
        assert pattern in samples
