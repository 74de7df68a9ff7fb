"""Command line and process lifecycle, with the flag names Prometheus exporters use."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from aaisp_multi_exporter import __version__, eventloop
from aaisp_multi_exporter.app import create_app
from aaisp_multi_exporter.chaos.check import run_chaos_check
from aaisp_multi_exporter.config import Config, ConfigError, load_config
from aaisp_multi_exporter.demo import start_demo
from aaisp_multi_exporter.history import DEFAULT_LIMIT as DEFAULT_HISTORY_LIMIT
from aaisp_multi_exporter.logsetup import LEVELS, configure_logging, fields
from aaisp_multi_exporter.state import ExporterState, build_state
from aaisp_multi_exporter.versioninfo import VersionAction
from aaisp_multi_exporter.web import (
    Authenticator,
    WebConfigError,
    WebConfigWatcher,
    basic_auth_middleware,
    load_web_config,
)
from aaisp_multi_exporter.web.connections import (
    ConnectionGuard,
    ConnectionRules,
    quiet_loop_errors,
    raise_open_file_limit,
)
from aaisp_multi_exporter.web.listener import (
    InvalidListenAddress,
    ListenError,
    bind,
    bound_addresses,
    parse_listen_address,
    show_address,
)

LOGGER = logging.getLogger("aaisp_multi_exporter")
DEFAULT_PORT = 9099
#: How long SIGTERM waits for probes in flight; the longest deadline a probe can have.
SHUTDOWN_GRACE_SECONDS = 125.0
DEFAULT_RULES = ConnectionRules()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aaisp-multi-exporter",
        description="Multi-target Prometheus exporter for the Andrews & Arnold CHAOS v2 API.",
    )
    parser.add_argument(
        "--config.file",
        dest="config_file",
        action="append",
        metavar="FILE_OR_GLOB",
        help="modules and credential sets; repeat it, or give a quoted glob pattern such as "
        "'conf.d/*.toml', to merge several files (default: modules.toml)",
    )
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration, print every problem, exit 0 or 1",
    )
    parser.add_argument(
        "--chaos.check",
        dest="chaos_check",
        action="store_true",
        help="call CHAOS once per credential set and command, report what it answered "
        "(no password, personal data as placeholders), exit 0 or 1",
    )
    parser.add_argument(
        "--chaos.capture",
        dest="chaos_capture",
        metavar="DIR",
        default="",
        help="run --chaos.check and write each raw reply, redacted, to "
        "DIR/<auth>-<subsystem>-<command>.json (mode 0600)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help="address to listen on, [host]:port (default: %(default)s)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="exporter-toolkit web config: TLS and basic auth on every endpoint "
        "(see docs/web-config.md; default: none)",
    )
    parser.add_argument(
        "--web.max-requests",
        dest="max_requests",
        type=int,
        default=40,
        help="probes allowed in flight at once; beyond it a probe gets 503; 0 for no limit "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=_non_negative_int,
        default=DEFAULT_RULES.max_connections,
        help="connections open at once; beyond it a new connection is closed at once; 0 for "
        "no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--web.read-header-timeout",
        dest="read_header_timeout",
        type=_duration,
        default=DEFAULT_RULES.read_header_timeout,
        help="a new connection (after its TLS handshake, which gets as long) that has not "
        "sent a complete request head in this time is closed, e.g. 10s, 500ms "
        "(default: %(default)ss)",
    )
    parser.add_argument(
        "--web.idle-timeout",
        dest="idle_timeout",
        type=_duration,
        default=DEFAULT_RULES.idle_timeout,
        help="a keep-alive connection idle this long between requests is closed "
        "(default: %(default)ss)",
    )
    parser.add_argument(
        "--timeout-offset",
        dest="timeout_offset",
        type=float,
        default=0.5,
        help="seconds subtracted from Prometheus' scrape timeout (default: %(default)s)",
    )
    parser.add_argument(
        "--history.limit",
        dest="history_limit",
        type=_non_negative_int,
        default=DEFAULT_HISTORY_LIMIT,
        help="recent probes kept for the landing page and /logs, plus as many older "
        "failures; 0 keeps none (default: %(default)s)",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=list(LEVELS),
        default="info",
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=["logfmt", "json"],
        default="logfmt",
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the built-in CHAOS simulator with a matching configuration",
    )
    parser.add_argument("--version", action=VersionAction)
    return parser


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """Seconds from a Prometheus-style duration (``10s``, ``1m30s``, ``500ms``) or a number."""
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        parts = _DURATION_PART.findall(stripped)
        if not parts or "".join(number + unit for number, unit in parts) != stripped:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (want e.g. 10s, 1m30s, 500ms)"
            ) from None
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return seconds


@dataclass
class Options:
    config_file: list[str]
    """Every ``--config.file`` given, in order: paths or glob patterns."""
    config_check: bool
    chaos_check: bool
    chaos_capture: str
    listen_address: str
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


def check_config(patterns: Sequence[str], web_config_path: str = "") -> int:
    """Validate every configuration file and, when given, the web configuration; report all."""
    status = 0
    try:
        config = config_loader(patterns)()
    except ConfigError as error:
        print_problems(", ".join(patterns), error.problems)
        status = 1
    else:
        auths, modules = len(config.auths), len(config.modules)
        print(f"{config.source}: OK ({auths} credential set(s), {modules} module(s))")
    if web_config_path:
        try:
            load_web_config(web_config_path)
        except WebConfigError as error:
            print_problems(web_config_path, error.problems)
            status = 1
        else:
            print(f"{web_config_path}: OK")
    return status


def chaos_check(patterns: Sequence[str], capture_dir: str) -> int:
    """``--chaos.check`` (``--chaos.capture`` implies it): load the config, then ask CHAOS."""
    try:
        config = config_loader(patterns)()
    except ConfigError as error:
        print_problems(", ".join(patterns), error.problems)
        return 1
    return run_chaos_check(config, capture_dir=Path(capture_dir) if capture_dir else None)


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
    host, port = parse_listen_address(options.listen_address)
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
        guard = ConnectionGuard(rules)
        try:
            listener = await bind(
                guard,
                host,
                port,
                ssl_context=ssl_context,
                handshake_timeout=rules.read_header_timeout,
            )
        except ListenError as error:
            LOGGER.error(
                "cannot listen; not starting",
                extra=fields(address=error.address, reason=error.reason),
            )
            return 1
        stack.callback(listener.close)

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
        # Signals are handled before the port accepts, so a SIGHUP sent as soon as the
        # "listening" line appears reloads instead of killing the process.
        stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload_from_signal(state.reload))
        runner = web.AppRunner(
            _secured_app(state, guard, watcher, authenticator),
            access_log=None,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            keepalive_timeout=rules.idle_timeout,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        assert runner.server is not None  # set by setup()
        guard.serve(runner.server)
        await listener.start_serving()
        _log_listening(listener, host, watcher, rules, demo_urls)

        await stopping.wait()
        LOGGER.info("shutting down; letting probes in flight finish")
        listener.close()  # stop accepting before the runner waits for requests in flight
    LOGGER.info("stopped")
    return 0


def _secured_app(
    state: ExporterState,
    guard: ConnectionGuard,
    watcher: WebConfigWatcher | None,
    authenticator: Authenticator,
) -> web.Application:
    """The app behind the connection guard and, with ``--web.config.file``, basic auth and
    the configured response headers on every answer."""
    middlewares = [guard.middleware()]
    if watcher is not None:
        middlewares.append(basic_auth_middleware(watcher, authenticator))
    app = create_app(state, middlewares=middlewares)
    if watcher is not None:
        app.on_response_prepare.append(watcher.add_headers)
    return app


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
    listener: asyncio.Server,
    host: str | None,
    watcher: WebConfigWatcher | None,
    rules: ConnectionRules,
    demo_urls: Sequence[str],
) -> None:
    addresses = bound_addresses(listener)
    tls = watcher is not None and watcher.ssl_context is not None
    LOGGER.info(
        "listening",
        extra=fields(
            addresses=",".join(show_address(*address) for address in addresses),
            version=__version__,
            tls=tls,
            basic_auth=watcher is not None and watcher.basic_auth,
            max_connections=rules.max_connections,
            event_loop=eventloop.loop_factory()[0],
        ),
    )
    base = _browse_base(host, addresses[0][1], "https" if tls else "http")
    for path in demo_urls:
        LOGGER.info("demo: try this probe", extra=fields(url=base + path))


def _browse_base(host: str | None, port: int, scheme: str = "http") -> str:
    shown = host if host and host not in ("0.0.0.0", "::") else "localhost"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def _reload_from_signal(reload: Callable[[], Config]) -> None:
    try:
        config = reload()
    except ConfigError as error:
        LOGGER.error(
            "reload on SIGHUP failed; keeping the running configuration",
            extra=fields(error=str(error)),
        )
        return
    LOGGER.info("configuration reloaded on SIGHUP", extra=fields(modules=len(config.modules)))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Not argparse's default: with action="append" it would stay in front of the files given.
    args.config_file = args.config_file or ["modules.toml"]
    options = Options(**vars(args))
    configure_logging(options.log_level, "json" if options.log_format == "json" else "logfmt")
    if options.config_check:
        return check_config(options.config_file, options.web_config_file)
    if options.chaos_check or options.chaos_capture:
        return chaos_check(options.config_file, options.chaos_capture)
    try:
        parse_listen_address(options.listen_address)
    except InvalidListenAddress as error:
        LOGGER.error(
            "invalid --web.listen-address; not starting",
            extra=fields(address=error.address, reason=error.reason),
        )
        return 1
    try:
        return eventloop.run(serve(options))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        return 130
