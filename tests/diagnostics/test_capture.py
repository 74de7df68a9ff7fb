"""Redaction of CHAOS replies: pure functions, table-driven."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from aaisp_multi_exporter.diagnostics.capture import (
    REMOVED,
    Redactor,
    capture_name,
    category_of,
    redacted_capture,
    write_private,
)
from aaisp_multi_exporter.simulator import HUGE_FLOAT, HUGE_INTEGER

SECRET = "S3NTINEL-pa55"


@pytest.mark.parametrize(
    ("key", "category"),
    [
        ("control_password", "password"),
        ("Account-Password", "password"),
        ("password", "password"),
        ("login", "login"),
        ("control_login", "login"),
        ("Control-Login", "login"),
        ("account_number", "account"),
        ("postcode", "postcode"),
        ("Post-Code", "postcode"),
        ("phone", "phone"),
        ("phone_number", "phone"),
        ("cli", "phone"),
        ("address", "address"),
        ("installation_address", "address"),
        ("town", "address"),
        ("ID", None),
        ("service", None),
        ("tx_rate", None),
        ("quota_timestamp", None),
        ("title", None),
        ("uuid", None),
    ],
)
def test_category_of(key: str, category: str | None) -> None:
    assert category_of(key) == category


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ab12@a", "login-1"),
        ("gb12@a.1 and el6@a.1", "login-1 and login-2"),
        ("XX1 1XX something4@a", "postcode-1 login-1"),
        ("SA65 9RR", "postcode-1"),
        ("sw1a1aa", "postcode-1"),
        ("call 01632 960123 or +44 1632 960123", "call phone-1 or phone-1"),
        ("01632-960-124", "phone-1"),
        (f"bad password {SECRET}!", f"bad password {REMOVED}!"),
        (f"x{SECRET}x", f"x{REMOVED}x"),
        ("a short pw here, pwned", f"a short {REMOVED} here, pwned"),
        ("pw", REMOVED),
        # Left alone: IDs, numbers, timestamps, uuids, circuit IDs, prose.
        ("12345", "12345"),
        ("18881390851534", "18881390851534"),
        ("2024-07-31 10:00:00", "2024-07-31 10:00:00"),
        ("2e9954e98-4f24-17bf-a598-525371c768e2", "2e9954e98-4f24-17bf-a598-525371c768e2"),
        ("BBEU12345678", "BBEU12345678"),
        ("Control authorisation failed", "Control authorisation failed"),
        ("Installation/set-up", "Installation/set-up"),
        # Placeholders stay as they are, so a capture of a capture is unchanged.
        ("login-7 postcode-2 phone-3 (removed)", "login-7 postcode-2 phone-3 (removed)"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert Redactor([SECRET, "pw"]).redact_text(text) == expected


def test_same_value_same_placeholder_across_a_run() -> None:
    redactor = Redactor()
    first = redactor.redact({"info": [{"ID": "1", "login": "ab12@a", "postcode": "XX1 1XX"}]})
    second = redactor.redact(
        {"quota": [{"ID": "1", "login": "AB12@A"}], "title": " xx1  1xx  ab12@a"}
    )
    assert first == {"info": [{"ID": "1", "login": "login-1", "postcode": "postcode-1"}]}
    assert second == {"quota": [{"ID": "1", "login": "login-1"}], "title": " postcode-1  login-1"}
    assert redactor.placeholder("login", "cd34@a") == "login-2"


def test_values_named_by_key_are_found_in_free_text() -> None:
    """A value that matches no shape (a login without @, an address) still goes everywhere."""
    document = {
        "options": [{"title": "Service", "choice": [{"value": "1", "title": "Flat 2 le4"}]}],
        "info": [{"ID": "1", "login": "le4", "address": "Flat 2", "house_number": "7"}],
    }
    assert Redactor().redact(document) == {
        "options": [{"title": "Service", "choice": [{"value": "1", "title": "address-1 login-1"}]}],
        "info": [
            {"ID": "1", "login": "login-1", "address": "address-1", "house_number": "address-2"}
        ],
    }


def service_option(*titles: tuple[str, str]) -> dict[str, object]:
    """The Service option of an info or quota reply, with (value, title) choices."""
    choices = [{"value": value, "title": title} for value, title in titles]
    return {"name": "service", "type": "select", "title": "Service identifier", "choice": choices}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("XX1 1XX ab12@a", "postcode-1 login-1", id="shapes-match"),
        # Issue 16: "EX1 4MP" is no UK postcode shape (M is no inward letter); the title's
        # structure names it all the same.
        pytest.param("EX1 4MP ab12@a", "postcode-1 login-1", id="postcode-off-shape"),
        pytest.param("EX1 4MP le4", "postcode-1 login-1", id="neither-shaped"),
        pytest.param("  Flat 2, 9 High St  gb12@a.1 ", "postcode-1 login-1", id="anything-first"),
        pytest.param("le4", "login-1", id="login-only"),
    ],
)
def test_service_choice_titles_are_redacted_by_structure(title: str, expected: str) -> None:
    """docs/chaos-api.md section 4: a line's choice is titled "<postcode> <login>"."""
    document = {
        "options": [
            {
                "title": "Service",
                "option": [service_option(("", "Select service"), ("12345", title))],
            }
        ]
    }
    redactor = Redactor()
    redacted = redactor.redact(document)
    assert redacted == {
        "options": [
            {
                "title": "Service",
                "option": [service_option(("", "Select service"), ("12345", expected))],
            }
        ]
    }
    # Learnt from the title: the same values anywhere else in the run are replaced too.
    *postcode, login = title.split()
    assert redactor.redact_text(f"line at {' '.join(postcode)} for {login}") == (
        f"line at {expected.rsplit(' ', 1)[0]} for login-1" if postcode else "line at  for login-1"
    )


