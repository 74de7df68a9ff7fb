"""What the package promises about its dependencies, read from ``pyproject.toml`` with
``packaging`` (pip's own rules): the lowest-versions pins and the image's lock keep to it."""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.processes import SHIPPED_ENV

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


# --------------------------------------------------------------------------- the wheel


@dataclass(frozen=True)
class Wheel:
    path: Path
    unpacked: Path

    def metadata(self) -> Message:
        (info,) = self.unpacked.glob("*.dist-info")
        return email.parser.Parser().parsestr((info / "METADATA").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """The wheel pip builds from the checkout, as ``pip install .`` and the image make it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(REPO)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    (path,) = out.glob("aaisp_multi_exporter-*.whl")
    unpacked = out / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
    return Wheel(path, unpacked)


def test_wheel_ships_the_example_configuration(wheel: Wheel) -> None:
    """One source: the wheel's copy is the repository's ``modules.toml``, byte for byte."""
    packaged = wheel.unpacked / "aaisp_multi_exporter" / "modules.toml"
    assert packaged.read_bytes() == (REPO / "modules.toml").read_bytes()


def from_wheel(wheel: Wheel, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The wheel's package (ahead of the checkout on ``sys.path``), run where ``cwd`` is."""
    env = {**SHIPPED_ENV, "PYTHONPATH": str(wheel.unpacked)}
    return subprocess.run(
        [sys.executable, "-m", "aaisp_multi_exporter", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False,
    )  # fmt: skip


def test_a_wheel_only_install_gets_started(wheel: Wheel, tmp_path: Path) -> None:
    """No arguments in an empty directory: the error says how to get a configuration; doing
    what it says gives the shipped file, which loads."""
    probe = subprocess.run(
        [sys.executable, "-c", "import aaisp_multi_exporter as a; print(a.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True,
        env={**SHIPPED_ENV, "PYTHONPATH": str(wheel.unpacked)},
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(wheel.unpacked))

    first = from_wheel(wheel, tmp_path, "--web.listen-address", "127.0.0.1:0")
    assert first.returncode == 1
    hint = "aaisp-multi-exporter --config.example > modules.toml"
    assert first.stderr.splitlines()[0] == (
        "modules.toml: cannot read file: No such file or directory; to start from the "
        f"commented example, run: {hint}"
    )
    example = from_wheel(wheel, tmp_path, "--config.example")
    assert (example.returncode, example.stderr) == (0, "")
    assert example.stdout == (REPO / "modules.toml").read_text()
    (tmp_path / "modules.toml").write_text(example.stdout)
    check = from_wheel(wheel, tmp_path, "--config.check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "modules.toml: OK (1 credential set(s), 2 module(s))"


# --------------------------------------------------------------------------- metadata, README

#: A Markdown link or image: ``[text](target)``, and an autolink ``<https://...>``.
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]*)[^)]*\)|<((?:https?|ftp|mailto):[^>]+)>")
#: A path of this repository in code type, as the README names files (see its design notes).
REPO_PATH = re.compile(
    r"`((?:docs|examples|benchmarks|aaisp_multi_exporter|tests|\.ci)/[\w./-]*"
    r"|[A-Z]+\.md|LICENSE|Containerfile|Makefile|modules\.toml|pyproject\.toml)`"
)


@pytest.mark.parametrize(
    ("text", "links"),
    [
        (
            "see [docs](docs/security.md) and [A&A](https://aa.net.uk/)",
            ["docs/security.md", "https://aa.net.uk/"],
        ),
        ('[x](https://h/ "title")', ["https://h/"]),
        ("![logo](img/logo.png)", ["img/logo.png"]),
        ("<http://localhost:9099/>", ["http://localhost:9099/"]),
        ("`[not](a link)` is still matched", ["a"]),
        ("no links, only `docs/security.md`", []),
    ],
)
def test_markdown_links(text: str, links: list[str]) -> None:
    assert [a or b for a, b in MARKDOWN_LINK.findall(text)] == links


def test_readme_links_work_wherever_it_is_shown() -> None:
    """The README is the package's description too: every link goes to another site, and
    every file it names in code type is one of the repository's."""
    readme = (REPO / "README.md").read_text()
    links = [a or b for a, b in MARKDOWN_LINK.findall(readme)]
    assert links
    relative = [link for link in links if not link.startswith(("https://", "http://"))]
    assert not relative
    named = set(REPO_PATH.findall(readme))
    assert {"docs/security.md", "CONTRIBUTING.md", "examples/systemd/"} <= named
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing


