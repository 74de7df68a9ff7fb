"""The JSON CHAOS sends: the envelope and the payload of each command (docs/chaos-api.md §4-7).

The full envelope (``subsystem``, ``command``, ``request`` with passwords ``(redacted)``,
``prices``, ``state``, ``options`` with the Service choices), then ``error`` or the payload;
every value a string, ``/`` escaped as ``\\/``. Only ``broadband/info``, ``broadband/quota``
and ``broadband/services`` are known; anything else gets ``"error": "Unknown command"``,
checked before authentication. Errors come with HTTP 200 and no payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from .auth import authenticate
from .model import SimAccount

UNKNOWN_COMMAND = "Unknown command"
# Assumption: the real text for an unknown or not-owned service is not public
# (docs/chaos-api.md §7, §12 question 2); this wording is the simulator's own.
BAD_SERVICE = "Bad service"
REDACTED = "(redacted)"

SUPPORTED = frozenset({("broadband", "info"), ("broadband", "quota"), ("broadband", "services")})
QUOTA_FIELDS = ("ID", "quota_monthly", "quota_remaining", "quota_timestamp")
#: The keys every reply has; whatever else a reply holds is ``error`` or the payload.
ENVELOPE_KEYS = frozenset({"subsystem", "command", "request", "prices", "state", "options"})


def dump_json(payload: object) -> bytes:
    """Serialise like CHAOS: compact, with ``/`` escaped as ``\\/`` (FIX samples)."""
    # "/" only ever occurs inside JSON strings, so a textual replace is exact.
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


#: Payload entries per piece of a streamed reply.
STREAM_PIECE_ENTRIES = 1000


def json_pieces(payload: dict[str, Any]) -> Iterator[bytes]:
    """``dump_json(payload)`` a piece at a time: each member of the object, and a large array
    member (the payload) ``STREAM_PIECE_ENTRIES`` entries at a time, encoded as it is asked
    for; the pieces joined are ``dump_json``'s bytes."""
    yield b"{"
    for index, (key, value) in enumerate(payload.items()):
        head = (b"," if index else b"") + dump_json(key) + b":"
        if not isinstance(value, list) or len(value) <= STREAM_PIECE_ENTRIES:
            yield head + dump_json(value)
            continue
        yield head + b"["
        for start in range(0, len(value), STREAM_PIECE_ENTRIES):
            piece = dump_json(value[start : start + STREAM_PIECE_ENTRIES])[1:-1]
            yield (b"," if start else b"") + piece
        yield b"]"
    yield b"}"


async def streamed_response(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
    """The reply encoded and written a piece at a time (chunked), as a busy server sends a
    large one: its CPU goes on while the client reads what came before."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for piece in json_pieces(payload):
        await response.write(piece)
    await response.write_eof()
    return response


def json_response(payload: object, status: int = 200) -> web.Response:
    """A CHAOS-style JSON reply; CHAOS answers errors with HTTP 200 too (docs/chaos-api.md §7)."""
    return web.Response(body=dump_json(payload), status=status, content_type="application/json")


def build_reply(
    accounts: list[SimAccount],
    subsystem: str,
    command: str,
    attrs: dict[str, str],
    state_id: str,
) -> dict[str, Any]:
    """The JSON object CHAOS would send for this request; ``state_id`` is its ``uuid``."""
    echo = {name: REDACTED if "password" in name else value for name, value in attrs.items()}
    echo.update(uuid=state_id, seq="1")
    reply: dict[str, Any] = {
        "subsystem": subsystem,
        "command": command,
        "request": echo,
        "prices": {
            "vat_preferred": "inc",
            "price": [{"name": "install", "title": "Installation/set-up", "description": ""}],
        },
        "state": {"uuid": state_id, "seq": "1"},
    }
    service = attrs.get("service") or None
    control_login = attrs.get("control_login")

    if (subsystem, command) not in SUPPORTED:
        reply["options"] = _options(control_login=control_login, lines=[], service=service)
        reply["error"] = UNKNOWN_COMMAND
        return reply

    auth = authenticate(accounts, attrs)
    if auth.account is None:
        reply["options"] = _options(
            control_login=control_login,
            login_error=auth.error if auth.on_login_option else None,
            lines=[],
            service=service,
        )
        reply["error"] = auth.error
        return reply

    lines = auth.account.lines
    selected = lines
    service_error = None
    if service is not None and command != "services":
        line = _find_line(auth.account, service)
        if line is None:
            service_error = BAD_SERVICE
        else:
            selected = [line]
    reply["options"] = _options(
        control_login=control_login, lines=lines, service=service, service_error=service_error
    )
    if service_error is not None:
        reply["error"] = service_error
    else:
        reply[command] = _payload(command, selected)
    return reply


def _options(
    *,
    control_login: str | None,
    lines: list[dict[str, str]],
    service: str | None,
    login_error: str | None = None,
    service_error: str | None = None,
) -> list[dict[str, Any]]:
    """The ``options`` groups as in FIX (docs/chaos-api.md §5.1); a bad option has ``error``."""
    login_option: dict[str, Any] = {
        "name": "control_login",
        "type": "text",
        "title": "Control login (e.g. something@a)",
        "size": "60",
    }
    if control_login is not None:
        login_option["value"] = control_login
    if login_error is not None:
        login_option["error"] = login_error
    choices = [{"value": "", "title": "Select service"}]
    choices.extend({"value": line.get("ID", ""), "title": _choice_title(line)} for line in lines)
    service_option: dict[str, Any] = {
        "name": "service",
        "type": "select",
        "title": "Service identifier",
        "recheck": "true",
    }
    if service is not None:
        service_option["value"] = service
    if service_error is not None:
        service_option["error"] = service_error
    service_option["choice"] = choices
    return [
        {
            "title": "Authentication",
            "option": [
                login_option,
                {"name": "control_password", "type": "hidden", "title": "Control password"},
            ],
        },
        {"title": "Service", "option": [service_option]},
        {"title": "Service Details"},
    ]


def _choice_title(line: dict[str, str]) -> str:
    return f"{line.get('postcode', '')} {line.get('login', '')}"


def _find_line(account: SimAccount, service: str) -> dict[str, str] | None:
    """The account's line that ``service`` names: its ``ID`` or a private alias."""
    target = account.service_aliases.get(service, service)
    for line in account.lines:
        if line.get("ID") == target:
            return line
    return None


def _payload(command: str, lines: list[dict[str, str]]) -> list[Any]:
    """What the command returns for ``lines``: all fields, the quota ones, or just the IDs."""
    if command == "services":
        return [line["ID"] for line in lines if "ID" in line]
    if command == "quota":
        return [{key: line[key] for key in QUOTA_FIELDS if key in line} for line in lines]
    return list(lines)
