"""The bare-aiohttp reference: what the web framework serves when a handler does no work.

``python -m benchmarks.bare --body-file F --content-type T --listen HOST:PORT --loop L``
answers every GET with the bytes of F and the given ``Content-Type`` (and ``Vary``), so that
under the same wrk load its probes per second are the ceiling the exporter's cached probes
are measured against. ``run.py`` fills F with a real cached probe's answer and picks ``--loop``
from what the exporter process runs (uvloop or asyncio), so the two differ only in the
handler. The server is set up the way the exporter sets up its own: ``web.AppRunner`` without
an access log, one ``TCPSite``. ``/-/ready`` answers ``ready`` for the harness's start-up poll.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

LOOPS = ("asyncio", "uvloop")


def make_app(body: bytes, content_type: str, vary: str | None) -> web.Application:
    headers = {"Content-Type": content_type}
    if vary:
        headers["Vary"] = vary

    async def fixed(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/{tail:.*}", fixed)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host=host, port=port).start()
    await stopping.wait()
    await runner.cleanup()


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop."""
    if name == "asyncio":
        return None
    uvloop = importlib.import_module("uvloop")
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare", description=__doc__)
    parser.add_argument("--body-file", type=Path, required=True, help="the answer's bytes")
    parser.add_argument("--content-type", required=True, help="the answer's Content-Type")
    parser.add_argument("--vary", default=None, help="the answer's Vary header, if any")
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="event loop")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    app = make_app(args.body_file.read_bytes(), args.content_type, args.vary)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(app, host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
