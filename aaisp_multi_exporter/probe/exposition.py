"""Writing a probe's metric families in the format the scraper asked for.

``negotiate`` reads ``Accept`` as RFC 9110 says and picks one of ``FORMATS``, each with a
fixed ``Content-Type``; prometheus_client's encoders define the bytes of each. For what a
probe answer is made of (gauge families with legacy names, no timestamps or exemplars)
``encode`` writes those same bytes itself, without the library's per-sample name validation
and escaping; anything else goes to the library's encoder. ``tests/probe/test_exposition.py``
holds the two to the same bytes for every format.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_T = TypeVar("_T")
#: A prometheus_client exposition encoder.
Encoder = Callable[[Collector], bytes]

EOF = b"# EOF\n"
#: Headers remembered; scrapers send a handful, and odd ones only cost a negotiation.
NEGOTIATED = 64
#: Metric and label names written here. Colons are legal in metric names but the library's
#: OpenMetrics encoder turns them into "_" in sample lines, so those go to it.
_PLAIN_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: The library's own number formatting (Go's), typed.
_number = cast(Callable[[float], str], floatToGoString)


@dataclass(frozen=True, slots=True)
class Format:
    """One exposition format the exporter writes, with its own fixed ``Content-Type``."""

    content_type: str
    #: The library's encoder for this format: the reference, and what writes anything
    #: ``encode`` does not take.
    encoder: Encoder
    openmetrics: bool
    #: Whether ``encode`` writes this format itself (it gives the encoder's bytes): legacy
    #: names are written as they are under these escapings; "dots" doubles "_", and
    #: "values" prefixes OpenMetrics sample names.
    written_here: bool


#: The name escapings of the Prometheus formats (``escaping=`` in Accept); anything else is
#: read as the default, "underscores", as prometheus_client does.
ESCAPINGS = ("underscores", "allow-utf-8", "dots", "values")
_WRITTEN_HERE = frozenset({"underscores", "allow-utf-8"})
_TEXT_TYPE = "text/plain"
_OPENMETRICS_TYPE = "application/openmetrics-text"

TEXT = Format("text/plain; version=0.0.4; charset=utf-8", generate_latest, False, True)
#: OpenMetrics asked for without a version: the library's answer, without an escaping.
OPENMETRICS = Format(
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
    functools.partial(openmetrics.generate_latest, escaping="underscores"),
    True,
    True,
)
_VERSIONED = {
    (media_type, escaping): Format(
        f"{media_type}; version=1.0.0; charset=utf-8; escaping={escaping}",
        functools.partial(
            openmetrics.generate_latest if media_type == _OPENMETRICS_TYPE else generate_latest,
            escaping=escaping,
        ),
        media_type == _OPENMETRICS_TYPE,
        escaping in _WRITTEN_HERE,
    )
    for media_type in (_TEXT_TYPE, _OPENMETRICS_TYPE)
    for escaping in ESCAPINGS
}
#: Every format an answer can have: its ``Content-Type`` is always one of these strings.
FORMATS: tuple[Format, ...] = (TEXT, OPENMETRICS, *_VERSIONED.values())
#: Longer headers are negotiated without being remembered, so the memory kept per odd
#: header stays small whatever a client sends.
_REMEMBERED_CHARS = 512


def _remembered(read: Callable[[str], _T]) -> Callable[[str], _T]:
    """``read`` with its answers for the last NEGOTIATED short headers remembered: scrapers
    send a handful, and a long one is read afresh, so memory stays small whatever is sent."""
    cached = functools.lru_cache(maxsize=NEGOTIATED)(read)

    @functools.wraps(read)
    def remembered(header: str) -> _T:
        return cached(header) if len(header) <= _REMEMBERED_CHARS else read(header)

    return remembered


@_remembered
def negotiate(accept: str) -> Format:
    """The format for an ``Accept`` header (RFC 9110): the acceptable range with the highest
    ``q`` that names a format the exporter writes; ``q=0`` excludes; anything not understood
    (a type, a ``version``, a malformed element) is passed over, and with nothing left the
    answer is the text format 0.0.4. Never raises, and never echoes the header."""
    ranges = _ranges(accept)
    excluded = {media_type for media_type, _, q in ranges if q == 0.0}
    for media_type, params, q in sorted(ranges, key=lambda item: -item[2]):
        if q == 0.0:
            break
        fmt = _format_for(media_type, params, excluded)
        if fmt is not None:
            return fmt
    return TEXT


def _format_for(media_type: str, params: dict[str, str], excluded: set[str]) -> Format | None:
    """The format a media range names, or, for a wildcard, the first it covers that no
    ``q=0`` refused; None when it names nothing the exporter writes."""
    version = params.get("version", "")
    escaping = params.get("escaping", "underscores")
    if escaping not in ESCAPINGS:
        escaping = "underscores"
    if media_type == _OPENMETRICS_TYPE:
        if not version:
            return OPENMETRICS
        return _VERSIONED[(media_type, escaping)] if version == "1.0.0" else None
    if media_type == _TEXT_TYPE:
        if version in ("", "0.0.4"):
            return TEXT
        return _VERSIONED[(media_type, escaping)] if version == "1.0.0" else None
    covered = {"*/*": (TEXT, OPENMETRICS), "text/*": (TEXT,)}.get(media_type, ())
    return next((fmt for fmt in covered if fmt.content_type.split(";")[0] not in excluded), None)


def _ranges(header: str) -> list[tuple[str, dict[str, str], float]]:
    """The header's media ranges as (type, parameters, q), in order; malformed ones left out."""
    ranges = []
    for element in header.split(","):
        media_type, *parts = element.split(";")
        media_type = media_type.strip().lower()
        if not media_type:
            continue
        params: dict[str, str] = {}
        for part in parts:
            name, equals, value = part.partition("=")
            params[name.strip().lower()] = value.strip().strip('"') if equals else ""
        q = _qvalue(params.pop("q", "1"))
        if q is not None:
            ranges.append((media_type, params, q))
    return ranges


