"""Writing a probe's metric families in the format the scraper asked for.

prometheus_client is the reference: ``choose_encoder`` negotiates the format and its encoders
define the bytes. For what a probe answer is made of (gauge families with legacy names, no
timestamps or exemplars) ``encode`` writes those same bytes itself, because the library's
per-sample name validation and escaping were a fifth of a cached probe's cost; anything else
goes to the library's encoder. ``tests/probe/test_exposition.py`` holds the two to the same
bytes for every format ``choose_encoder`` can pick.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: A prometheus_client exposition encoder, as ``choose_encoder`` returns.
Encoder = Callable[[Collector], bytes]

EOF = b"# EOF\n"
#: Accept headers remembered; scrapers send a handful, and odd ones only cost a negotiation.
NEGOTIATED = 64
#: Metric and label names written here. Colons are legal in metric names but the library's
#: OpenMetrics encoder turns them into "_" in sample lines, so those go to it.
_PLAIN_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_AS_THEY_ARE = (openmetrics.UNDERSCORES, openmetrics.ALLOWUTF8)
#: The library's own number formatting (Go's), typed.
_number = cast(Callable[[float], str], floatToGoString)


@dataclass(frozen=True, slots=True)
class Format:
    """One exposition format, as negotiated from an Accept header."""

    content_type: str
    #: The library's encoder for this format: the reference, and what writes anything
    #: ``encode`` does not take.
    encoder: Encoder
    openmetrics: bool
    #: Whether ``encode`` writes this format itself (it gives the encoder's bytes).
    written_here: bool


@functools.lru_cache(maxsize=NEGOTIATED)
def negotiate(accept: str) -> Format:
    """The format for an Accept header, as prometheus_client's ``choose_encoder`` picks it."""
    encoder, content_type = choose_encoder(accept)
    function = encoder.func if isinstance(encoder, functools.partial) else encoder
    keywords = encoder.keywords if isinstance(encoder, functools.partial) else {}
    is_openmetrics = function is openmetrics.generate_latest
    # Legacy names are written as they are under these schemes; "dots" doubles "_", and
    # "values" prefixes OpenMetrics sample names.
    known = function is generate_latest or is_openmetrics
    written_here = known and keywords.get("escaping", openmetrics.UNDERSCORES) in _AS_THEY_ARE
    return Format(content_type, encoder, is_openmetrics, written_here)


@functools.lru_cache(maxsize=NEGOTIATED)
def gzip_wanted(accept_encoding: str) -> bool:
    return gzip_accepted(accept_encoding)


TEXT = negotiate("")


def encode(families: Sequence[Metric], fmt: Format = TEXT) -> bytes:
    """The families in ``fmt``, without OpenMetrics' closing ``# EOF``: an answer is joined
    from parts and ends with one."""
    if fmt.written_here:
        written = _write(families, fmt.openmetrics)
        if written is not None:
            return written
    text = fmt.encoder(_Families(families))
    return text.removesuffix(EOF) if fmt.openmetrics else text


def _write(families: Iterable[Metric], is_openmetrics: bool) -> bytes | None:
    """What the library's encoder writes for these families, or None if they are not all
    plain gauges this function knows how to write."""
    out: list[str] = []
    for family in families:
        name = family.name
        if family.type != "gauge" or family.unit or not _plain_name(name):
            return None
        out.append(_head(name, family.documentation, is_openmetrics))
        for sample in family.samples:
            value = sample.value
            if (
                sample.name != name
                or value is None
                or sample.timestamp is not None
                or sample.exemplar is not None
                or sample.native_histogram is not None
            ):
                return None
            if not sample.labels:
                out.append(f"{name} {_number(value)}\n")
                continue
            pairs = []
            for label, label_value in sorted(sample.labels.items()):
                if not _plain_name(label):
                    return None
                pairs.append(f'{label}="{_escape_label_value(label_value)}"')
            out.append(f"{name}{{{','.join(pairs)}}} {_number(value)}\n")
    return "".join(out).encode()


@functools.lru_cache(maxsize=256)
def _head(name: str, documentation: str, is_openmetrics: bool) -> str:
    """HELP and TYPE lines; the text format leaves double quotes in help unescaped."""
    help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    if is_openmetrics:
        help_text = help_text.replace('"', r"\"")
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"


@functools.lru_cache(maxsize=256)
def _plain_name(name: str) -> bool:
    return _PLAIN_NAME.fullmatch(name) is not None


def _escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _Families(Collector):
    """A registry made for one answer: it holds the families it was given, nothing else.

    prometheus_client's encoders only call ``collect()``; a CollectorRegistry around it
    added a tenth to a cached probe.
    """

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
