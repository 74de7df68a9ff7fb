"""What a fault sends instead of the real reply (each kind is documented on ``model.Fault``).

A request's fault acts at one of four points, in this order:

* ``wait_out``: ``latency`` and ``gate`` hold the answer back, then let it through unchanged.
* ``front_end_failure``: ``http_status``, ``html`` and ``drop`` are the web server in front of
  CHAOS failing, so they come before the output format or the body is checked.
* ``substitute_body``: ``body``, ``raw`` and ``replay`` send given bytes whatever the
  credentials.
* ``altered_reply``: the rest change the reply CHAOS would have sent; the payload reshapers
  (``lone_object`` ... ``huge_value``) leave an error reply alone. ``huge_reply`` sends a
  ``huge_value`` reply a piece at a time.
"""

from __future__ import annotations

import asyncio
import http
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from .envelope import ENVELOPE_KEYS, dump_json, json_response
from .model import Fault, FaultKind

FRONT_END_KINDS: frozenset[FaultKind] = frozenset({"http_status", "html", "drop"})
SUBSTITUTE_KINDS: frozenset[FaultKind] = frozenset({"body", "raw", "replay"})

#: Stands in for a payload or value that ``json.dumps`` cannot write (too deep, too long a
#: number); the dumped text has it replaced by the raw bytes.
_RAW_MARKER = "@@aaisp-sim-raw@@"
_RAW_TOKEN = json.dumps(_RAW_MARKER).encode()
#: What ``entries_without_id`` appends: a small entry that carries no ``ID``.
_ENTRY_WITHOUT_ID = b'{"quota_remaining":"0"}'

_MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Down for maintenance</title></head>"
    "<body><h1>Down for maintenance</h1>"
    "<p>The control systems are being updated. Please try again later.</p></body></html>\n"
)


async def wait_out(fault: Fault | None) -> Fault | None:
    """Serve a ``latency`` or ``gate`` fault's wait; the fault still to apply, if any."""
    if fault is not None and fault.kind == "latency":
        await asyncio.sleep(fault.latency_seconds)
        return None
    if fault is not None and fault.kind == "gate" and fault.gate is not None:
        await fault.gate.wait()
        return None
    return fault


def front_end_failure(request: web.Request, fault: Fault) -> web.Response:
    """An HTTP error page, a maintenance page, or a hang-up (``FRONT_END_KINDS``)."""
    if fault.kind == "drop":
        # Hang up before a single byte goes out; aiohttp then fails to write the response
        # below with a ConnectionError, which it treats as a client disconnect (no log spam).
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)
    if fault.kind == "html":
        return web.Response(text=_MAINTENANCE_PAGE, content_type="text/html")
    try:
        reason = http.HTTPStatus(fault.status).phrase
    except ValueError:
        reason = "Error"
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    page = (
        f"<html><head><title>{fault.status} {reason}</title></head>"
        f"<body><h1>{fault.status} {reason}</h1></body></html>\n"
    )
    return web.Response(status=fault.status, text=page, content_type="text/html", headers=headers)


async def substitute_body(fault: Fault) -> web.Response:
    """The fault's JSON value, its raw bytes, or its replay file's bytes
    (``SUBSTITUTE_KINDS``), with its ``reply_status``."""
    if fault.kind == "body":
        return json_response(fault.body, status=fault.reply_status)
    if fault.kind == "raw":
        return web.Response(
            body=fault.raw, status=fault.reply_status, headers={"Content-Type": fault.content_type}
        )
    return await _replay(fault)


async def _replay(fault: Fault) -> web.Response:
    """The replay file's bytes as they are, so escapes and key order stay the capture's."""
    assert fault.path is not None  # checked by Fault
    try:
        body = await asyncio.to_thread(Path(fault.path).read_bytes)
    except OSError as exc:
        return web.Response(status=500, text=f"simulator cannot read replay file: {exc}")
    return web.Response(body=body, status=fault.reply_status, content_type="application/json")


def altered_reply(reply: dict[str, Any], command: str, fault: Fault) -> web.Response:
    """``reply`` (as CHAOS would send it) spoiled as ``fault`` asks; it may be changed in place."""
    if fault.kind == "error":
        for key in [key for key in reply if key not in ENVELOPE_KEYS]:
            del reply[key]
        reply["error"] = fault.error_text
        return json_response(reply, status=fault.reply_status)
    if fault.kind == "wrong_shape":
        reply.pop("error", None)
        reply[command] = "oops"
        return json_response(reply)
    if fault.kind == "truncated":
        body = dump_json(reply)
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    return web.Response(body=reshaped_reply(reply, command, fault), content_type="application/json")


