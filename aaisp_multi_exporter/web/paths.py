"""``--web.external-url`` and ``--web.route-prefix``: where the exporter's paths live.

Prometheus's rules (``cmd/prometheus``, which blackbox_exporter copies): the route prefix
defaults to the path of the external URL; it is served with every route under it, and ``/``
redirects to it. The external URL is how clients reach the exporter (a reverse proxy that
keeps or strips the path), so what is handed to clients (redirects, the scrape path in
``/discover``) uses its path when one was given, and the route prefix otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Unreserved and sub-delimiter characters of a URL path (RFC 3986), without ``{}``, which
#: aiohttp reads as route variables, and without ``%``, since routes match the decoded path.
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
#: Longer values are cut in messages, so one line stays one readable line.
_SHOWN = 80


class InvalidWebPath(ValueError):
    """A ``--web.external-url`` or ``--web.route-prefix`` that cannot be used, and why:
    ``flag`` is set once ``web_paths`` knows which flag gave ``value``."""

    def __init__(self, value: str, reason: str, flag: str = "") -> None:
        self.value = value
        self.reason = reason
        self.flag = flag
        super().__init__(f"{flag + ' ' if flag else ''}{_shown(value)}: {reason}")

    @property
    def shown(self) -> str:
        """The value, cut so that one line stays one readable line."""
        return self.value if len(self.value) <= _SHOWN else self.value[: _SHOWN - 3] + "..."


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


def normalise_prefix(path: str) -> str:
    """``/`` or ``/a/b`` (no trailing slash): Prometheus's ``"/" + strings.Trim(p, "/")``.

    A ``.`` or ``..`` segment, or an empty one inside (``/a//b``), is refused: a client or
    proxy resolves it before asking, so the path asked for is never the one served (``/.``
    redirected to itself for ever; ``/a/../b`` made every endpoint 404)."""
    if not _PATH.fullmatch(path):
        raise InvalidWebPath(
            path,
            "a path may hold only letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ /",
        )
    trimmed = path.strip("/")
    segments = trimmed.split("/") if trimmed else []
    if any(segment in (".", "..") for segment in segments):
        raise InvalidWebPath(path, "no . or .. segment allowed")
    if "" in segments:
        raise InvalidWebPath(path, "no empty segment (//) allowed")
    return "/" + trimmed


def external_path(url: str) -> str:
    """The path of an absolute http(s) URL, normalised like a route prefix."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise InvalidWebPath(url, f"not a URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidWebPath(url, "want an absolute http or https URL")
    if "?" in url or "#" in url:  # an empty one too: "http://h/x?" is no one's address
        raise InvalidWebPath(url, "no query or fragment")
    try:
        return normalise_prefix(parts.path)
    except InvalidWebPath as error:
        raise InvalidWebPath(url, f"its path {_shown(parts.path)}: {error.reason}") from None


@dataclass(frozen=True, slots=True)
class WebPaths:
    """Where the routes are mounted (``route_prefix``) and where clients see them
    (``public_prefix``: the external URL's path, else the route prefix); ``""`` for the
    root, else ``/a/b``."""

    route_prefix: str = ""
    public_prefix: str = ""

    def route(self, path: str) -> str:
        """A route's path under the prefix: ``/probe`` becomes ``/a/b/probe``."""
        return self.route_prefix + path

    @property
    def home(self) -> str:
        """Where ``/`` sends a browser: the landing page under the prefix, with the trailing
        slash its relative links need."""
        return self.public_prefix + "/"

    @property
    def metrics_path(self) -> str | None:
        """``__metrics_path__`` for ``/discover``; None at the root, where ``/probe`` is."""
        return self.public_prefix + "/probe" if self.public_prefix else None


def web_paths(external_url: str = "", route_prefix: str = "") -> WebPaths:
    """The paths from the two flags; raises InvalidWebPath naming the flag at fault."""
    try:
        outside = external_path(external_url) if external_url else None
    except InvalidWebPath as error:
        raise InvalidWebPath(error.value, error.reason, "--web.external-url") from None
    try:
        prefix = normalise_prefix(route_prefix) if route_prefix else (outside or "/")
    except InvalidWebPath as error:
        raise InvalidWebPath(error.value, error.reason, "--web.route-prefix") from None
    inside = prefix.rstrip("/")
    # An external URL at its root says nothing about paths: the route prefix is what is seen.
    return WebPaths(inside, (outside or "").rstrip("/") or inside)


#: No flag given: every route at the root.
ROOT = WebPaths()
