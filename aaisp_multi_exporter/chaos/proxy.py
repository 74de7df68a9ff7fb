"""Which proxy, if any, a CHAOS request goes through.

``[chaos] proxy_url`` wins; without it the environment decides, as curl reads it:
``https_proxy``/``HTTPS_PROXY`` for an https:// CHAOS URL, ``http_proxy``/``HTTP_PROXY`` for
http:// (the lower-case spelling first; an empty value is unset), unless ``no_proxy``/
``NO_PROXY`` names the host (``*``, a domain and its subdomains, an address, a CIDR block, each
with an optional ``:port``). ``NO_PROXY`` speaks for the environment's proxies only: a
configured ``proxy_url`` is used for every request.

aiohttp's ``trust_env`` is left off: it would also read ``~/.netrc`` and send its password for
the CHAOS host as basic auth, and it drops an unusable proxy variable with a warning and goes
direct. Here an unusable value fails the call with a reason naming the variable, so a site
that must go through its proxy never goes around it unnoticed.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs

from aaisp_multi_exporter.config.proxy import ProxyAddress, parse_proxy_url
from aaisp_multi_exporter.config.secret import Secret

__all__ = ["CONFIGURED", "Proxy", "choose_proxy", "no_proxy_matches"]

#: How a reason names the proxy the configuration gives.
CONFIGURED = "[chaos] proxy_url"


@dataclass(frozen=True, slots=True)
class Proxy:
    """The proxy of a request: where it is (no credentials), where that was said, and what
    to send it."""

    url: str
    source: str
    """``[chaos] proxy_url`` or the variable read (``HTTPS_PROXY``...)."""
    authorization: Secret | None = None
    """The ``Proxy-Authorization`` header's value, when the URL gave a user."""
    problem: str | None = None
    """Why the variable's value cannot be used: every call fails with it."""

    def __str__(self) -> str:
        return f"{self.url} (from {self.source})"

    def request_options(self, url: str) -> dict[str, Any]:
        """aiohttp's keyword arguments for a request to ``url`` through this proxy.

        The credentials go in the ``CONNECT`` that opens an https:// tunnel
        (``proxy_headers``), or on the request itself to an http:// URL, which the proxy
        receives whole; aiohttp's ``proxy_auth`` would do both, but is deprecated."""
        options: dict[str, Any] = {"proxy": self.url}
        if self.authorization is not None:
            header = {hdrs.PROXY_AUTHORIZATION: self.authorization.reveal()}
            tunnel = urlsplit(url).scheme.lower() == "https"
            options["proxy_headers" if tunnel else "headers"] = header
        return options


def _proxy(address: ProxyAddress, source: str) -> Proxy:
    authorization = None
    if address.login is not None or address.password is not None:
        password = "" if address.password is None else address.password.reveal()
        pair = f"{address.login or ''}:{password}".encode()
        authorization = Secret("Basic " + base64.b64encode(pair).decode("ascii"))
    return Proxy(address.url, source, authorization)


def choose_proxy(
    url: str, configured: ProxyAddress | None, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy for requests to ``url`` (the CHAOS base URL); None: straight to CHAOS."""
    if configured is not None:
        return _proxy(configured, CONFIGURED)
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    found = _variable(env, f"{scheme}_proxy")
    if found is None:
        return None
    no_proxy = _variable(env, "no_proxy")
    if no_proxy is not None and no_proxy_matches(parts.hostname or "", parts.port, no_proxy[1]):
        return None
    name, value = found
    try:
        return _proxy(parse_proxy_url(value, default_scheme=True), name)
    except ValueError as error:
        return Proxy("(unusable)", name, problem=f"{name} {error}")


def _variable(env: Mapping[str, str], lower: str) -> tuple[str, str] | None:
    """The variable's name and value, the lower-case spelling first, as curl reads them."""
    for name in (lower, lower.upper()):
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def no_proxy_matches(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` sends ``host`` straight to it."""
    host = host.lower().strip("[]")
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        name, wanted_port = _split_port(entry)
        if not name or (wanted_port is not None and wanted_port != port):
            continue
        if "/" in name:
            if _in_network(host, name):
                return True
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, or a bare name, address or block."""
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        return address, int(rest[1:]) if rest[1:].isdigit() else None
    name, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        return name, int(port)
    return entry, None


def _in_network(host: str, block: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False
