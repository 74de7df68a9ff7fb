"""A CHAOS v2 look-alike server for tests, ``--demo`` and benchmarks (SPEC.md §10).

It follows ``chaos-api.md`` closely, quirks included, and speaks JSON only: XML or SOAP requests
and ``/xml`` or ``/soap`` suffixes get HTTP 501. See ``server`` for the protocol details,
``lines`` for the generated data and its quirk-by-index table, ``model.Fault`` for the faults
it can inject (each kind documented there), and ``__main__`` for the stand-alone command line.
"""

from .lines import (
    QUIRK_CYCLE,
    QUIRKS,
    Quirk,
    generate_lines,
    has_quirk,
    line_ids_with_quirk,
    quirk_at,
    service_aliases,
)
from .model import (
    DEMO_LOGIN,
    DEMO_PASSWORD,
    FAULT_KINDS,
    HUGE_FLOAT,
    HUGE_INTEGER,
    Fault,
    FaultKind,
    SimAccount,
    demo_accounts,
    numbered_accounts,
)
from .server import (
    ACCOUNT_AUTH_FAILED,
    BAD_CONTROL_LOGIN,
    BAD_SERVICE,
    CONTROL_AUTH_FAILED,
    UNKNOWN_COMMAND,
    Simulator,
)

__all__ = [
    "ACCOUNT_AUTH_FAILED",
    "BAD_CONTROL_LOGIN",
    "BAD_SERVICE",
    "CONTROL_AUTH_FAILED",
    "DEMO_LOGIN",
    "DEMO_PASSWORD",
    "FAULT_KINDS",
    "HUGE_FLOAT",
    "HUGE_INTEGER",
    "QUIRKS",
    "QUIRK_CYCLE",
    "UNKNOWN_COMMAND",
    "Fault",
    "FaultKind",
    "Quirk",
    "SimAccount",
    "Simulator",
    "demo_accounts",
    "generate_lines",
    "has_quirk",
    "line_ids_with_quirk",
    "numbered_accounts",
    "quirk_at",
    "service_aliases",
]
