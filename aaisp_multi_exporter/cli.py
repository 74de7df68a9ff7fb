"""Command line and process lifecycle, with the flag names Prometheus exporters use."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.app import build_state, create_app
from aaisp_multi_exporter.chaoscheck import run_chaos_check
from aaisp_multi_exporter.client import ChaosClient, make_session
from aaisp_multi_exporter.config import Config, ConfigError, load_config
from aaisp_multi_exporter.demo import start_demo
from aaisp_multi_exporter.history import DEFAULT_LIMIT as DEFAULT_HISTORY_LIMIT
from aaisp_multi_exporter.logsetup import LEVELS, configure_logging, fields
from aaisp_multi_exporter.selfmetrics import ExporterMetrics
from aaisp_multi_exporter.versioninfo import VersionAction
from aaisp_multi_exporter.webconfig import (
    WebConfigError,
    WebConfigWatcher,
    load_web_config,
    server_ssl_context,
    web_config_middleware,
)

LOGGER = logging.getLogger("aaisp_multi_exporter")
DEFAULT_PORT = 9099
#: How long SIGTERM waits for probes in flight; the longest deadline a probe can have.
SHUTDOWN_GRACE_SECONDS = 125.0


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


def parse_listen_address(address: str) -> tuple[str | None, int]:
    """``:9099``, ``0.0.0.0:9099``, ``[::1]:9099``; an empty host means every interface."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"invalid --web.listen-address {address!r}: want [host]:port")
    host = host.strip("[]")
    return (host or None), int(port_text)


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
    """Run until SIGTERM/SIGINT; SIGHUP reloads."""
    host, port = parse_listen_address(options.listen_address)
    try:
        watcher = open_web_config(options.web_config_file)
    except WebConfigError:
        return 1
    stack: list[Callable[[], object]] = []
    if watcher is not None:
        stack.append(watcher.close)
    demo_urls: list[str] = []
    if options.demo:
        demo = await start_demo()
        loader: Callable[[], Config] = demo.loader
        demo_urls = demo.example_paths
        stack.append(demo.stop)
    else:
        loader = config_loader(options.config_file)

    metrics = ExporterMetrics()
    session = make_session()
    state = build_state(
        loader,
        ChaosClient(session, metrics),
        metrics,
        timeout_offset=options.timeout_offset,
        max_requests=options.max_requests,
        history_limit=options.history_limit,
    )
    try:
        state.reload()
    except ConfigError as error:
        print_problems("<demo>" if options.demo else ", ".join(options.config_file), error.problems)
        LOGGER.error(
            "invalid configuration; not starting", extra=fields(problems=len(error.problems))
        )
        await session.close()
        for stop_extra in reversed(stack):
            await _maybe_await(stop_extra())
        return 1
    # Signals are handled before the port opens, so a SIGHUP sent as soon as the "listening"
    # line appears reloads instead of killing the process.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload_from_signal(state.reload))
    app = create_app(state, middlewares=[web_config_middleware(watcher)] if watcher else [])
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    await runner.setup()
    ssl_context = server_ssl_context(watcher)
    site = web.TCPSite(runner, host=host, port=port, ssl_context=ssl_context)
    await site.start()
    bound = [f"{addr[0]}:{addr[1]}" for addr in runner.addresses if isinstance(addr, tuple)]
    LOGGER.info(
        "listening",
        extra=fields(
            addresses=",".join(bound),
            version=__version__,
            tls=ssl_context is not None,
            basic_auth=watcher is not None and watcher.basic_auth,
        ),
    )
    base = _browse_base(host, runner, "https" if ssl_context else "http")
    for path in demo_urls:
        LOGGER.info("demo: try this probe", extra=fields(url=base + path))

    await stopping.wait()
    LOGGER.info("shutting down; letting probes in flight finish")
    await runner.cleanup()
    await session.close()
    for stop_extra in reversed(stack):
        await _maybe_await(stop_extra())
    LOGGER.info("stopped")
    return 0


def _browse_base(host: str | None, runner: web.AppRunner, scheme: str = "http") -> str:
    port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))
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


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value


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
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(options))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        return 130