def test_short_values_are_not_replaced_in_free_text() -> None:
    """A house number "7" is replaced where its key names it, not in every "7" elsewhere."""
    redacted = Redactor().redact({"house_number": "7", "tx_rate": "7000", "note": "line 7"})
    assert redacted == {"house_number": "address-1", "tx_rate": "7000", "note": "line 7"}


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            {"name": "control_login", "type": "text", "value": "ab12@a"},
            {"name": "control_login", "type": "text", "value": "login-1"},
        ),
        (
            {"name": "control_password", "type": "hidden", "value": SECRET},
            {"name": "control_password", "type": "hidden"},
        ),
        ({"name": "pin", "type": "password", "value": "1234"}, {"name": "pin", "type": "password"}),
        (
            {"name": "postcode", "type": "text", "value": "XX1 1XX"},
            {"name": "postcode", "type": "text", "value": "postcode-1"},
        ),
        (
            {"name": "service", "type": "select", "value": "12345"},
            {"name": "service", "type": "select", "value": "12345"},
        ),
        (
            {"name": "service", "type": "select", "value": "01632960123"},
            {"name": "service", "type": "select", "value": "phone-1"},
        ),
        (
            {"name": "control_password", "type": "hidden"},
            {"name": "control_password", "type": "hidden"},
        ),
    ],
)
def test_options_name_their_values(option: dict[str, str], expected: dict[str, str]) -> None:
    assert Redactor([SECRET]).redact({"options": [{"option": [option]}]}) == {
        "options": [{"option": [expected]}]
    }


def test_password_keys_are_removed_and_secrets_found_anywhere() -> None:
    document = {
        "request": {"control_login": "ab12@a", "control_password": "(redacted)", "seq": "1"},
        "Account-Password": {"nested": SECRET},
        "error": f"{SECRET} is wrong",
        "list": [SECRET, 1, None, True, 2.5],
    }
    assert Redactor([SECRET]).redact(document) == {
        "request": {"control_login": "login-1", "seq": "1"},
        "error": f"{REMOVED} is wrong",
        "list": [REMOVED, 1, None, True, 2.5],
    }


def test_redact_leaves_its_input_alone() -> None:
    document = {"info": [{"ID": "1", "login": "ab12@a"}]}
    Redactor().redact(document)
    assert document == {"info": [{"ID": "1", "login": "ab12@a"}]}


def test_known_values_are_recognised_before_any_reply() -> None:
    redactor = Redactor(known=[("login", "operator"), ("account", "A1234A")])
    assert redactor.redact_text("operator A1234A") == "login-1 account-1"


@pytest.mark.parametrize(
    ("body", "is_json", "expected"),
    [
        pytest.param(
            b'{"info":[{"ID":"1","login":"ab12@a","postcode":"X\\/Y"}]}',
            True,
            '{\n  "info": [\n    {\n      "ID": "1",\n      "login": "login-1",\n'
            '      "postcode": "postcode-1"\n    }\n  ]\n}\n',
            id="json",
        ),
        pytest.param(
            b"<html>Down for maintenance, mail ops@example.com</html>",
            False,
            "<html>Down for maintenance, mail login-1</html>",
            id="html",
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"ab12@a"',
            False,
            '{"info":[{"ID":"1","login":"login-1"',
            id="truncated",
        ),
        pytest.param(
            f'{{"info":[{{"ID":"1","quota_remaining":{HUGE_FLOAT}}}]}}'.encode(),
            False,
            f'{{"info":[{{"ID":"1","quota_remaining":{HUGE_FLOAT}}}]}}',
            id="float-too-large-stays-text",
        ),
        pytest.param(
            f'{{"info":[{{"ID":"1","quota_remaining":{HUGE_INTEGER}}}]}}'.encode(),
            False,
            f'{{"info":[{{"ID":"1","quota_remaining":{HUGE_INTEGER}}}]}}',
            id="integer-too-long-stays-text",
        ),
        pytest.param(b"[" * 5000 + b"]" * 5000, False, "[" * 5000 + "]" * 5000, id="deep"),
    ],
)
def test_redacted_capture(body: bytes, is_json: bool, expected: str) -> None:
    data, was_json = redacted_capture(Redactor(), body)
    assert was_json is is_json
    assert data.decode() == expected
    if is_json:
        json.loads(data)


@pytest.mark.parametrize(
    ("auth", "command", "is_json", "name"),
    [
        ("home", "broadband/info", True, "home-broadband-info.json"),
        ("reseller-2", "broadband/quota", True, "reseller-2-broadband-quota.json"),
        ("home", "broadband/quota", False, "home-broadband-quota.txt"),
    ],
)
def test_capture_name(auth: str, command: str, is_json: bool, name: str) -> None:
    assert capture_name(auth, command, json_reply=is_json) == name


def test_write_private_is_owner_only_even_over_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "home-broadband-info.json"
    path.write_text("old and longer")
    os.chmod(path, 0o644)
    write_private(path, b"{}")
    assert path.read_bytes() == b"{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_private_does_not_follow_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "home-broadband-info.json"
    link.symlink_to(target)
    with pytest.raises(OSError, match=r"."):
        write_private(link, b"{}")
    assert target.read_text() == "keep"
