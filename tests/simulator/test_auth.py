"""Who a request is: the three authentication errors, where CHAOS shows them, what they hide."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import (
    ACCOUNT_AUTH_FAILED,
    BAD_CONTROL_LOGIN,
    CONTROL_AUTH_FAILED,
    SimAccount,
    Simulator,
)
from aaisp_multi_exporter.simulator.auth import authenticate
from tests.simulator.support import (
    ACCOUNT,
    ACCOUNT_PASSWORD,
    ENVELOPE,
    LOGIN,
    OTHER_LOGIN,
    OTHER_PASSWORD,
    PASSWORD,
    basic,
    make_accounts,
    option,
)

#: An account that has an account number but no account password set: it cannot log in by number.
NO_ACCOUNT_PASSWORD = SimAccount("ef56@a", "pw-3", [], account_number="A5678A")


@pytest.mark.parametrize(
    ("attrs", "who", "error", "on_login_option"),
    [
        pytest.param(
            {"control_login": LOGIN, "control_password": PASSWORD},
            LOGIN,
            None,
            False,
            id="control-login",
        ),
        pytest.param(
            {"control_login": LOGIN.upper(), "control_password": PASSWORD},
            LOGIN,
            None,
            False,
            id="login-any-case",
        ),
        pytest.param(
            {"control_login": OTHER_LOGIN, "control_password": OTHER_PASSWORD},
            OTHER_LOGIN,
            None,
            False,
            id="second-account",
        ),
        pytest.param(
            {"control_login": LOGIN, "control_password": PASSWORD.upper()},
            None,
            CONTROL_AUTH_FAILED,
            True,
            id="password-exact-case",
        ),
        pytest.param(
            {"account_number": ACCOUNT.lower(), "account_password": ACCOUNT_PASSWORD},
            LOGIN,
            None,
            False,
            id="account-number-any-case",
        ),
        pytest.param(
            {
                "account_number": ACCOUNT,
                "account_password": ACCOUNT_PASSWORD,
                "control_login": LOGIN.upper(),
            },
            LOGIN,
            None,
            False,
            id="account-with-own-login",
        ),
        pytest.param(
            {
                "account_number": ACCOUNT,
                "account_password": ACCOUNT_PASSWORD,
                "control_login": "no-at-sign",
            },
            None,
            BAD_CONTROL_LOGIN,
            True,
            id="account-with-malformed-login",
        ),
        pytest.param(
            {"account_number": ACCOUNT, "control_login": LOGIN, "control_password": PASSWORD},
            None,
            ACCOUNT_AUTH_FAILED,
            False,
            id="account-number-needs-account-password",
        ),
        pytest.param(
            {"account_number": "A5678A", "account_password": ""},
            None,
            ACCOUNT_AUTH_FAILED,
            False,
            id="account-without-password-set",
        ),
        pytest.param({"control_password": PASSWORD}, None, BAD_CONTROL_LOGIN, True, id="no-login"),
        pytest.param(
            {"control_login": "a@b@c", "control_password": PASSWORD},
            None,
            BAD_CONTROL_LOGIN,
            True,
            id="two-at-signs",
        ),
    ],
)
def test_authenticate(
    attrs: dict[str, str], who: str | None, error: str | None, on_login_option: bool
) -> None:
    auth = authenticate([*make_accounts(), NO_ACCOUNT_PASSWORD], attrs)
    assert (auth.account.control_login if auth.account else None) == who
    assert auth.error == error
    assert auth.on_login_option is on_login_option


@pytest.mark.parametrize(
    ("kwargs", "error", "on_login_option"),
    [
        pytest.param(
            {"data": {"control_login": LOGIN, "control_password": "wrong"}},
            CONTROL_AUTH_FAILED,
            True,
            id="wrong-password",
        ),
        pytest.param(
            {"data": {"control_login": "zz99@a", "control_password": PASSWORD}},
            CONTROL_AUTH_FAILED,
            True,
            id="unknown-login",
        ),
        pytest.param(
            {"data": {"control_login": OTHER_LOGIN, "control_password": PASSWORD}},
            CONTROL_AUTH_FAILED,
            True,
            id="someone-elses-password",
        ),
        pytest.param(
            {"data": {"control_login": "nobody", "control_password": PASSWORD}},
            BAD_CONTROL_LOGIN,
            True,
            id="malformed-login",
        ),
        pytest.param({"data": {}}, BAD_CONTROL_LOGIN, True, id="no-credentials"),
        pytest.param(
            {"data": {"account_number": ACCOUNT, "account_password": "wrong"}},
            ACCOUNT_AUTH_FAILED,
            False,
            id="wrong-account-password",
        ),
        pytest.param(
            {"data": {"account_number": "A9999A", "account_password": ACCOUNT_PASSWORD}},
            ACCOUNT_AUTH_FAILED,
            False,
            id="unknown-account",
        ),
        pytest.param(
            {"headers": basic(ACCOUNT, "wrong")},
            ACCOUNT_AUTH_FAILED,
            False,
            id="basic-wrong-account",
        ),
        pytest.param(
            {"headers": basic(LOGIN, "wrong")}, CONTROL_AUTH_FAILED, True, id="basic-wrong-control"
        ),
        pytest.param(
            {
                "data": {
                    "account_number": ACCOUNT,
                    "account_password": ACCOUNT_PASSWORD,
                    "control_login": OTHER_LOGIN,
                }
            },
            CONTROL_AUTH_FAILED,
            True,
            id="account-with-foreign-login",
        ),
    ],
)
async def test_auth_errors_are_http_200_envelopes(
    sim: Simulator,
    session: aiohttp.ClientSession,
    kwargs: dict[str, Any],
    error: str,
    on_login_option: bool,
) -> None:
    async with session.post(sim.url + "/broadband/info/json", **kwargs) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert list(reply) == [*ENVELOPE, "error"]
    assert reply["error"] == error
    assert "info" not in reply
    assert option(reply, "control_login").get("error") == (error if on_login_option else None)
    # No lines leak to a caller that failed to authenticate.
    assert option(reply, "service")["choice"] == [{"value": "", "title": "Select service"}]
