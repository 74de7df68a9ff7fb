"""The CHAOS v2 look-alike HTTP server (aiohttp), faithful to chaos-api.md, quirks included.

Limitation: the simulator speaks JSON only. A ``/xml`` or ``/soap`` suffix, or a ``text/xml``
(SOAP) request body, which CHAOS would answer in XML, gets HTTP 501 "simulator speaks JSON only".

What it reproduces (chaos-api.md §2, §4, §5, §7, §8):

* ``/{subsystem}/{command}`` and ``/{subsystem}/{command}/json``, GET and POST; attributes from
  the query string, url-encoded or multipart forms, a JSON object body and HTTP Basic auth
  (username = control login, or an account number such as ``A1234A``). Attribute names are
  case-insensitive with ``-`` equal to ``_``; when an attribute is given twice the first one
  wins (query string, then body, then Basic auth).
* ``broadband/info``, ``broadband/quota`` and ``broadband/services``; anything else is the
  envelope with ``"error": "Unknown command"`` (checked before authentication).
* The full envelope (``subsystem``, ``command``, ``request`` with passwords ``(redacted)``,
  ``prices``, ``state``, ``options`` with the Service choices, then ``error`` or the payload),
  every value a string, ``/`` escaped as ``\\/``, ``Content-Type: application/json``.
* The three authentication errors, with HTTP 200 and no payload.

Faults (``model.Fault``) make it misbehave on purpose: slow, HTTP errors, HTML, cut or dropped
replies, any ``error`` text, a replayed file, and odd or hostile payloads (a lone object,
``quota[]`` without unlimited lines, deep nesting, huge numbers, many entries without ``ID``).

Every request that reaches a CHAOS route is counted in ``Simulator.calls`` under
``(login, "subsystem/command", service)``, where ``login`` is the account number if one was
given, else the control login, else ``""``; subsystem and command are lower-cased.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import http
import json
import random
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from .model import FAULT_KINDS, Fault, SimAccount

CONTROL_AUTH_FAILED = "Control authorisation failed"
ACCOUNT_AUTH_FAILED = "Account authorisation failed"
BAD_CONTROL_LOGIN = "Bad control-login"
UNKNOWN_COMMAND = "Unknown command"
# Assumption: the real text for an unknown or not-owned service is not public
# (chaos-api.md §7, §12 question 2); this wording is the simulator's own.
BAD_SERVICE = "Bad service"
REDACTED = "(redacted)"
JSON_ONLY = "simulator speaks JSON only"

SUPPORTED = frozenset({("broadband", "info"), ("broadband", "quota"), ("broadband", "services")})
QUOTA_FIELDS = ("ID", "quota_monthly", "quota_remaining", "quota_timestamp")
_ENVELOPE_KEYS = frozenset({"subsystem", "command", "request", "prices", "state", "options"})

_CONTROL_LOGIN = re.compile(r"^[^@\s]+@[^@\s]+$")
_ACCOUNT_NUMBER = re.compile(r"^[A-Za-z]\d+[A-Za-z]$")
_ADMIN = "_sim"
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


class _NotJsonError(Exception):
    """The request asked for (or was sent in) a format the simulator does not speak."""


class _BadBodyError(Exception):
    """The body could not be parsed; CHAOS's answer to this is unknown, so plain 400."""


def normalise_attribute(name: str) -> str:
    """CHAOS treats attribute names case-insensitively with ``-`` equal to ``_``."""
    return name.strip().lower().replace("-", "_")


