"""``--version``: enough to place a bug report, laid out as Prometheus' Go exporters do
(``blackbox_exporter, version 0.25.0`` and indented details)."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import aiohttp

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.eventloop import loop_factory

PROGRAM = "aaisp-multi-exporter"


def distribution_version(name: str) -> str:
    """A library's installed version; "unknown" rather than a crash in an odd install."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def version_text() -> str:
    """The exporter, the interpreter and the libraries that shape its HTTP and exposition."""
    details = [
        ("python version", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("aiohttp version", aiohttp.__version__),
        ("prometheus-client version", distribution_version("prometheus-client")),
        ("event loop", _event_loop()),
        ("platform", f"{sys.platform}/{platform.machine()}"),
    ]
    width = max(len(name) for name, _ in details) + 1
    lines = [f"{PROGRAM}, version {__version__}"]
    lines += [f"  {name + ':':<{width}} {value}" for name, value in details]
    return "\n".join(lines)


def _event_loop() -> str:
    name, _ = loop_factory()
    return f"uvloop {distribution_version('uvloop')}" if name == "uvloop" else name


class VersionAction(argparse.Action):
    """argparse's own ``action="version"`` re-wraps text into one paragraph; this prints the
    lines as they are, on stdout, and exits 0."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: str = argparse.SUPPRESS,
        help: str = "print the versions of the exporter, Python and its libraries, then exit",
    ) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        print(version_text())
        parser.exit()
