"""Command line and process lifecycle, with the flag names Prometheus exporters use."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aaisp_multi_exporter import eventloop
from aaisp_multi_exporter.config import ConfigError
from aaisp_multi_exporter.config.example import example_text
from aaisp_multi_exporter.obs.logs import LEVELS, configure_logging, fields
from aaisp_multi_exporter.probe.check import run_chaos_check
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
from aaisp_multi_exporter.web.paths import InvalidWebPath, external_path, normalise_prefix

LOGGER = logging.getLogger("aaisp_multi_exporter")
DEFAULT_PORT = 9099
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
        type=_flag_check(external_path),
        default="",
        metavar="URL",
        help="the URL under which the exporter is reached, e.g. behind a reverse proxy; its "
        "path is the default route prefix and is used in redirects and /discover",
    )
    parser.add_argument(
        "--web.route-prefix",
        dest="route_prefix",
        type=_flag_check(normalise_prefix),
        default="",
        metavar="PATH",
        help="path under which every endpoint is served (default: the path of "
        "--web.external-url, else /)",
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


def _flag_check(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse ``type`` that keeps the text as given once ``check`` accepts it (empty:
    the flag's default, not given)."""

    def checked(text: str) -> str:
        try:
            if text:
                check(text)
        except InvalidWebPath as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return checked


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
    return run_chaos_check(
        config,
        capture_dir=Path(capture_dir) if capture_dir else None,
        suggest_path=Path(suggest_file) if suggest_file else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config_example:
        sys.stdout.write(example_text())
        return 0
    # Not argparse's default: with action="append" it would stay in front of the files given.
    args.config_file = args.config_file or ["modules.toml"]
    args.listen_address = args.listen_address or [f":{DEFAULT_PORT}"]
    options = Options(**vars(args))
    configure_logging(options.log_level, "json" if options.log_format == "json" else "logfmt")
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
