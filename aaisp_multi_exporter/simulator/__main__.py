"""Run the CHAOS simulator on its own, for benchmarks and manual poking.

``python -m aaisp_multi_exporter.simulator --lines N --accounts K --listen 127.0.0.1:PORT``
serves accounts ``sim1@a`` ... ``simK@a`` (see ``model.numbered_accounts``). Fault knobs become
``Fault`` objects, checked in this order per request: ``--drop-rate``, ``--fail-rate``,
``--rate-limit-rate``, ``--html-rate``, ``--truncated-rate``, ``--error`` (with
``--error-rate``), ``--replay``, ``--lone-object``, ``--quota-without-unlimited``, then
``--latency``; since the first matching fault wins, latency applies to the requests that no other
fault hit. ``--replay broadband/info=FILE`` answers that command with the file's bytes, e.g. a
``--chaos.capture`` file. Admin endpoints (``/_sim/stats``, ``/_sim/reset``, ``/_sim/faults``)
allow out-of-process control: POST a ``Fault`` as JSON to ``/_sim/faults``, e.g.
``{"kind": "deep_nesting"}`` or ``{"kind": "huge_number", "number": "1e400"}`` for the hostile
replies that have no flag of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from .model import Fault, numbered_accounts
from .server import Simulator

log = logging.getLogger("aaisp_multi_exporter.simulator")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, got {value}")
    return rate


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _replay(value: str) -> tuple[str, str]:
    command, sep, path = value.partition("=")
    if not sep or not path or command.count("/") != 1:
        raise argparse.ArgumentTypeError(f"expected SUBSYSTEM/COMMAND=FILE, got {value!r}")
    return command.lower(), path


def build_parser() -> argparse.ArgumentParser:
    """The command line; a function so that tests can check it without starting a server."""
    parser = argparse.ArgumentParser(
        prog="python -m aaisp_multi_exporter.simulator",
        description="CHAOS v2 look-alike server (JSON only) for tests, demos and benchmarks.",
    )
    parser.add_argument("--lines", type=int, default=12, help="lines per account (default 12)")
    parser.add_argument("--accounts", type=int, default=1, help="control logins (default 1)")
    parser.add_argument(
        "--listen", type=_listen, default=("127.0.0.1", 8099), help="HOST:PORT (0 = any port)"
    )
    parser.add_argument("--seed", type=int, default=0, help="data and fault RNG seed")
    parser.add_argument("--latency", type=_non_negative, default=0.0, help="seconds per reply")
    parser.add_argument("--fail-rate", type=_rate, default=0.0, help="share of HTTP errors")
    parser.add_argument("--fail-status", type=int, default=503, help="status for --fail-rate")
    parser.add_argument("--rate-limit-rate", type=_rate, default=0.0, help="share of HTTP 429")
    parser.add_argument("--retry-after", default="1", help="Retry-After value sent with 429")
    parser.add_argument("--html-rate", type=_rate, default=0.0, help="share of HTML pages")
    parser.add_argument("--truncated-rate", type=_rate, default=0.0, help="share cut JSON")
    parser.add_argument("--drop-rate", type=_rate, default=0.0, help="share of hang-ups")
    parser.add_argument(
        "--error", dest="error_text", help='answer with this CHAOS error, e.g. "Login locked"'
    )
    parser.add_argument("--error-rate", type=_rate, default=1.0, help="share for --error")
    parser.add_argument(
        "--replay",
        type=_replay,
        action="append",
        default=[],
        metavar="COMMAND=FILE",
        help="answer COMMAND (e.g. broadband/info) with FILE's bytes; repeatable",
    )
    parser.add_argument(
        "--lone-object", action="store_true", help="send the payload's first entry as an object"
    )
    parser.add_argument(
        "--quota-without-unlimited",
        action="store_true",
        help="leave lines with no monthly quota out of quota[]",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="write each reply a piece at a time as it is encoded (chunked), as a busy "
        "server sends a large one",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def faults_from_args(args: argparse.Namespace) -> list[Fault]:
    """The Faults the knobs ask for, in the order they are checked."""
    faults: list[Fault] = []
    if args.drop_rate:
        faults.append(Fault("drop", probability=args.drop_rate))
    if args.fail_rate:
        faults.append(Fault("http_status", status=args.fail_status, probability=args.fail_rate))
    if args.rate_limit_rate:
        faults.append(
            Fault(
                "http_status",
                status=429,
                retry_after=args.retry_after,
                probability=args.rate_limit_rate,
            )
        )
    if args.html_rate:
        faults.append(Fault("html", probability=args.html_rate))
    if args.truncated_rate:
        faults.append(Fault("truncated", probability=args.truncated_rate))
    if args.error_text is not None:
        faults.append(Fault("error", error_text=args.error_text, probability=args.error_rate))
    faults.extend(Fault("replay", command=command, path=path) for command, path in args.replay)
    if args.lone_object:
        faults.append(Fault("lone_object"))
    if args.quota_without_unlimited:
        faults.append(Fault("quota_without_unlimited"))
    if args.latency:
        faults.append(Fault("latency", latency_seconds=args.latency))
    return faults


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT or SIGTERM."""
    accounts = numbered_accounts(args.accounts, args.lines, seed=args.seed)
    sim = Simulator(accounts, seed=args.seed, stream=args.stream)
    for fault in faults_from_args(args):
        sim.add_fault(fault)
    host, port = args.listen
    url = await sim.start(host, port)
    log.info("CHAOS simulator listening on %s (JSON only)", url)
    log.info("credentials below are fake, made up by the simulator; printing them is harmless")
    for acc in accounts:
        log.info(
            "control_login=%s control_password=%s account_number=%s account_password=%s "
            "lines=%d IDs %s-%s",
            acc.control_login,
            acc.control_password,
            acc.account_number,
            acc.account_password,
            len(acc.lines),
            acc.lines[0]["ID"] if acc.lines else "-",
            acc.lines[-1]["ID"] if acc.lines else "-",
        )
    for fault in sim.faults:
        log.info("fault: %s", fault)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        log.info("CHAOS simulator stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m aaisp_multi_exporter.simulator``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lines < 0 or args.accounts < 1:
        parser.error("--lines must be >= 0 and --accounts >= 1")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
