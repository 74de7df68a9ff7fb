"""Command line and process lifecycle, with the flag names Prometheus exporters use."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from aaisp_multi_exporter import eventloop
from aaisp_multi_exporter.config import ConfigError, config_paths
from aaisp_multi_exporter.config.example import example_text
from aaisp_multi_exporter.diagnostics.check import run_chaos_check
from aaisp_multi_exporter.diagnostics.suggest import refusal as suggest_refusal
from aaisp_multi_exporter.obs.logs import LEVELS, configure_logging, fields
from aaisp_multi_exporter.serve import Options, config_loader, print_problems, serve
from aaisp_multi_exporter.server.history import DEFAULT_LIMIT as DEFAULT_HISTORY_LIMIT
from aaisp_multi_exporter.versioninfo import VersionAction
from aaisp_multi_exporter.web import (
    WebConfigError,
    load_web_config,
)
from aaisp_multi_exporter.web.connections import (
    ConnectionRules,
)
from aaisp_multi_exporter.web.listener import (
    InvalidListenAddress,
    parse_listen_address,
)
from aaisp_multi_exporter.web.paths import InvalidWebPath, web_paths

LOGGER = logging.getLogger("aaisp_multi_exporter")
DEFAULT_PORT = 9099
DEFAULT_RULES = ConnectionRules()
#: blackbox_exporter's default for --config.auto-reload-interval.
DEFAULT_AUTO_RELOAD_SECONDS = 30.0
#: 128 + SIGPIPE, what a shell reports for ``yes | head -1``'s ``yes``.
CLOSED_PIPE_STATUS = 141


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
        "--config.enable-auto-reload",
        dest="config_auto_reload",
        action="store_true",
        help="re-read the configuration when its files change (checked every "
        "--config.auto-reload-interval, globs expanded again), as SIGHUP does",
    )
    parser.add_argument(
        "--config.auto-reload-interval",
        dest="config_auto_reload_interval",
        type=_duration,
        default=DEFAULT_AUTO_RELOAD_SECONDS,
        metavar="DURATION",
        help="how often --config.enable-auto-reload compares the files' checksums (default: 30s)",
    )
    parser.add_argument(
        "--config.example",
        dest="config_example",
        action="store_true",
        help="print the shipped, commented modules.toml to start from, and exit "
        "(aaisp-multi-exporter --config.example > modules.toml)",
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
        "--chaos.suggest",
        dest="chaos_suggest",
        metavar="FILE",
        default="",
        help="run --chaos.check and write FILE: a gauge declaration for each numeric field "
        "CHAOS sent that the exporter does not export, to load beside the configuration "
        "(docs/commands.md)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        action="append",
        metavar="[HOST]:PORT",
        help=f"address to listen on; repeat it for one listener each (default: :{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--web.systemd-socket",
        dest="systemd_socket",
        action="store_true",
        help="listen on the sockets systemd passes (socket activation, LISTEN_FDS) instead of "
        "--web.listen-address",
    )
    parser.add_argument(
        "--web.external-url",
        dest="external_url",
        default="",
        metavar="URL",
        help="the URL under which the exporter is reached, e.g. behind a reverse proxy; its "
        "path is the default route prefix and is used in redirects and /discover",
    )
    parser.add_argument(
        "--web.route-prefix",
        dest="route_prefix",
        default="",
        metavar="PATH",
        help="path under which every endpoint is served (default: the path of "
        "--web.external-url, else /)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        metavar="FILE",
        help="exporter-toolkit web config: TLS and basic auth on every endpoint "
        "(see docs/web-config.md; default: none)",
    )
    parser.add_argument(
        "--web.max-requests",
        dest="max_requests",
        type=int,
        default=40,
        help="probes starting CHAOS calls at once; beyond it such a probe gets 503 (a probe "
        "waiting for a call already in flight is never refused); 0 for no limit "
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
        metavar="DURATION",
        help="a new connection (after its TLS handshake, which gets as long) that has not "
        "sent a complete request head in this time is closed, e.g. 10s, 500ms "
        "(default: %(default)ss)",
    )
    parser.add_argument(
        "--web.idle-timeout",
        dest="idle_timeout",
        type=_duration,
        default=DEFAULT_RULES.idle_timeout,
        metavar="DURATION",
        help="a keep-alive connection idle this long between requests is closed "
        "(default: %(default)ss)",
    )
    parser.add_argument(
        "--timeout-offset",
        dest="timeout_offset",
        type=_offset,
        default=0.5,
        metavar="DURATION",
        help="time left for the answer: subtracted from Prometheus' scrape timeout to make "
        "the probe's deadline, e.g. 500ms or 1s (default: %(default)ss)",
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
        help="log messages at this level and above: debug, info, warn (or warning), error "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=["logfmt", "json"],
        default="logfmt",
        help="how a log line is written on stderr: logfmt, or one JSON object a line "
        "(default: %(default)s)",
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


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
#: Prometheus's units (``model.ParseDuration``): a year is 365 days.
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """Seconds from a Prometheus-style duration (``10s``, ``1h30m``, ``500ms``) or a bare
    number of seconds; argparse's error when it is neither, or not above 0."""
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        parts = _DURATION_PART.findall(stripped)
        if not parts or "".join(number + unit for number, unit in parts) != stripped:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (want e.g. 10s, 1m30s, 500ms, or seconds)"
            ) from None
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if allow_zero and seconds == 0:
        return 0.0
    if not 0 < seconds < float("inf"):
        least = "0 or more" if allow_zero else "more than 0"
        raise argparse.ArgumentTypeError(f"must be {least}: {text!r}")
    return seconds


