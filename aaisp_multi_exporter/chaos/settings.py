"""A service's adjustable settings, as the manual's ``info`` replies list them in ``options``.

Each group of ``options`` holds ``option[]`` entries with ``name``, ``type`` and ``value`` (or
``checked`` for a checkbox) (docs/chaos-api.md section 4). A declaration with
``settings = true`` exports each by its own type, with no declaration per field (SPEC 6b).
No public reply shows a service's settings: the tests use an illustrative fixture.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from aaisp_multi_exporter.chaos.parsers import parse_bool, parse_number
from aaisp_multi_exporter.chaos.text import clean_text
from aaisp_multi_exporter.config import normalise_field

#: Settings exported a probe; the rest are counted in a note.
MAX_SETTINGS = 100
#: A setting's value is cut to this many characters (noted).
MAX_VALUE_CHARS = 128
#: Options that are the request's own, never a setting of the service.
_NOT_SETTINGS = frozenset(
    {"control_login", "control_password", "account_number", "account_password", "service"}
)
_SECRET_TYPES = frozenset({"hidden", "password"})
_NAME_CHARS = 64


class Setting(NamedTuple):
    """One adjustable setting: its option name, type, and value (``"1"``/``"0"`` for a
    checkbox)."""

    name: str
    type: str
    value: str


def read_settings(options: object) -> tuple[tuple[Setting, ...], list[str]]:
    """The settings in a reply's ``options`` (a list of groups, or a lone group), with notes
    for what was left out; never raises, whatever CHAOS sent."""
    notes: list[str] = []
    settings: list[Setting] = []
    seen: set[str] = set()
    extra = 0
    for option in _options(options):
        setting = _setting(option, notes)
        if setting is None or setting.name in seen:
            continue
        seen.add(setting.name)
        if len(settings) == MAX_SETTINGS:
            extra += 1
            continue
        settings.append(setting)
    if extra:
        notes.append(f"{MAX_SETTINGS + extra} settings; the first {MAX_SETTINGS} are exported")
    return tuple(settings), notes


def _options(options: object) -> list[dict[str, object]]:
    """Every option of every group; repeating objects may be arrays or lone objects."""
    found: list[dict[str, object]] = []
    for group in options if isinstance(options, list) else [options]:
        if not isinstance(group, dict):
            continue
        inner = group.get("option")
        for option in inner if isinstance(inner, list) else [inner]:
            if isinstance(option, dict):
                found.append(option)
    return found


def _setting(option: dict[str, object], notes: list[str]) -> Setting | None:
    name, kind = option.get("name"), option.get("type")
    if not isinstance(name, str) or not isinstance(kind, str):
        return None
    name = clean_text(name.strip())
    kind = kind.strip().lower()
    if not name or len(name) > _NAME_CHARS:
        return None
    if normalise_field(name) in _NOT_SETTINGS or kind in _SECRET_TYPES:
        return None
    if kind == "checkbox":
        checked = option.get("checked", option.get("value"))
        flag = parse_bool(checked)
        if flag is None:  # the manual's checkbox: present and not empty is set
            flag = 1 if isinstance(checked, str) and checked.strip() else 0
        return Setting(name, kind, str(flag))
    value = option.get("value")
    if not isinstance(value, str):
        return None
    value = clean_text(value.strip())
    if kind == "quantity" and parse_number(value) is None:
        notes.append(f"setting {name} is not a number: {json.dumps(value[:40])}; ignored")
        return None
    if len(value) > MAX_VALUE_CHARS:
        notes.append(f"setting {name}'s value is {len(value)} characters; cut to {MAX_VALUE_CHARS}")
        value = value[:MAX_VALUE_CHARS]
    return Setting(name, kind, value)
