"""What ``make soak`` changes under the exporter: its configuration at each reload, and the
faults the simulator mixes into CHAOS's answers.

Every reload writes a new ``modules.toml``: the declared ``telephony/info`` gets another help
text, its gauge another name, a gauge or an info label comes or goes; each credential set
switches between its control login and its account number (two passwords the simulator both
accepts), sometimes to a wrong password (CHAOS then refuses: probes answer ``probe_success 0``,
never an error). One reload in seven writes a configuration that must be refused, the running
one kept. Module names, their credential sets and targets never change, so every probe the
soak sends stays valid whatever configuration is in force.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

ACCOUNTS = 3
LINES = 20
FIRST_LINE = 10000
#: The credential set of each module, and the simulator account (1-based) behind each set.
AUTH_ACCOUNT = {"a": 1, "b": 2, "c": 3}
MODULE_AUTH = {"line": "a", "quota": "b", "both": "c", "phones": "c"}
#: The numbers the simulator's made-up ``telephony/info`` reply lists (Ofcom's drama range).
PHONES = [f"0163296000{i}" for i in range(1, 4)]
BROKEN_SHARE = 1 / 7


def account_lines(auth: str) -> list[str]:
    """The line IDs the simulator gives the account behind credential set ``auth``."""
    first = FIRST_LINE + (AUTH_ACCOUNT[auth] - 1) * LINES
    return [str(first + i) for i in range(LINES)]


@dataclass(frozen=True)
class Variant:
    """One configuration: its text, whether a reload of it must succeed, and what it changed."""

    text: str
    valid: bool
    note: str


def _credentials(auth: str, form: str, secrets: Path) -> str:
    """``[auths.<auth>]`` in ``form``: ``login`` (control login and password, from a file for
    set ``c``), ``number`` (account number and its password) or ``wrong`` (a wrong password)."""
    k = AUTH_ACCOUNT[auth]
    head = f"[auths.{auth}]\nmax_concurrency = {2 + k}\n"
    if form == "number":
        return (
            head
            + f'account_number = "A{1000 + k}A"\naccount_password = "sim{k}-account-password"\n'
        )
    password = f"sim{k}-password" if form == "login" else f"sim{k}-not-the-password"
    if auth == "c":
        path = secrets / f"c-{form}.secret"
        path.write_text(password + "\n", encoding="utf-8")
        return head + f'control_login = "sim{k}@a"\ncontrol_password_file = "{path}"\n'
    return head + f'control_login = "sim{k}@a"\ncontrol_password = "{password}"\n'


def _declaration(step: int, rng: random.Random) -> str:
    """``telephony/info``, different at every step: help, names, gauges and labels move."""
    info = rng.choice(["aaisp_telephony_number_info", "aaisp_telephony_line_info"])
    labels = ["name", "status"] if rng.random() < 0.5 else ["name"]
    credit = rng.choice(["aaisp_telephony_credit_gbp", "aaisp_telephony_balance_gbp"])
    text = (
        '[commands."telephony/info"]\npayload = "info"\nkey = "number"\n'
        f'info_metric = "{info}"\ninfo_labels = {json.dumps(labels)}\n'
        f'info_help = "Always 1; the number and its labels (revision {step})."\n'
        '[[commands."telephony/info".gauges]]\nfield = "credit"\n'
        f'metric = "{credit}"\nhelp = "Prepaid credit in pounds sterling (revision {step})."\n'
    )
    if rng.random() < 0.5:
        text += (
            '[[commands."telephony/info".gauges]]\nfield = "calls_today"\n'
            'metric = "aaisp_telephony_calls_today"\nhelp = "Calls today."\nparse = "count"\n'
        )
    if rng.random() < 0.3:
        text += (
            '[[commands."telephony/info".gauges]]\nfield = "minutes"\n'
            'metric = "aaisp_telephony_talk_seconds"\nhelp = "Talk time today, in seconds."\n'
            "scale = 60.0\nomit_zero = true\n"
        )
    return text


_BAD_LABELS = '[commands."telephony/info"]\npayload = "info"\nkey = "number"\n'
_BAD_LABELS += 'info_metric = "aaisp_telephony_number_info"\n'

#: Mistakes a reload must refuse, each keeping the running configuration: text added to the
#: file, or (for a declaration) the declaration replaced. The last three are issue 23's N2, N5
#: and N4: accepted before its fixes.
BROKEN: dict[str, tuple[str, str]] = {
    "invalid TOML": ("", "modules = [\n"),
    "unknown module key": ("", '[modules.extra]\ncommands = ["broadband/info"]\ncache_secs = 5\n'),
    "unknown command": ("", '[modules.extra]\ncommands = ["broadband/infos"]\n'),
    "command that changes a line": ("", '[modules.extra]\ncommands = ["broadband/kill"]\n'),
    "unknown credential set": ("", '[modules.extra]\ncommands = ["telephony/info"]\nauth = "x"\n'),
    "missing password file": (
        "",
        '[auths.d]\ncontrol_login = "sim1@a"\ncontrol_password_file = "/nonexistent/soak"\n',
    ),
    "metric without aaisp_": (
        _BAD_LABELS + '[[commands."telephony/info".gauges]]\nfield = "credit"\nmetric = "credit"\n',
        "",
    ),
    "info labels differing in case": (_BAD_LABELS + 'info_labels = ["name", "NAME"]\n', ""),
    "info label auth": (_BAD_LABELS + 'info_labels = ["auth"]\n', ""),
    "reserved key label": (_BAD_LABELS.replace('"number"', '"__name__"'), ""),
}


def variant(
    chaos_url: str, step: int, rng: random.Random, secrets: Path, broken: str | None = None
) -> Variant:
    """The configuration of reload ``step`` (0: the one the exporter starts with); ``broken``
    names a mistake of ``BROKEN`` to make (``""``: none), else one step in seven makes one."""
    forms: dict[str, str] = {}
    for auth in AUTH_ACCOUNT:
        roll = rng.random()
        forms[auth] = "wrong" if roll < 0.08 and step else "number" if roll < 0.54 else "login"
    parts = [f'[chaos]\nurl = "{chaos_url}"\n']
    parts += [_credentials(auth, form, secrets) for auth, form in forms.items()]
    if broken is None:
        broken = rng.choice(sorted(BROKEN)) if step and rng.random() < BROKEN_SHARE else ""
    declaration, extra = BROKEN.get(broken, ("", ""))
    parts.append(declaration or _declaration(step, rng))
    for name, commands in (
        ("line", ["broadband/info"]),
        ("quota", ["broadband/quota"]),
        ("both", ["broadband/info", "broadband/quota"]),
        ("phones", ["telephony/info"]),
    ):
        cache = rng.choice([0, 2, 5, 30])
        scope = rng.choice(["account", "line"]) if name == "line" else "account"
        parts.append(
            f"[modules.{name}]\ncommands = {json.dumps(commands)}\n"
            f'auth = "{MODULE_AUTH[name]}"\ntimeout_seconds = 4\nretries = {rng.randint(0, 2)}\n'
            f'cache_seconds = {cache}\nscope = "{scope}"\n'
            f"refresh_ahead = {str(rng.random() < 0.7).lower()}\n"
        )
    if broken:
        return Variant("".join(parts) + extra, False, f"broken: {broken}")
    return Variant("".join(parts), True, ", ".join(f"{a}={f}" for a, f in forms.items()))


#: The made-up ``telephony/info`` reply (docs/commands.md's illustrative shape, more fields).
TELEPHONY_REPLY = {
    "info": [
        {
            "number": PHONES[0],
            "name": "Office",
            "credit": "12.50",
            "calls_today": "7",
            "minutes": "3.5",
            "status": "active",
        },
        {
            "number": PHONES[1],
            "name": "Fax",
            "credit": "0.00",
            "calls_today": "0",
            "minutes": "0",
            "status": "suspended",
        },
        {
            "number": PHONES[2],
            "name": 'Caf\u00e9 "quoted"\nline',
            "credit": "-1.25",
            "calls_today": "x",
            "status": "active",
        },
    ]
}


def fault_mix() -> list[dict[str, object]]:
    """Every fault the simulator has, each on a share of CHAOS requests (first match wins, so
    about a third of all calls are hit); then the declared command's reply."""
    shares: list[dict[str, object]] = [
        {"kind": "latency", "latency_seconds": 0.8, "probability": 0.04},
        {"kind": "latency", "latency_seconds": 5.0, "probability": 0.005},  # past the deadline
        {"kind": "http_status", "status": 500, "probability": 0.02},
        {"kind": "http_status", "status": 503, "retry_after": "1", "probability": 0.02},
        {"kind": "http_status", "status": 429, "retry_after": "1", "probability": 0.02},
        {"kind": "http_status", "status": 429, "retry_after": "3600", "probability": 0.005},
        {"kind": "html", "probability": 0.02},
        {"kind": "truncated", "probability": 0.02},
        {"kind": "drop", "probability": 0.02},
        {"kind": "error", "error_text": "Login locked", "probability": 0.01},
        {"kind": "error", "error_text": "Unknown command", "probability": 0.005},
        {"kind": "error", "error_text": "x" * 5000, "reply_status": 500, "probability": 0.005},
        {"kind": "wrong_shape", "probability": 0.01},
        {"kind": "lone_object", "probability": 0.02},
        {"kind": "quota_without_unlimited", "probability": 0.05},
        {"kind": "huge_number", "probability": 0.01},
        {"kind": "huge_number", "number": "1e400", "as_string": True, "probability": 0.005},
        {"kind": "deep_nesting", "probability": 0.005},
        {"kind": "entries_without_id", "entries": 20_000, "probability": 0.005},
        {
            "kind": "raw",
            "raw": '{"info":[{"ID":"\xed\xa0\x80","login":"\xe9"}]}',
            "probability": 0.005,
        },
        {"kind": "body", "body": {"info": {"ID": {"nested": [1, 2]}}}, "probability": 0.005},
        {"kind": "body", "body": [None, "text", 1.5], "probability": 0.005},
    ]
    return [*shares, {"kind": "body", "command": "telephony/info", "body": TELEPHONY_REPLY}]


def outage_mix(rng: random.Random) -> list[dict[str, object]]:
    """A few seconds when one account's every call fails the same way (failure sharing)."""
    k = rng.randint(1, ACCOUNTS)
    kind: dict[str, object] = rng.choice(
        [
            {"kind": "http_status", "status": 503, "retry_after": "2"},
            {"kind": "drop"},
            {"kind": "error", "error_text": "Login locked"},
            {"kind": "latency", "latency_seconds": 6.0},
        ]
    )
    logins = (f"sim{k}@a", f"A{1000 + k}A")  # either form of the credential set
    return [*(kind | {"login": login} for login in logins), *fault_mix()]
