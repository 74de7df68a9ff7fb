"""Redacted copies of raw CHAOS replies, for ``--chaos.capture`` and ``--chaos.check`` output.

A capture is meant to be attached to a public bug report and to become a test fixture, so
what identifies a customer goes: every password is removed, and every login, account number,
postcode, phone number and address is replaced by a placeholder (``login-1``, ``postcode-2``).
The same value gets the same placeholder everywhere in one run (the payload, the ``request``
echo, the ``options`` choices' titles and values, the check's printed report), so the
capture still says which line is which. Line IDs, numbers and timestamps are kept: they are
what a fixture is for.

Values are found two ways. By key: a field (or an ``options`` entry's ``name``) that says what
it holds. By shape, in every other string: anything ``x@y`` (logins, e-mail), UK postcodes,
UK phone numbers, and any value already found by key (a choice title such as
``"XX1 1XX ab12@a"``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from aaisp_multi_exporter.chaos.text import clean_text, decode_body, escape_surrogates
from aaisp_multi_exporter.config import normalise_field

Category = Literal["login", "account", "postcode", "phone", "address", "label"]

#: Stands in for a secret found inside a string; a secret under a password key is dropped.
REMOVED = "(removed)"
#: A secret this long is removed even inside a longer word; a shorter one as a whole word only.
MIN_EMBEDDED_SECRET = 6

_LOGIN_KEYS = frozenset({"login", "control_login", "username", "user"})
_ACCOUNT_KEYS = frozenset({"account_number", "account"})
_ADDRESS_KEYS = frozenset(
    {
        "street",
        "town",
        "post_town",
        "city",
        "county",
        "locality",
        "premises",
        "building",
        "thoroughfare",
        "house_name",
        "house_number",
    }
)
_PHONE_KEYS = frozenset({"cli", "ddi", "tel", "telephone", "mobile"})

#: Shapes of personal data in free text. Each alternative is a named group per category.
_SHAPES: tuple[tuple[Category, str], ...] = (
    # Starts only where a token starts: a long run of word characters costs one pass, not a
    # retry from each of its characters.
    ("login", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*"),
    ("postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[ABD-HJLNP-UW-Z]{2}\b"),
    ("phone", r"(?<![\w-])(?:\+44\s?|0)\d(?:[\s-]?\d){8,9}(?![\w-])"),
)
_SHAPE_CATEGORY: dict[str, Category] = {name: name for name, _ in _SHAPES}
#: Known values of these categories that have the shape need no literal of their own: the
#: shape finds them (and normalises them to the same placeholder). An account of 10,000
#: lines would otherwise make a regex alternation of 20,000 literals, tried at every position.
_SHAPED: dict[Category, re.Pattern[str]] = {
    name: re.compile(shape, re.IGNORECASE) for name, shape in _SHAPES if name != "phone"
}
_MIN_LITERAL = 3
_PLACEHOLDER = re.compile(r"(?:login|account|postcode|phone|address|label)-\d+|\(removed\)")
#: Fields a declared command may carry as labels whose values name a product or a state, not
#: a person: kept as they are. Any other declared label is replaced like a login.
HARMLESS_LABELS = frozenset(
    {"status", "state", "type", "tariff", "product", "technology", "profile", "mode", "currency"}
)


def category_of(key: str) -> Category | Literal["password"] | None:
    """What a field named ``key`` holds, as far as redaction cares."""
    name = normalise_field(key)
    if "password" in name:
        return "password"
    if name in _ACCOUNT_KEYS:
        return "account"
    if name in _LOGIN_KEYS or name.endswith("_login"):
        return "login"
    if "postcode" in name or name in ("post_code", "zip"):
        return "postcode"
    if "phone" in name or name in _PHONE_KEYS:
        return "phone"
    if "address" in name or name in _ADDRESS_KEYS:
        return "address"
    return None


def _value_key(category: Category, value: str) -> str:
    """Spacing, case and ``+44`` do not make a different login, postcode or number."""
    if category == "phone":
        digits = re.sub(r"\D", "", value)
        return "0" + digits[2:] if value.strip().startswith("+44") else digits
    if category == "postcode":
        return "".join(value.split()).casefold()
    return " ".join(value.split()).casefold()


class Redactor:
    """Removes secrets and replaces personal values, stably within one run.

    ``secrets`` are the credential values the run used: removed wherever they appear, even
    where CHAOS (or a proxy) should never have put them, and even inside a longer word once
    they are ``MIN_EMBEDDED_SECRET`` characters long (a shorter one goes as a whole word only,
    or a password "a" would eat every "a" of the report). ``known`` pre-registers values (the
    configured control logins) so they are recognised in free text from the first reply on.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        known: Iterable[tuple[Category, str]] = (),
        label_fields: Iterable[str] = (),
    ) -> None:
        self._secrets = {secret for secret in secrets if secret}
        #: Fields declared commands carry as labels: their values are replaced too.
        self._label_fields = {normalise_field(name) for name in label_fields} - HARMLESS_LABELS
        self._placeholders: dict[tuple[Category, str], str] = {}
        self._counts: dict[Category, int] = {}
        #: Original spellings of every value found by key, for the free-text pass.
        self._known: dict[str, Category] = {}
        self._pattern: re.Pattern[str] | None = None
        for category, value in known:
            self._register(category, value)

    def _category(self, key: str) -> Category | Literal["password"] | None:
        found = category_of(key)
        if found is None and normalise_field(key) in self._label_fields:
            return "label"
        return found

    def placeholder(self, category: Category, value: str) -> str:
        """The placeholder for ``value``; the same one every time within this run."""
        if not value.strip() or _PLACEHOLDER.fullmatch(value.strip()):
            return value
        key = (category, _value_key(category, value))
        found = self._placeholders.get(key)
        if found is None:
            self._counts[category] = count = self._counts.get(category, 0) + 1
            found = self._placeholders[key] = f"{category}-{count}"
        return found

    def redact(self, document: object) -> object:
        """A redacted copy of a decoded JSON document; ``document`` is left as it was."""
        self._collect(document)
        return self._rewrite(document)

    def redact_text(self, text: str) -> str:
        """Free text (a report line, a non-JSON reply) with every known or shaped value out."""
        if self._pattern is None:
            self._pattern = self._build_pattern()
        return self._pattern.sub(self._substitute, text)

    # -- pass 1: learn the values named by their keys ---------------------------------------

    def _register(self, category: Category, value: str) -> None:
        text = value.strip()
        if text and not _PLACEHOLDER.fullmatch(text):
            self.placeholder(category, text)
            shaped = _SHAPED.get(category)
            if text not in self._known and not (shaped and shaped.fullmatch(text)):
                self._known[text] = category
                self._pattern = None

    def _collect(self, node: object) -> None:
        """Depth first in document order (placeholders number as a reader meets them), with
        a stack of its own: a deeply nested reply must not exhaust Python's."""
        stack = [node]
        while stack:
            item = stack.pop()
            children: list[object] = []
            if isinstance(item, dict):
                for postcode, login in _service_titles(item):
                    self._register("postcode", postcode)
                    self._register("login", login)
                named = _option_category(item)
                for key, value in item.items():
                    category = named if key == "value" else self._category(str(key))
                    if category is not None and category != "password" and _scalar(value):
                        self._register(category, str(value))
                    elif isinstance(value, dict | list):
                        children.append(value)
            elif isinstance(item, list):
                children = item
            stack.extend(reversed(children))

    # -- pass 2: rewrite ---------------------------------------------------------------------

    def _service_option(self, option: Mapping[object, object]) -> dict[object, object]:
        """The ``service`` option with each line's choice title as placeholders, by the
        title's structure; the rest of the option is rewritten as usual."""
        choices: list[object] = []
        raw = option.get("choice")
        for choice in raw if isinstance(raw, list) else []:
            found = _service_titles({"name": "service", "choice": [choice]})
            if not found or not isinstance(choice, dict):
                choices.append(choice)
                continue
            postcode, login = found[0]
            parts = [self.placeholder("postcode", postcode)] if postcode else []
            parts.append(self.placeholder("login", login))
            choices.append({**choice, "title": " ".join(parts)})
        return {**option, "choice": choices}

    def _rewrite(self, node: object) -> object:
        if isinstance(node, dict):
            table = self._service_option(node) if _service_titles(node) else node
            named = _option_category(table)
            out: dict[object, object] = {}
            for key, value in table.items():
                category = named if key == "value" else self._category(str(key))
                if category == "password":
                    continue
                if category is not None and _scalar(value) and str(value).strip():
                    out[key] = self.placeholder(category, str(value))
                else:
                    out[key] = self._rewrite(value)
            return out
        if isinstance(node, list):
            return [self._rewrite(item) for item in node]
        if isinstance(node, str):
            return self.redact_text(node)
        return node

    def _build_pattern(self) -> re.Pattern[str]:
        """Secrets anywhere; known values as whole tokens; then the shapes, in that order.

        Known values shorter than 3 characters (a house number "1") are replaced where their
        key names them, but not in free text, where they would hit every digit.
        """
        parts: list[str] = []
        long = [secret for secret in self._secrets if len(secret) >= MIN_EMBEDDED_SECRET]
        short = [secret for secret in self._secrets if len(secret) < MIN_EMBEDDED_SECRET]
        if long:
            parts.append(f"(?P<secret>(?-i:{_alternatives(long)}))")
        if short:
            parts.append(f"(?P<short_secret>(?<!\\w)(?-i:{_alternatives(short)})(?!\\w))")
        literals = [value for value in self._known if len(value) >= _MIN_LITERAL]
        if literals:
            parts.append(f"(?P<literal>(?<!\\w)(?-i:{_alternatives(literals)})(?!\\w))")
        parts += [f"(?P<{name}>{shape})" for name, shape in _SHAPES]
        return re.compile("|".join(parts), re.IGNORECASE)

    def _substitute(self, match: re.Match[str]) -> str:
        text, group = match.group(0), match.lastgroup
        if group in ("secret", "short_secret"):
            return REMOVED
        if group == "literal":
            return self.placeholder(self._known[text], text)
        return self.placeholder(_SHAPE_CATEGORY[str(group)], text)


