"""Who a request is: CHAOS's three authentication errors and when each is given.

docs/chaos-api.md §7 has the texts and their sources.

An account number with its password may stand alone, or come with the control login that owns
it; otherwise a well-formed control login and its password are needed. Logins and account
numbers compare case-insensitively, passwords exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import SimAccount

CONTROL_AUTH_FAILED = "Control authorisation failed"
ACCOUNT_AUTH_FAILED = "Account authorisation failed"
BAD_CONTROL_LOGIN = "Bad control-login"

_CONTROL_LOGIN = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class Authentication:
    """The account a request may see, or the error CHAOS gives instead.

    ``on_login_option``: the error also goes on the ``control_login`` option of the envelope,
    as CHAOS does for the errors that are about the control login.
    """

    account: SimAccount | None
    error: str | None = None
    on_login_option: bool = False


def authenticate(accounts: list[SimAccount], attrs: dict[str, str]) -> Authentication:
    """The account ``attrs`` (normalised request attributes) authenticate as, or the error."""
    login = attrs.get("control_login")
    number = attrs.get("account_number")
    if number is not None:
        account = next(
            (
                acc
                for acc in accounts
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
            return Authentication(None, ACCOUNT_AUTH_FAILED)
        if login is None:
            return Authentication(account)
        if not _CONTROL_LOGIN.match(login):
            return Authentication(None, BAD_CONTROL_LOGIN, on_login_option=True)
        if login.casefold() != account.control_login.casefold():
            return Authentication(None, CONTROL_AUTH_FAILED, on_login_option=True)
        return Authentication(account)
    if login is None or not _CONTROL_LOGIN.match(login):
        return Authentication(None, BAD_CONTROL_LOGIN, on_login_option=True)
    account = next(
        (acc for acc in accounts if acc.control_login.casefold() == login.casefold()), None
    )
    if account is None or attrs.get("control_password") != account.control_password:
        return Authentication(None, CONTROL_AUTH_FAILED, on_login_option=True)
    return Authentication(account)
