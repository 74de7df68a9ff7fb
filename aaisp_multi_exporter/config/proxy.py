"""A proxy's URL, taken apart so its user and password stay secrets.

``[chaos] proxy_url`` (and the environment's ``HTTPS_PROXY``/``HTTP_PROXY``, which the CHAOS
client reads) may carry ``user:password@``. What may be shown (``--chaos.check``, an error's
reason, ``/config``) is the URL without them; the password is a :class:`Secret`. A message
about a URL that cannot be used never quotes it: the password may be in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from aaisp_multi_exporter.config.secret import REDACTED, Secret

__all__ = ["PROXY_KEYS", "ProxyAddress", "parse_proxy_url"]

PROXY_KEYS = ("proxy_url", "proxy_url_file", "proxy_url_env")
"""The forms ``[chaos]`` may give the proxy in, as credentials are given (``credentials.py``)."""


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    """A usable proxy URL: where to connect, and the credentials to send it, if any."""

    url: str
    """``http://host:port``: no user or password, so it may be shown."""
    login: str | None = field(default=None, repr=False)
    password: Secret | None = None

    @property
    def shown(self) -> str:
        """The URL as ``/config`` shows it: credentials, when given, as ``<secret>``."""
        if self.login is None and self.password is None:
            return self.url
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{REDACTED}@{rest}"


def parse_proxy_url(text: str, *, default_scheme: bool = False) -> ProxyAddress:
    """The parts of a proxy URL; ValueError saying what is wrong, never quoting ``text``.

    ``default_scheme``: ``host:port`` alone means ``http://host:port``, as curl reads the
    environment's variables.
    """
    if any(char.isspace() or not char.isprintable() for char in text):
        raise ValueError("must not contain spaces or control characters")
    if default_scheme and "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL with a host and a port") from None
    if parts.scheme.lower() != "http":
        raise ValueError(
            "must be an http:// URL: the exporter speaks plain HTTP to a proxy, which "
            "tunnels the TLS to CHAOS (CONNECT)"
        )
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must not have a path, query or fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    url = f"http://{host}" + (f":{port}" if port is not None else "")
    login = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else Secret(unquote(parts.password))
    return ProxyAddress(url, login, password)