def _scalar(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _alternatives(values: Iterable[str]) -> str:
    """A regex alternation, longest first so that no value is cut short by its prefix."""
    return "|".join(re.escape(value) for value in sorted(values, key=len, reverse=True))


_TITLE = re.compile(r"\s*(?:(.*\S)\s+)?(\S+)\s*")


def _service_titles(option: Mapping[object, object]) -> list[tuple[str, str]]:
    """(postcode, login) of each line's choice in the ``service`` option of ``options``.

    CHAOS titles those choices ``"<postcode> <login>"`` (docs/chaos-api.md section 4): the last
    word is the login, the rest the postcode, whatever either looks like. The empty-valued
    "Select service" choice is no line. Anything else gives nothing.
    """
    if not isinstance(option.get("name"), str) or normalise_field(str(option["name"])) != "service":
        return []
    choices = option.get("choice")
    found = []
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict) or not _scalar(choice.get("value")):
            continue
        title = choice.get("title")
        if str(choice["value"]).strip() and isinstance(title, str):
            match = _TITLE.fullmatch(title)
            if match is not None:
                found.append((match.group(1) or "", match.group(2)))
    return found


def _option_category(item: Mapping[object, object]) -> Category | Literal["password"] | None:
    """An ``options`` entry (``{"name": "control_login", "value": ...}``) names its value.

    A ``type`` of ``password`` marks a secret whatever the name.
    """
    name = item.get("name")
    if not isinstance(name, str) or "value" not in item:
        return None
    if item.get("type") == "password":
        return "password"
    return category_of(name)


