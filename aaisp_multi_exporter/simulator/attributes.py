"""A request's attributes, read from every place CHAOS accepts them (docs/chaos-api.md §2).

The query string, a url-encoded or multipart form, a JSON object body and HTTP Basic auth
(username = control login, or an account number such as ``A1234A``). Names are case-insensitive
with ``-`` equal to ``_``; when an attribute is given twice the first one wins (query string,
then body, then Basic auth).
"""

from __future__ import annotations

import base64
import json
import re

from aiohttp import web

_ACCOUNT_NUMBER = re.compile(r"^[A-Za-z]\d+[A-Za-z]$")
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_XML = frozenset({"text/xml", "application/xml", "application/soap+xml"})


class NotJsonError(Exception):
    """The request asked for (or was sent in) a format the simulator does not speak."""


class BadBodyError(Exception):
    """The body could not be parsed; CHAOS's answer to this is unknown, so plain 400."""


def normalise_attribute(name: str) -> str:
    """CHAOS treats attribute names case-insensitively with ``-`` equal to ``_``."""
    return name.strip().lower().replace("-", "_")


async def read_attributes(request: web.Request) -> dict[str, str]:
    """Every attribute of ``request``, under its normalised name; the first of twins wins.

    Raises NotJsonError for an XML or SOAP body and BadBodyError for a body it cannot read.
    """
    attrs: dict[str, str] = {}

    def put(name: str, value: str) -> None:
        attrs.setdefault(normalise_attribute(name), value)

    for name, value in request.query.items():
        put(name, value)

    if request.method == "POST" and request.body_exists:
        for name, value in (await _body_attributes(request)).items():
            put(name, value)

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


async def _body_attributes(request: web.Request) -> dict[str, str]:
    """The attributes a POST body carries, in the body's order, names not yet normalised."""
    ctype = request.content_type
    found: dict[str, str] = {}
    if ctype in _FORMS:
        form = await request.post()
        for name, item in form.items():
            if isinstance(item, str):
                value = item
            elif isinstance(item, bytes | bytearray):
                value = bytes(item).decode("utf-8", "replace")
            else:  # a multipart part sent as a file upload
                value = item.file.read().decode("utf-8", "replace")
            found.setdefault(name, value)
        return found
    if ctype == "application/json":
        try:
            body = json.loads(await request.text())
        except ValueError as exc:
            raise BadBodyError("request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise BadBodyError("JSON request body must be an object")
        return {str(name): v if isinstance(v, str) else json.dumps(v) for name, v in body.items()}
    if ctype in _XML:
        raise NotJsonError
    raise BadBodyError(f"unsupported request Content-Type {ctype!r}")


def decode_basic_auth(header: str) -> tuple[str, str] | None:
    """(username, password) from a Basic ``Authorization`` header; malformed counts as absent.

    Hand-rolled because ``aiohttp.BasicAuth`` is deprecated for removal in aiohttp 4, and its
    ``decode`` reads latin-1 only where this tries UTF-8 first.
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
