"""Text from CHAOS as the exporter can always write it back out.

A reply may carry what UTF-8 cannot encode: a lone UTF-16 surrogate from a JSON escape such
as ``"\\ud800"`` with no partner, or from CESU-8 bytes. Kept as it is, one such character in
a login or an error text fails every exposition format, the debug text, ``/logs`` and ``/``
(see docs/design.md, "Text from CHAOS"). So every string the exporter keeps passes through
``clean_text`` at parsing, and bodies are decoded here, with the charset the reply names.
"""

from __future__ import annotations

import codecs
import json
import re

#: What stands in for a character that cannot be written (U+FFFD REPLACEMENT CHARACTER).
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD; ASCII, the usual case, costs
    one check."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def decode_body(body: bytes, charset: str | None = None) -> str:
    """A reply's bytes as text: in the charset its ``Content-Type`` names, else as JSON says
    (UTF-8, or UTF-16/32 told by the first bytes).

    Bytes the charset cannot decode become U+FFFD rather than a failed reply: the structure
    of the JSON is ASCII, so the data around a bad byte is still good. An unknown charset
    name is read as UTF-8.
    """
    encoding = _known_codec(charset) if charset else None
    if encoding is None:
        encoding = json.detect_encoding(body)
    text = body.decode(encoding, "replace")
    return text.removeprefix("\ufeff")


def _known_codec(charset: str) -> str | None:
    try:
        return codecs.lookup(charset.strip().strip('"')).name
    except LookupError:
        return None


def escape_surrogates(json_text: str) -> str:
    """JSON text with each lone surrogate written as its ``\\udXXX`` escape: surrogates only
    occur inside JSON strings, where the escape means the same, and the result encodes as
    UTF-8 (``--chaos.capture`` keeps a hostile reply reproducible this way)."""
    if json_text.isascii():
        return json_text
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)
