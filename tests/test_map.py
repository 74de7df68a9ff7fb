"""The map stays true: every package's docstring lists its modules, one line each, and every
repository path a docstring or a Markdown file names exists. A module added without its line,
or a file moved without its mentions, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "aaisp_multi_exporter"
#: A module's line in a package docstring: ``- ``name``: what it does``.
_LISTED = re.compile(r"^- ``(\w+)``", re.MULTILINE)
#: Top-level folders a path may start with, and the files at the root.
_ROOTS = ("aaisp_multi_exporter", "tests", "docs", "examples", "benchmarks", ".ci")
_PATH = re.compile(
    r"(?<![\w./:-])((?:" + "|".join(re.escape(root) for root in _ROOTS) + r")/[\w./-]*[\w/])"
)
#: Paths inside the package, as docstrings and design notes write them (``chaos/replies.py``).
_SUBPACKAGES = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists())
_PACKAGE_PATH = re.compile(r"(?<![\w./:-])((?:" + "|".join(_SUBPACKAGES) + r")/\w+\.(?:py|toml))")
#: Markdown links to files of the repository: ``[text](path)``, relative to the page.
_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)")
#: Paths that are patterns, or places made at run time (.gitignore's), not files.
_NOT_FILES = re.compile(r"[*<>{}]|^benchmarks/out/|^tests/output/")
#: Pages whose paths are not this repository's: the changelog tells of files as they were,
#: and chaos-api.md quotes other projects' (shared/chaos-api.md, copied as it is).
_OTHER_PLACES = {"CHANGELOG.md", "docs/chaos-api.md"}


def packages() -> list[Path]:
    return sorted(path.parent for path in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("package", packages(), ids=lambda path: path.name)
def test_a_package_docstring_lists_each_module_once(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    modules = {
        path.stem
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    listed = _LISTED.findall(docstring)
    assert sorted(listed) == sorted(modules), (
        f"{package.relative_to(REPO)}/__init__.py: its docstring lists {sorted(listed)}, "
        f"the package holds {sorted(modules)} (one '- ``name``: ...' line each)"
    )


def _texts() -> list[tuple[Path, str]]:
    """Every Markdown file and every Python docstring and comment of the repository."""
    found = [
        (path, path.read_text())
        for path in REPO.rglob("*.md")
        if _ours(path) and str(path.relative_to(REPO)) not in _OTHER_PLACES
    ]
    for path in [
        *PACKAGE.rglob("*.py"),
        *(REPO / "tests").rglob("*.py"),
        *(REPO / "benchmarks").rglob("*.py"),
    ]:
        if _ours(path):
            found.append((path, path.read_text()))
    return found


#: Folders made at run time (.gitignore's): a copy of another build may lie there.
_GENERATED = ("benchmarks/out/", "tests/output/")


def _ours(path: Path) -> bool:
    relative = path.relative_to(REPO)
    if str(relative).startswith(_GENERATED):
        return False
    return not any(
        part.startswith(".venv") or part in {"node_modules", ".git"} for part in relative.parts
    )


def named_paths() -> list[tuple[str, str]]:
    """(where, path) for each repository path named: bare paths from the top, and Markdown
    links relative to their page."""
    named: list[tuple[str, str]] = []
    for path, text in _texts():
        where = str(path.relative_to(REPO))
        named += [(where, match) for match in _PATH.findall(text)]
        named += [(where, f"aaisp_multi_exporter/{match}") for match in _PACKAGE_PATH.findall(text)]
        if path.suffix == ".md":
            for link in _LINK.findall(text):
                target = (path.parent / link).resolve()
                if REPO in target.parents:
                    named.append((where, str(target.relative_to(REPO))))
    return [(where, name) for where, name in named if not _NOT_FILES.search(name)]


def test_every_named_path_exists() -> None:
    missing = sorted(
        {f"{where}: {name}" for where, name in named_paths() if not (REPO / name).exists()}
    )
    assert not missing, "paths named that do not exist:\n" + "\n".join(missing)


def test_the_path_finder_finds_paths() -> None:
    """The pattern itself: it must see what a page writes, or the test above proves nothing."""
    sample = "see `docs/design.md`, [x](../README.md) and aaisp_multi_exporter/obs/throttle.py."
    assert _PATH.findall(sample) == ["docs/design.md", "aaisp_multi_exporter/obs/throttle.py"]
    assert _LINK.findall(sample) == ["../README.md"]