def _qvalue(text: str) -> float | None:
    """A weight between 0 and 1 (RFC 9110 section 12.4.2); None when it is not one."""
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


@_remembered
def gzip_wanted(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` takes gzip: named (or ``x-gzip``) with ``q`` above 0, or
    covered by ``*`` and not named; ``gzip;q=0`` refuses it (RFC 9110 section 12.5.3)."""
    wildcard: float | None = None
    for coding, _, q in _ranges(accept_encoding):
        if coding in ("gzip", "x-gzip"):
            return q > 0.0
        if coding == "*":
            wildcard = q
    return wildcard is not None and wildcard > 0.0


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
        samples = write_samples(family)
        if samples is None:
            return None
        out.append(head(family.name, family.documentation, is_openmetrics))
        out.append(samples)
    return "".join(out).encode()


def write_samples(family: Metric) -> str | None:
    """A plain gauge family's sample lines as the library's encoders write them, the same in
    every format ``encode`` writes itself; None for anything else."""
    name = family.name
    if family.type != "gauge" or family.unit or not _plain_name(name):
        return None
    out: list[str] = []
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
            out.append(gauge_line(name, value))
            continue
        pairs = []
        for label, label_value in sorted(sample.labels.items()):
            if not _plain_name(label):
                return None
            pairs.append(f'{label}="{_escape_label_value(label_value)}"')
        out.append(f"{name}{{{','.join(pairs)}}} {_number(value)}\n")
    return "".join(out)


def gauge_line(name: str, value: float, label: str = "", label_value: str = "") -> str:
    """One sample line of a plain gauge with at most one label, as ``write_samples`` writes
    it: for the few series a probe writes afresh every time."""
    if not label:
        return f"{name} {_number(value)}\n"
    return f'{name}{{{label}="{_escape_label_value(label_value)}"}} {_number(value)}\n'


@functools.lru_cache(maxsize=256)
def head(name: str, documentation: str, is_openmetrics: bool) -> str:
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

    prometheus_client's encoders only call ``collect()``; a CollectorRegistry would add its
    lock and name bookkeeping for nothing.
    """

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
