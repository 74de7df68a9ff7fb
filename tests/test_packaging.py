"""What the package promises about its dependencies, read from ``pyproject.toml`` with
``packaging`` (pip's own rules): the lowest-versions pins and the image's lock keep to it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOWEST = REPO / ".ci" / "lowest-constraints.txt"


def runtime_requirements() -> dict[str, Requirement]:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in requirements}


def lower_bound(specifier: SpecifierSet) -> Version | None:
    """The version a ``>=`` (or ``==``) clause starts at; None when nothing bounds it below."""
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    return max(bounds, default=None)


def pinned(path: Path) -> dict[str, Version]:
    """``name==version`` lines of a constraints file, comments and blank lines skipped."""
    pins: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (clause,) = requirement.specifier
        assert clause.operator == "==", line
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} pinned twice"
        pins[name] = Version(clause.version)
    return pins


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        (">=3.10,<4", "3.10"),
        ("<4,>=3.10", "3.10"),
        (">=6", "6"),
        ("==2.7.0", "2.7.0"),
        ("~=1.4", "1.4"),
        (">=1,>=1.2", "1.2"),
        ("<2", None),
        ("", None),
    ],
)
def test_lower_bound(specifier: str, expected: str | None) -> None:
    found = lower_bound(SpecifierSet(specifier))
    assert found == (None if expected is None else Version(expected))


def test_every_runtime_dependency_has_a_lower_bound() -> None:
    """A dependency with no lower bound could not be tried at its lowest."""
    unbounded = [str(r) for r in runtime_requirements().values() if not lower_bound(r.specifier)]
    assert not unbounded


def test_lowest_constraints_pin_each_lower_bound() -> None:
    """``.ci/lowest-constraints.txt`` pins exactly the bound of every runtime dependency, so
    raising a bound without the pin (or the reverse) fails here, not in a user's install."""
    bounds = {name: lower_bound(r.specifier) for name, r in runtime_requirements().items()}
    assert pinned(LOWEST) == bounds
