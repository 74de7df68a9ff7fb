"""The shipped, commented ``modules.toml``: ``--config.example`` prints it, and the message
for a missing configuration file points at it, so a wheel-only install has a place to start.

The repository's ``modules.toml`` is the one source: the wheel carries it inside the package
(hatch's ``force-include``); a checkout or an editable install reads it where it lies.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

FILE_NAME = "modules.toml"
#: The checkout's copy, two levels above this file (``<repo>/aaisp_multi_exporter/config``).
_CHECKOUT_COPY = Path(__file__).resolve().parents[2] / FILE_NAME


def example_text() -> str:
    """The example as shipped; the wheel's copy first, else the checkout's."""
    packaged = resources.files("aaisp_multi_exporter").joinpath(FILE_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return _CHECKOUT_COPY.read_text(encoding="utf-8")


def missing_file_hint(path: str) -> str:
    """What to run to get a first configuration file where one was looked for."""
    return (
        "to start from the commented example, run: "
        f"aaisp-multi-exporter --config.example > {shlex.quote(path)}"
    )