# -- files ---------------------------------------------------------------------------------------


def capture_name(auth: str, command: str, *, json_reply: bool = True) -> str:
    """``<auth>-<subsystem>-<command>.json`` (``.txt`` for a reply that was not JSON)."""
    subsystem, _, name = command.partition("/")
    return f"{auth}-{subsystem}-{name}.{'json' if json_reply else 'txt'}"


def redacted_capture(
    redactor: Redactor, body: bytes, charset: str | None = None
) -> tuple[bytes, bool]:
    """The bytes to write for a raw reply, and whether they are JSON.

    A reply that is JSON is rewritten field by field and written as indented UTF-8 JSON,
    which the simulator replays and the exporter parses like the original: a lone surrogate
    stays the ``\\udXXX`` escape it came as, so the fixture reproduces it. Anything else (an
    outage page, a cut reply, numbers too large to read) is kept as text with the same
    replacements.
    """
    text = decode_body(body, charset)
    try:
        document = json.loads(text)
        redacted = redactor.redact(document)
        dumped = json.dumps(redacted, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (ValueError, RecursionError):
        return clean_text(redactor.redact_text(text)).encode(), False
    return escape_surrogates(dumped).encode(), True


def make_private_dir(path: Path) -> str | None:
    """Create the capture directory (0700 when new); the problem as a sentence, or None."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the capture directory {path}: {error.strerror or error}"
    return None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600), even over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