def reshaped_reply(reply: dict[str, Any], command: str, fault: Fault) -> bytes:
    """The reply's bytes with its payload reshaped as a payload fault asks.

    An error reply, or one with no payload, is sent unchanged. The line dicts are the
    account's own, so they are copied before any is changed.
    """
    payload = reply.get(command)
    if "error" in reply or not isinstance(payload, list):
        return dump_json(reply)
    if fault.kind == "lone_object":
        if payload:
            reply[command] = payload[0]
        return dump_json(reply)
    if fault.kind == "quota_without_unlimited":
        reply[command] = [entry for entry in payload if _has_monthly_quota(entry)]
        return dump_json(reply)
    if fault.kind == "huge_number":
        reply[command] = [
            {**entry, fault.line_field: _RAW_MARKER} if isinstance(entry, dict) else entry
            for entry in payload
        ]
        number = fault.number.encode()
        return dump_json(reply).replace(
            _RAW_TOKEN, b'"' + number + b'"' if fault.as_string else number
        )
    if fault.kind == "huge_value":
        return _with_huge_marker(reply, command, fault).replace(_RAW_TOKEN, huge_value(fault))
    if fault.kind == "deep_nesting":
        raw = b"[" * fault.depth + b"]" * fault.depth
    elif fault.kind == "entries_without_id":
        parts = [dump_json(payload)[1:-1]] if payload else []
        parts.extend([_ENTRY_WITHOUT_ID] * fault.entries)
        raw = b"[" + b",".join(parts) + b"]"
    else:
        raise ValueError(f"{fault.kind} does not reshape a payload")
    reply[command] = _RAW_MARKER
    return dump_json(reply).replace(_RAW_TOKEN, raw)


def _with_huge_marker(reply: dict[str, Any], command: str, fault: Fault) -> bytes:
    """The reply's bytes with the raw marker where a ``huge_value`` fault's value goes."""
    payload = reply[command]
    if fault.in_entry and payload and isinstance(payload[0], dict):
        reply[command] = [{**payload[0], "huge": _RAW_MARKER}, *payload[1:]]
    else:
        reply["huge"] = _RAW_MARKER
    return dump_json(reply)


def _huge_parts(fault: Fault) -> tuple[bytes, bytes, int, bytes]:
    """A ``huge_value`` fault's value as ``opening + unit * repeats + closing``."""
    deep = fault.nesting
    if fault.shape == "string":
        return b"[" * deep + b'"', b"x", fault.elements, b'"' + b"]" * deep
    element = b"1" if fault.shape == "numbers" else b"{}"
    return b"[" * (deep + 1), element + b",", fault.elements - 1, element + b"]" * (deep + 1)


def huge_value(fault: Fault) -> bytes:
    """A ``huge_value`` fault's value, whole (the simulator sends it a piece at a time)."""
    opening, unit, repeats, closing = _huge_parts(fault)
    return opening + unit * repeats + closing


async def huge_reply(
    request: web.Request, reply: dict[str, Any], command: str, fault: Fault
) -> web.StreamResponse:
    """A ``huge_value`` reply, written a megabyte at a time: 60 MB built whole would hold the
    simulator's loop (and a test's, which shares it) for a third of a second."""
    payload = reply.get(command)
    if "error" in reply or not isinstance(payload, list):
        return json_response(reply)
    head, tail = _with_huge_marker(reply, command, fault).split(_RAW_TOKEN)
    opening, unit, repeats, closing = _huge_parts(fault)
    per_piece = max(1, 1024 * 1024 // len(unit))
    pieces, rest = divmod(repeats, per_piece)
    response = web.StreamResponse()
    response.content_type = "application/json"
    response.content_length = len(head + opening + closing + tail) + len(unit) * repeats
    await response.prepare(request)
    await response.write(head + opening)
    piece = unit * per_piece
    for _ in range(pieces):
        await response.write(piece)
        await asyncio.sleep(0)
    await response.write(unit * rest + closing + tail)
    await response.write_eof()
    return response


def _has_monthly_quota(entry: object) -> bool:
    """False for a line with no monthly quota: ``quota_monthly`` absent or ``"0"``."""
    if not isinstance(entry, dict):
        return True
    monthly = entry.get("quota_monthly")
    return monthly is not None and str(monthly).strip() not in ("", "0")
