"""The bare-aiohttp reference: what the framework serves when a handler does no work.

``python benchmarks/bare.py BODY_FILE HOST:PORT LOOP CONTENT_TYPE VARY`` answers every GET with
BODY_FILE's bytes (a real cached probe's answer) and the exporter's headers, on the event loop
the exporter runs (``uvloop`` or ``asyncio``), served as the exporter serves (``AppRunner``
without access log, one ``TCPSite``): under the same load the two differ only in the handler.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web


def make_app(body: bytes, content_type: str, vary: str) -> web.Application:
    headers = {"Content-Type": content_type} | ({"Vary": vary} if vary else {})

    async def fixed(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/{tail:.*}", fixed)
    return app


def main(argv: list[str]) -> None:
    body_file, listen, loop_name, content_type, vary = argv
    host, _, port = listen.rpartition(":")
    app = make_app(Path(body_file).read_bytes(), content_type, vary)
    loop: asyncio.AbstractEventLoop
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(app, host=host, port=int(port), access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main(sys.argv[1:])
