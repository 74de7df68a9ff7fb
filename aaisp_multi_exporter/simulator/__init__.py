"""A CHAOS v2 look-alike server for tests, ``--demo`` and benchmarks.

It follows docs/chaos-api.md closely, quirks included, and speaks JSON only: XML or SOAP requests
and ``/xml`` or ``/soap`` suffixes get HTTP 501. One module per job:

- ``server``: the ``Simulator``, its routes and lifecycle, the order a request takes, counting;
- ``attributes``: a request's attributes from query, body and Basic auth;
- ``auth``: which account a request is, or which of CHAOS's authentication errors;
- ``envelope``: the JSON reply, envelope and payload of each command;
- ``model``: the data served (``SimAccount``) and the faults it can inject (``Fault``, each
  kind documented there);
- ``lines``: generated lines and their quirk-by-index table;
- ``faults``: which fault a request gets;
- ``faultreplies``: what each fault sends instead;
- ``admin``: the ``/_sim/`` endpoints;
- ``__main__``: the stand-alone command line.
"""

from .auth import ACCOUNT_AUTH_FAILED, BAD_CONTROL_LOGIN, CONTROL_AUTH_FAILED
from .envelope import BAD_SERVICE, UNKNOWN_COMMAND
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
from .server import Simulator

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
