"""The exporter as a process: start in order, serve until SIGTERM, reload on SIGHUP, stop
cleanly.

Everything opened (the port, the web configuration watcher, the demo simulator, the app and
with it the CHAOS session) goes on one exit stack, the port first, so whatever fails is closed
in reverse order and the process exits without a traceback or an unclosed session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from aaisp_multi_exporter import __version__, eventloop
from aaisp_multi_exporter.config import Config, ConfigError, load_config
from aaisp_multi_exporter.config.models import MAX_MODULE_TIMEOUT_SECONDS
from aaisp_multi_exporter.demo import start_demo
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.probe.request import MAX_TIMEOUT_SECONDS
from aaisp_multi_exporter.server.app import create_app
from aaisp_multi_exporter.server.reloads import ON_SIGHUP, auto_reload, reload_logged
from aaisp_multi_exporter.server.state import ExporterState, build_state
from aaisp_multi_exporter.web import (
    Authenticator,
    WebConfigError,
    WebConfigWatcher,
)
from aaisp_multi_exporter.web.connections import (
    ConnectionGuard,
    ConnectionRules,
    quiet_loop_errors,
    raise_open_file_limit,
)
from aaisp_multi_exporter.web.listener import (
    ListenError,
    adopt,
    bind,
    bound_addresses,
    describe_socket,
    parse_listen_address,
    systemd_sockets,
)
from aaisp_multi_exporter.web.malformed import MALFORMED, RequestErrorLog
from aaisp_multi_exporter.web.paths import WebPaths, web_paths

LOGGER = logging.getLogger("aaisp_multi_exporter")
#: How long SIGTERM waits for probes in flight: the longest deadline a probe can have (a
#: module's ``timeout_seconds``, or the scrape timeout a probe is given), and a little more.
SHUTDOWN_GRACE_SECONDS = max(MAX_MODULE_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS) + 5.0


@dataclass
class Options:
    config_file: list[str]
    """Every ``--config.file`` given, in order: paths or glob patterns."""
    config_check: bool
    config_auto_reload: bool
    config_auto_reload_interval: float
    config_example: bool
    chaos_check: bool
    chaos_capture: str
    chaos_suggest: str
    listen_address: list[str]
    """Every ``--web.listen-address`` given: one listener each."""
    systemd_socket: bool
    external_url: str
    route_prefix: str
    web_config_file: str
    timeout_offset: float
    max_requests: int
    max_connections: int
    read_header_timeout: float
    idle_timeout: float
    history_limit: int
    log_level: str
    log_format: str
    demo: bool


def print_problems(source: str, problems: Sequence[str]) -> None:
    """Plain lines on stderr, one a problem, so a person can read and fix them in order."""
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{source}: {len(problems)} problem(s) found", file=sys.stderr)


def config_loader(patterns: Sequence[str]) -> Callable[[], Config]:
    """What start-up and every reload call: the globs are expanded afresh each time."""
    files = list(patterns)

    def loader() -> Config:
        return load_config(files)

    return loader


def open_web_config(path: str) -> WebConfigWatcher | None:
    """None without ``--web.config.file``; problems go to stderr before WebConfigError."""
    if not path:
        return None
    try:
        return WebConfigWatcher(path)
    except WebConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        LOGGER.error(
            "invalid --web.config.file; not starting",
            extra=fields(file=path, problems=len(error.problems)),
        )
        raise


async def serve(options: Options) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads.

    Resources are opened in order on one exit stack, the port first: whatever fails, what
    was opened is closed in reverse order and the process exits without a traceback or an
    "Unclosed client session" warning.
    """
    addresses = [parse_listen_address(address) for address in options.listen_address]
    paths = web_paths(options.external_url, options.route_prefix)
    rules = ConnectionRules(
        max_connections=options.max_connections,
        read_header_timeout=options.read_header_timeout,
        idle_timeout=options.idle_timeout,
    )
    loop = asyncio.get_running_loop()
    quiet_loop_errors(loop)
    raise_open_file_limit(rules)
    async with contextlib.AsyncExitStack() as stack:
        try:
            watcher = open_web_config(options.web_config_file)
        except WebConfigError:
            return 1
        authenticator = Authenticator()
        stack.callback(authenticator.close)
        ssl_context = None if watcher is None else watcher.ssl_context
        # One guard for every listener: --web.max-connections bounds the process.
        guard = ConnectionGuard(rules)
        listeners: list[asyncio.Server] = []
        try:
            if options.systemd_socket:
                for sock in systemd_sockets():
                    listener = await adopt(
                        guard,
                        sock,
                        ssl_context=ssl_context,
                        handshake_timeout=rules.read_header_timeout,
                    )
                    stack.callback(listener.close)
                    listeners.append(listener)
            else:
                for host, port in addresses:
                    listener = await bind(
                        guard,
                        host,
                        port,
                        ssl_context=ssl_context,
                        handshake_timeout=rules.read_header_timeout,
                    )
                    stack.callback(listener.close)
                    listeners.append(listener)
        except ListenError as error:
            LOGGER.error(
                "cannot listen; not starting",
                extra=fields(address=error.address, reason=error.reason),
            )
            return 1

        loader, demo_urls = await _config_source(options, stack)
        # The CHAOS session is the app's (create_app): opened by runner.setup below, closed
        # by runner.cleanup after background refreshes end.
        state = build_state(
            loader,
            timeout_offset=options.timeout_offset,
            max_requests=options.max_requests,
            history_limit=options.history_limit,
        )
        try:
            state.reload()
        except ConfigError as error:
            source = "<demo>" if options.demo else ", ".join(options.config_file)
            print_problems(source, error.problems)
            LOGGER.error(
                "invalid configuration; not starting", extra=fields(problems=len(error.problems))
            )
            return 1
        stopping = _follow_signals_and_files(options, state, stack)
        runner = web.AppRunner(
            create_app(
                state,
                middlewares=[guard.middleware()],
                web_config=watcher,
                authenticator=authenticator,
                paths=paths,
            ),
            access_log=None,
            logger=RequestErrorLog(state.metrics.rejected.labels(MALFORMED).inc),
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            keepalive_timeout=rules.idle_timeout,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        assert runner.server is not None  # set by setup()
        guard.serve(runner.server)
        for listener in listeners:
            await listener.start_serving()
        _log_listening(listeners, watcher, rules, demo_urls, paths)

        await stopping.wait()
        LOGGER.info("shutting down; letting probes in flight finish")
        for listener in listeners:
            listener.close()  # stop accepting before the runner waits for requests in flight
    LOGGER.info("stopped")
    return 0


async def _config_source(
    options: Options, stack: contextlib.AsyncExitStack
) -> tuple[Callable[[], Config], list[str]]:
    """The loader ``state.reload`` calls, and the demo's example URLs (with ``--demo``)."""
    if options.demo:
        demo = await start_demo()
        stack.push_async_callback(demo.stop)
        return demo.loader, demo.example_paths
    return config_loader(options.config_file), []


def _log_listening(
    listeners: list[asyncio.Server],
    watcher: WebConfigWatcher | None,
    rules: ConnectionRules,
    demo_urls: Sequence[str],
    paths: WebPaths,
) -> None:
    tls = watcher is not None and watcher.ssl_context is not None
    LOGGER.info(
        "listening",
        extra=fields(
            addresses=",".join(
                describe_socket(sock) for listener in listeners for sock in listener.sockets
            ),
            version=__version__,
            tls=tls,
            basic_auth=watcher is not None and watcher.basic_auth,
            max_connections=rules.max_connections,
            event_loop=eventloop.loop_factory()[0],
            **({"route_prefix": paths.route_prefix} if paths.route_prefix else {}),
        ),
    )
    inet = bound_addresses(listeners)
    if not inet:
        return
    host, port = inet[0]
    base = _browse_base(host, port, "https" if tls else "http") + paths.public_prefix
    for path in demo_urls:
        LOGGER.info("demo: try this probe", extra=fields(url=base + path))


def _browse_base(host: str | None, port: int, scheme: str = "http") -> str:
    shown = host if host and host not in ("0.0.0.0", "::") else "localhost"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def _follow_signals_and_files(
    options: Options, state: ExporterState, stack: contextlib.AsyncExitStack
) -> asyncio.Event:
    """SIGTERM and SIGINT set the event returned; SIGHUP reloads, and so does a change of the
    files with ``--config.enable-auto-reload``.

    Signals are handled before the port accepts, so a SIGHUP sent as soon as the "listening"
    line appears reloads instead of killing the process."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: reload_logged(state, ON_SIGHUP))
    if options.config_auto_reload and not options.demo:
        watching = asyncio.create_task(
            auto_reload(state, options.config_file, options.config_auto_reload_interval)
        )
        stack.push_async_callback(_stop, watching)
    return stopping


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