async def read_attributes(request: web.Request) -> dict[str, str]:
    """Collect the request attributes from every place CHAOS accepts them (chaos-api.md §2)."""
    attrs: dict[str, str] = {}

    def put(name: str, value: str) -> None:
        attrs.setdefault(normalise_attribute(name), value)

    for name, value in request.query.items():
        put(name, value)

    if request.method == "POST" and request.body_exists:
        ctype = request.content_type
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, item in form.items():
                if isinstance(item, str):
                    put(name, item)
                elif isinstance(item, bytes | bytearray):
                    put(name, bytes(item).decode("utf-8", "replace"))
                else:  # a multipart part sent as a file upload
                    put(name, item.file.read().decode("utf-8", "replace"))
        elif ctype == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError as exc:
                raise _BadBodyError("request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise _BadBodyError("JSON request body must be an object")
            for name, value in body.items():
                put(str(name), value if isinstance(value, str) else json.dumps(value))
        elif ctype in ("text/xml", "application/xml", "application/soap+xml"):
            raise _NotJsonError
        else:
            raise _BadBodyError(f"unsupported request Content-Type {ctype!r}")

    basic = decode_basic_auth(request.headers.get("Authorization", ""))
    if basic is not None:
        login, password = basic
        if _ACCOUNT_NUMBER.match(login):
            put("account_number", login)
            put("account_password", password)
        else:
            put("control_login", login)
            put("control_password", password)
    return attrs


def decode_basic_auth(header: str) -> tuple[str, str] | None:
    """(username, password) from a Basic ``Authorization`` header; malformed counts as absent.

    Hand-rolled because ``aiohttp.BasicAuth`` is deprecated for removal in aiohttp 4.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    login, sep, password = text.partition(":")
    return (login, password) if sep else None


def dump_json(payload: object) -> bytes:
    """Serialise like CHAOS: compact, with ``/`` escaped as ``\\/`` (FIX samples)."""
    # "/" only ever occurs inside JSON strings, so a textual replace is exact.
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def json_response(payload: object) -> web.Response:
    """A CHAOS-style JSON reply; CHAOS answers errors with HTTP 200 too (chaos-api.md §7)."""
    return web.Response(body=dump_json(payload), content_type="application/json")


def _choice_title(line: dict[str, str]) -> str:
    return f"{line.get('postcode', '')} {line.get('login', '')}"


def _options(
    *,
    control_login: str | None,
    login_error: str | None,
    lines: list[dict[str, str]],
    service: str | None,
    service_error: str | None,
) -> list[dict[str, Any]]:
    """The ``options`` groups as in FIX (chaos-api.md §5.1); the bad option carries ``error``."""
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


def _find_line(account: SimAccount, service: str) -> dict[str, str] | None:
    """The account's line that ``service`` names: its ``ID`` or a private alias."""
    target = account.service_aliases.get(service, service)
    for line in account.lines:
        if line.get("ID") == target:
            return line
    return None


def _payload(command: str, lines: list[dict[str, str]]) -> list[Any]:
    if command == "services":
        return [line["ID"] for line in lines if "ID" in line]
    if command == "quota":
        return [{key: line[key] for key in QUOTA_FIELDS if key in line} for line in lines]
    return list(lines)


def _has_monthly_quota(entry: object) -> bool:
    """False for a line with no monthly quota: ``quota_monthly`` absent or ``"0"``."""
    if not isinstance(entry, dict):
        return True
    monthly = entry.get("quota_monthly")
    return monthly is not None and str(monthly).strip() not in ("", "0")


def reshaped_reply(reply: dict[str, Any], command: str, fault: Fault) -> bytes:
    """The reply's bytes with its payload reshaped as a payload fault asks (see ``Fault``).

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


def fault_from_json(body: object) -> Fault:
    """Build a Fault from the admin endpoint's JSON, naming the problem on failure."""
    if not isinstance(body, dict):
        raise ValueError("fault must be a JSON object")
    known = {f.name for f in dataclasses.fields(Fault)}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of: {', '.join(FAULT_KINDS)}")
    try:
        return Fault(**body)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


class Simulator:
    """A CHAOS v2 look-alike with fault injection and call counting, for tests and benchmarks.

    Everything is read from ``accounts`` on each request (O(lines) per reply, no caching), so
    tests may mutate accounts, lines and passwords between calls and see the effect at once.
    """

    def __init__(self, accounts: list[SimAccount], *, seed: int = 0) -> None:
        self.accounts = accounts
        self.calls: collections.Counter[tuple[str, str, str]] = collections.Counter()
        #: CHAOS requests being answered now, and the most at once since the last reset: how
        #: tests see the exporter's per-credential-set concurrency limit from the outside.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)  # noqa: S311 - repeatable faults, not security
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """A fresh application bound to this simulator (also usable with ``aiohttp_client``)."""
        app = web.Application()
        # Admin routes first and for every method they serve, so the catch-all CHAOS route
        # never sees (or counts) them.
        app.router.add_get(f"/{_ADMIN}/stats", self._admin_stats)
        app.router.add_post(f"/{_ADMIN}/reset", self._admin_reset)
        app.router.add_get(f"/{_ADMIN}/faults", self._admin_list_faults)
        app.router.add_post(f"/{_ADMIN}/faults", self._admin_add_fault)
        app.router.add_delete(f"/{_ADMIN}/faults", self._admin_clear_faults)
        for path in ("/{subsystem}/{command}", "/{subsystem}/{command}/{format}"):
            app.router.add_get(path, self._chaos)
            app.router.add_post(path, self._chaos)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        # No access log (benchmarks send thousands of requests); a short shutdown grace so a
        # test that leaves a long latency fault in flight does not stall its teardown.
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self._url = str(URL.build(scheme="http", host=host, port=bound_port))
        return self._url

    async def stop(self) -> None:
        """Close the listener and any open connections; safe to call twice."""
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; only while started."""
        if self._url is None:
            raise RuntimeError("simulator not started")
        return self._url

    # -- faults and counters -----------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; the first matching one (insertion order) wins for each request."""
        self._faults.append(dataclasses.replace(fault))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Copies of the active faults, with their remaining counts."""
        return [dataclasses.replace(fault) for fault in self._faults]

    @property
    def total_calls(self) -> int:
        """Requests that reached a CHAOS route, faulted or not."""
        return self.calls.total()

    def reset_calls(self) -> None:
        """Zero the call counters."""
        self.calls.clear()
        self.peak_in_flight = self.in_flight

    def _take_fault(self, attrs: dict[str, str], command: str) -> Fault | None:
        """The fault for this request, if any, consuming one of its count."""
        who = {
            value.casefold()
            for value in (attrs.get("control_login"), attrs.get("account_number"))
            if value is not None
        }
        for fault in self._faults:
            if fault.login is not None and fault.login.casefold() not in who:
                continue
            if not fault.matches_command(command):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    # -- CHAOS -------------------------------------------------------------------------------

    def _authenticate(self, attrs: dict[str, str]) -> tuple[SimAccount | None, str | None, bool]:
        """(account, error, whether the control_login option carries the error)."""
        login = attrs.get("control_login")
        number = attrs.get("account_number")
        if number is not None:
            account = next(
                (
                    acc
                    for acc in self.accounts
                    if acc.account_number is not None
                    and acc.account_number.casefold() == number.casefold()
                ),
                None,
            )
            if (
                account is None
                or account.account_password is None
                or attrs.get("account_password") != account.account_password
            ):
                return None, ACCOUNT_AUTH_FAILED, False
            if login is None:
                return account, None, False
            if not _CONTROL_LOGIN.match(login):
                return None, BAD_CONTROL_LOGIN, True
            if login.casefold() != account.control_login.casefold():
                return None, CONTROL_AUTH_FAILED, True
            return account, None, False
        if login is None or not _CONTROL_LOGIN.match(login):
            return None, BAD_CONTROL_LOGIN, True
        account = next(
            (acc for acc in self.accounts if acc.control_login.casefold() == login.casefold()),
            None,
        )
        if account is None or attrs.get("control_password") != account.control_password:
            return None, CONTROL_AUTH_FAILED, True
        return account, None, False

    def build_reply(self, subsystem: str, command: str, attrs: dict[str, str]) -> dict[str, Any]:
        """The JSON object CHAOS would send for this request (chaos-api.md §4, §5, §7)."""
        state_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
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
            reply["options"] = _options(
                control_login=control_login,
                login_error=None,
                lines=[],
                service=service,
                service_error=None,
            )
            reply["error"] = UNKNOWN_COMMAND
            return reply

        account, auth_error, on_login = self._authenticate(attrs)
        if account is None:
            reply["options"] = _options(
                control_login=control_login,
                login_error=auth_error if on_login else None,
                lines=[],
                service=service,
                service_error=None,
            )
            reply["error"] = auth_error
            return reply

        lines = account.lines
        selected = lines
        service_error = None
        if service is not None and command != "services":
            line = _find_line(account, service)
            if line is None:
                service_error = BAD_SERVICE
            else:
                selected = [line]
        reply["options"] = _options(
            control_login=control_login,
            login_error=None,
            lines=lines,
            service=service,
            service_error=service_error,
        )
        if service_error is not None:
            reply["error"] = service_error
        else:
            reply[command] = _payload(command, selected)
        return reply

    async def _chaos(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        subsystem = request.match_info["subsystem"].lower()
        command = request.match_info["command"].lower()
        if subsystem == _ADMIN:
            raise web.HTTPNotFound
        fmt = request.match_info.get("format", "json").lower()
        problem: Exception | None = None
        try:
            attrs = await read_attributes(request)
        except (_NotJsonError, _BadBodyError) as exc:
            attrs, problem = {}, exc
        login = attrs.get("account_number") or attrs.get("control_login") or ""
        path = f"{subsystem}/{command}"
        self.calls[(login, path, attrs.get("service", ""))] += 1

        fault = self._take_fault(attrs, path)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.latency_seconds)
            fault = None
        elif fault is not None and fault.kind == "gate" and fault.gate is not None:
            await fault.gate.wait()
            fault = None
        if fault is not None and fault.kind in ("http_status", "html", "drop"):
            return self._fault_response(request, fault)

        if fmt in ("xml", "soap") or isinstance(problem, _NotJsonError):
            return web.Response(status=501, text=JSON_ONLY)
        if fmt != "json":
            raise web.HTTPNotFound(text=f"unknown output format {fmt!r}")
        if problem is not None:
            return web.Response(status=400, text=str(problem))

        if fault is not None and fault.kind == "body":
            return json_response(fault.body)
        if fault is not None and fault.kind == "replay":
            return await _replay(fault)
        reply = self.build_reply(subsystem, command, attrs)
        if fault is None:
            return json_response(reply)
        if fault.kind == "error":
            payload_names = [key for key in reply if key not in _ENVELOPE_KEYS]
            for key in payload_names:
                del reply[key]
            reply["error"] = fault.error_text
            return json_response(reply)
        if fault.kind == "wrong_shape":
            reply.pop("error", None)
            reply[command] = "oops"
            return json_response(reply)
        if fault.kind == "truncated":
            body = dump_json(reply)
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        return web.Response(
            body=reshaped_reply(reply, command, fault), content_type="application/json"
        )

    def _fault_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
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
        return web.Response(
            status=fault.status, text=page, content_type="text/html", headers=headers
        )

    # -- admin (not counted) -----------------------------------------------------------------

    async def _admin_stats(self, request: web.Request) -> web.Response:
        calls = [
            {"login": login, "command": command, "service": service, "count": count}
            for (login, command, service), count in sorted(self.calls.items())
        ]
        return web.json_response({"total_calls": self.total_calls, "calls": calls})

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset_calls()
        return web.json_response({"total_calls": 0})

    async def _admin_list_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": [dataclasses.asdict(f) for f in self._faults]})

    async def _admin_add_fault(self, request: web.Request) -> web.Response:
        try:
            fault = fault_from_json(json.loads(await request.text()))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.add_fault(fault)
        return web.json_response({"fault": dataclasses.asdict(fault)}, status=201)

    async def _admin_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"faults": []})


async def _replay(fault: Fault) -> web.Response:
    """The replay file's bytes as they are, so escapes and key order stay the capture's."""
    assert fault.path is not None  # checked by Fault
    try:
        body = await asyncio.to_thread(Path(fault.path).read_bytes)
    except OSError as exc:
        return web.Response(status=500, text=f"simulator cannot read replay file: {exc}")
    return web.Response(body=body, content_type="application/json")
