"""A request's attributes: every place CHAOS reads them from, name rules, which twin wins."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import Simulator
from aaisp_multi_exporter.simulator.attributes import decode_basic_auth, normalise_attribute
from tests.simulator.support import (
    ACCOUNT,
    ACCOUNT_PASSWORD,
    CREDS,
    LOGIN,
    OTHER_LOGIN,
    PASSWORD,
    basic,
    post,
)


def multipart_form(fields: dict[str, str]) -> aiohttp.MultipartWriter:
    """A ``multipart/form-data`` body written part by part: ``FormData``'s
    ``default_to_multipart`` is newer than the lowest aiohttp the package allows."""
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in fields.items():
        writer.append(value).set_content_disposition("form-data", name=name)
    return writer


def encoded(raw: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(raw).decode()}"


# -- pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("control_login", "control_login"),
        ("Control-Login", "control_login"),
        ("CONTROL-PASSWORD", "control_password"),
        (" service ", "service"),
        ("account-number", "account_number"),
    ],
)
def test_normalise_attribute(name: str, normalised: str) -> None:
    assert normalise_attribute(name) == normalised


@pytest.mark.parametrize(
    ("header", "decoded"),
    [
        pytest.param(encoded(b"ab12@a:pw"), ("ab12@a", "pw"), id="plain"),
        pytest.param(encoded(b"ab12@a:p:w:"), ("ab12@a", "p:w:"), id="colons-in-password"),
        pytest.param(encoded(b"ab12@a:"), ("ab12@a", ""), id="empty-password"),
        pytest.param(encoded("a@b:pässwörd".encode()), ("a@b", "pässwörd"), id="utf-8"),
        pytest.param(encoded("a@b:p\xe4ss".encode("latin-1")), ("a@b", "päss"), id="latin-1"),
        pytest.param(encoded(b"a@b:pw", "basic"), ("a@b", "pw"), id="scheme-any-case"),
        pytest.param("  " + encoded(b"a@b:pw") + " ", ("a@b", "pw"), id="padded"),
        pytest.param(encoded(b"no-colon"), None, id="no-colon"),
        pytest.param(encoded(b"a@b:pw", "Bearer"), None, id="other-scheme"),
        pytest.param("Basic not*base64", None, id="not-base64"),
        pytest.param("Basic", None, id="no-token"),
        pytest.param("", None, id="absent"),
    ],
)
def test_decode_basic_auth(header: str, decoded: tuple[str, str] | None) -> None:
    assert decode_basic_auth(header) == decoded


# -- over sockets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("GET", "/broadband/info", {"params": CREDS}, id="get-query"),
        pytest.param("GET", "/broadband/info/json", {"params": CREDS}, id="get-query-suffix"),
        pytest.param("POST", "/broadband/info/json", {"data": CREDS}, id="post-form"),
        pytest.param("POST", "/broadband/info", {"data": CREDS}, id="post-form-no-suffix"),
        pytest.param("POST", "/broadband/info", {"json": CREDS}, id="post-json"),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {"data": multipart_form(CREDS)},
            id="post-multipart",
        ),
        pytest.param(
            "GET", "/broadband/info", {"headers": basic(LOGIN, PASSWORD)}, id="basic-control"
        ),
        pytest.param(
            "GET",
            "/broadband/info/json",
            {"headers": basic(ACCOUNT, ACCOUNT_PASSWORD)},
            id="basic-account",
        ),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {"data": {"account_number": ACCOUNT, "account_password": ACCOUNT_PASSWORD}},
            id="form-account",
        ),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {
                "data": {
                    "account_number": ACCOUNT,
                    "account_password": ACCOUNT_PASSWORD,
                    "control_login": LOGIN,
                }
            },
            id="form-account-with-login",
        ),
        pytest.param(
            "POST",
            "/Broadband/INFO/JSON",
            {"data": CREDS},
            id="path-case-insensitive",
        ),
    ],
)
async def test_every_request_style_works(
    sim: Simulator,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    async with session.request(method, sim.url + path, **kwargs) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert "error" not in reply
    assert len(reply["info"]) == 12
    assert all(
        value == "(redacted)" for key, value in reply["request"].items() if "password" in key
    )


async def test_basic_auth_sets_request_attributes(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(sim.url + "/broadband/quota", headers=basic(LOGIN, PASSWORD)) as resp:
        reply = await resp.json()
    assert reply["request"]["control_login"] == LOGIN
    assert reply["request"]["control_password"] == "(redacted)"
    assert sim.calls[(LOGIN, "broadband/quota", "")] == 1


@pytest.mark.parametrize(
    "names",
    [
        ("Control-Login", "CONTROL_PASSWORD", "Service"),
        ("control-login", "control-password", "SERVICE"),
        ("CONTROL_LOGIN", "Control-Password", "service"),
    ],
)
async def test_attribute_names_case_and_dash_insensitive(
    sim: Simulator, session: aiohttp.ClientSession, names: tuple[str, str, str]
) -> None:
    line_id = sim.accounts[0].lines[4]["ID"]
    login_name, password_name, service_name = names
    data = {login_name: LOGIN, password_name: PASSWORD, service_name: line_id}
    status, reply = await post(session, sim, data=data)
    assert status == 200
    assert [line["ID"] for line in reply["info"]] == [line_id]
    # The echo uses the normalised lower-case underscore names.
    assert set(reply["request"]) == {
        "control_login",
        "control_password",
        "service",
        "uuid",
        "seq",
    }


@pytest.mark.parametrize(
    ("kwargs", "winner"),
    [
        pytest.param(
            {"params": {"control_login": LOGIN}, "data": {"Control-Login": OTHER_LOGIN}},
            LOGIN,
            id="query-before-form",
        ),
        pytest.param(
            {"params": {"control_login": LOGIN}, "json": {"control_login": OTHER_LOGIN}},
            LOGIN,
            id="query-before-json",
        ),
        pytest.param(
            {"data": {"control_login": LOGIN}, "headers": basic(OTHER_LOGIN, "pw")},
            LOGIN,
            id="body-before-basic-auth",
        ),
        pytest.param(
            {"data": [("control_login", OTHER_LOGIN), ("CONTROL_LOGIN", LOGIN)]},
            OTHER_LOGIN,
            id="first-in-form",
        ),
    ],
)
async def test_first_of_twin_attributes_wins(
    sim: Simulator, session: aiohttp.ClientSession, kwargs: dict[str, Any], winner: str
) -> None:
    async with session.post(sim.url + "/broadband/info/json", **kwargs) as resp:
        reply = await resp.json()
    assert reply["request"]["control_login"] == winner


async def test_xml_request_body_is_not_spoken(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    body = f'<chaos control-login="{LOGIN}" control-password="{PASSWORD}"/>'
    headers = {"Content-Type": "text/xml"}
    async with session.post(sim.url + "/broadband/info", data=body, headers=headers) as resp:
        assert resp.status == 501


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"data": "{nope", "headers": {"Content-Type": "application/json"}},
            "request body is not valid JSON",
        ),
        ({"json": ["not", "an", "object"]}, "JSON request body must be an object"),
        (
            {"data": b"control_login", "headers": {"Content-Type": "application/octet-stream"}},
            "unsupported request Content-Type 'application/octet-stream'",
        ),
    ],
)
async def test_unreadable_bodies_are_400(
    sim: Simulator, session: aiohttp.ClientSession, kwargs: dict[str, Any], message: str
) -> None:
    async with session.post(sim.url + "/broadband/info", **kwargs) as resp:
        assert resp.status == 400
        assert await resp.text() == message