def _duration(text: str) -> float:
    return parse_duration(text)


def _offset(text: str) -> float:
    return parse_duration(text, allow_zero=True)


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


def chaos_check(patterns: Sequence[str], capture_dir: str, suggest_file: str = "") -> int:
    """``--chaos.check`` (``--chaos.capture`` and ``--chaos.suggest`` imply it): load the
    config, then ask CHAOS."""
    try:
        config = config_loader(patterns)()
    except ConfigError as error:
        print_problems(", ".join(patterns), error.problems)
        return 1
    files = config_paths(patterns)
    suggest_path = Path(suggest_file) if suggest_file else None
    # Refused before CHAOS is asked, so a wrong file name costs no calls.
    problem = None if suggest_path is None else suggest_refusal(suggest_path, files)
    if problem is not None:
        print(f"--chaos.suggest: {problem}", file=sys.stderr)
        return 1
    return run_chaos_check(
        config,
        capture_dir=Path(capture_dir) if capture_dir else None,
        suggest_path=suggest_path,
        config_files=files,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # Here, not at the interpreter's exit (also after --help and --version), so a
            # closed pipe is met where it can be handled.
            sys.stdout.flush()
    except BrokenPipeError:
        return closed_pipe()


def closed_pipe() -> int:
    """Output cut short by its reader (``--version | head -1``): nobody is left to tell, so
    end quietly, with the status a shell gives a program ended by SIGPIPE.

    Standard output is pointed at /dev/null first, or the interpreter's last flush of what is
    still buffered would print a traceback of its own."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_STATUS


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.config_example:
        sys.stdout.write(example_text())
        return 0
    # Not argparse's default: with action="append" it would stay in front of the files given.
    args.config_file = args.config_file or ["modules.toml"]
    args.listen_address = args.listen_address or [f":{DEFAULT_PORT}"]
    options = Options(**vars(args))
    configure_logging(options.log_level, "json" if options.log_format == "json" else "logfmt")
    try:
        web_paths(options.external_url, options.route_prefix)
    except InvalidWebPath as error:
        LOGGER.error(
            f"invalid {error.flag}; not starting",
            extra=fields(value=error.shown, reason=error.reason),
        )
        return 1
    if options.config_check:
        return check_config(options.config_file, options.web_config_file)
    if options.chaos_check or options.chaos_capture or options.chaos_suggest:
        return chaos_check(options.config_file, options.chaos_capture, options.chaos_suggest)
    try:
        for address in options.listen_address:
            parse_listen_address(address)
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