def test_wheel_metadata(wheel: Wheel) -> None:
    """Classifiers (hatchling refuses unknown ones), keywords and URLs reach the wheel; the
    description is the README. No project URL is invented: only absolute https ones."""
    project = PYPROJECT["project"]
    metadata = wheel.metadata()
    assert metadata.get_all("Classifier") == project["classifiers"]
    assert "Development Status :: 4 - Beta" in project["classifiers"]
    assert sorted(metadata["Keywords"].split(",")) == sorted(project["keywords"])
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL", []))
    assert urls == project["urls"]
    assert all(url.startswith("https://") for url in urls.values())
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert description.strip() == (REPO / "README.md").read_text().strip()
    assert metadata["Description-Content-Type"] == "text/markdown"


# --------------------------------------------------------------------------- the image's lock

LOCK = REPO / "requirements.lock"
#: Where the image runs (python:3.11-slim): the markers of pyproject.toml are read for it.
IMAGE_ENVIRONMENT = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "python_version": "3.11",
    "python_full_version": "3.11.0",
}


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]
    marker: str


def read_lock(text: str) -> dict[str, Pin]:
    """``name==version [; marker] --hash=...`` entries of a hashed requirements file."""
    pins: dict[str, Pin] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        line = entry.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"an option in the lock: {line}"
        words = line.split(" --hash=")
        requirement = Requirement(words[0])
        (clause,) = requirement.specifier
        assert clause.operator == "==", line
        pins[canonicalize_name(requirement.name)] = Pin(
            Version(clause.version),
            tuple(word.strip() for word in words[1:]),
            str(requirement.marker or ""),
        )
    return pins


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via b\n",
            {"a": Pin(Version("1.0"), ("sha256:aa", "sha256:bb"), "")},
        ),
        (
            "#\n# header\nUv_Loop==0.19 ; sys_platform != 'win32' \\\n    --hash=sha256:cc\n",
            {"uv-loop": Pin(Version("0.19"), ("sha256:cc",), 'sys_platform != "win32"')},
        ),
        ("", {}),
    ],
)
def test_read_lock(text: str, expected: dict[str, Pin]) -> None:
    assert read_lock(text) == expected


def test_lock_satisfies_pyproject() -> None:
    """Every runtime dependency the image needs is pinned inside pyproject.toml's bounds,
    every pin has hashes (pip refuses the file otherwise), and the file names no index: the
    image takes its packages from PyPI."""
    pins = read_lock(LOCK.read_text())
    needed = {
        name: r
        for name, r in runtime_requirements().items()
        if r.marker is None or r.marker.evaluate(IMAGE_ENVIRONMENT)
    }
    assert "uvloop" in needed
    assert set(needed) <= set(pins)
    outside = {
        name: (str(pins[name].version), str(r.specifier))
        for name, r in needed.items()
        if not r.specifier.contains(pins[name].version)
    }
    assert not outside
    unhashed = [name for name, pin in pins.items() if not pin.hashes]
    assert not unhashed
    assert all(h.startswith("sha256:") and len(h) == 71 for p in pins.values() for h in p.hashes)
    assert "aaisp-multi-exporter" not in pins
    text = LOCK.read_text()
    assert "file:" not in text
    assert "index-url" not in text
    assert "find-links" not in text


def test_containerfile_installs_the_lock() -> None:
    """The final stage installs the pins with their hashes and then the wheel, resolving
    nothing itself."""
    final = (REPO / "Containerfile").read_text().replace("\\\n", " ").rsplit("\nFROM ", 1)[1]
    assert "COPY requirements.lock /tmp/requirements.lock" in final
    (run,) = [line for line in final.splitlines() if "requirements.lock" in line and "RUN" in line]
    commands = [command.strip() for command in run.removeprefix("RUN ").split("&&")]
    assert commands[:3] == [
        "pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock",
        "pip install --no-index --no-deps /tmp/wheels/aaisp_multi_exporter-*.whl",
        "pip check",
    ]


@pytest.mark.slow
def test_lock_installs_as_the_image_does(wheel: Wheel, tmp_path: Path) -> None:
    """The image's install steps in a fresh environment with this Python (3.11, as the image):
    every file matches its hash, the wheel's requirements are met by the pins (``pip check``),
    and the exporter runs. Docker itself is not here to build the image."""
    venv = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet"]
    steps = [
        [*pip, "install", "--require-hashes", "--no-deps", "--only-binary=:all:", "-r",
         str(LOCK)],
        [*pip, "install", "--no-index", "--no-deps", str(wheel.path)],
        [*pip, "check"],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    exporter = str(venv / "bin" / "aaisp-multi-exporter")
    version = subprocess.run(
        [exporter, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    pins = read_lock(LOCK.read_text())
    shown = dict(line.strip().split(":", 1) for line in version.stdout.splitlines()[1:])
    assert shown["aiohttp version"].strip() == str(pins["aiohttp"].version)
    assert shown["event loop"].strip() == f"uvloop {pins['uvloop'].version}"
    check = subprocess.run(
        [exporter, "--config.check", "--config.file", str(REPO / "modules.toml")],
        capture_output=True, text=True, timeout=60, check=False, env=SHIPPED_ENV,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
