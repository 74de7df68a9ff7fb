"""A small HTTP forward proxy on loopback, for the exporter's proxy support (SPEC 9, R4).

It takes what a client sends a proxy for an http:// URL: the request in absolute form
(``POST http://chaos.test:8099/broadband/info/json``), with ``Proxy-Authorization`` when the
proxy wants credentials (407 otherwise, as Squid answers). It forwards each request to the
host it names, or to the address ``hosts`` maps that name to (so a CHAOS URL whose host does
not resolve is reachable only through it), and counts what passed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import aiohttp
from aiohttp import hdrs, web
from aiohttp.test_utils import TestServer
from yarl import URL

from tests.processes import free_port


@dataclass
class ForwardProxy:
    hosts: dict[str, str] = field(default_factory=dict)
    """Host name -> ``host:port`` to connect to instead."""
    credentials: tuple[str, str] | None = None
    #: Every request that reached it: (method, absolute URL), in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Requests refused for want of the right credentials (407).
    refused: int = 0
    server: TestServer | None = None
    _upstream: aiohttp.ClientSession | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def forwarded(self) -> int:
        """Requests it passed on."""
        return len(self.requests) - self.refused

    async def start(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self._upstream = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def close(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = URL(request.raw_path)  # the request target as sent: absolute form
        if not target.is_absolute():
            return web.Response(status=400, text="a proxy takes absolute-form requests\n")
        self.requests.append((request.method, str(target)))
        if self.credentials is not None:
            login, password = self.credentials
            expected = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
            if request.headers.get(hdrs.PROXY_AUTHORIZATION) != expected:
                self.refused += 1
                return web.Response(
                    status=407,
                    text="proxy authentication required\n",
                    headers={hdrs.PROXY_AUTHENTICATE: 'Basic realm="test"'},
                )
        address = self.hosts.get(target.host or "", f"{target.host}:{target.port}")
        upstream = target.with_host(address.rsplit(":", 1)[0]).with_port(
            int(address.rsplit(":", 1)[1])
        )
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "proxy-authorization", "proxy-connection")
        }
        assert self._upstream is not None
        async with self._upstream.request(
            request.method, upstream, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            content_type = answer.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
            return web.Response(
                status=answer.status, body=body, headers={hdrs.CONTENT_TYPE: content_type}
            )


def dead_proxy_url() -> str:
    """An http:// URL on loopback where nothing listens: a proxy that is down."""
    return f"http://127.0.0.1:{free_port()}"
