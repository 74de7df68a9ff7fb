"""Deterministic, realistic CHAOS ``broadband/info`` line records for the simulator.

Every record is a ``dict[str, str]`` keyed by exactly the JSON field names of docs/chaos-api.md §5
(``ID``, ``login``, ``postcode``, ``tx_rate``, ``rx_rate``, ``tx_rate_adjusted``,
``quota_monthly``, ``quota_remaining``, ``quota_timestamp``); no other field is ever produced.

Quirks are chosen by the line's position ``i`` in the generated list (0-based), ``i % 10``:

====  =======================  ==========================================================
i%10  quirk                    what the record looks like
====  =======================  ==========================================================
0     (none)                   ordinary FTTC line
1     ``fttp``                 FTTP line: ``tx_rate`` above 100 Mbit/s, up to 900 Mbit/s
2     ``rollover``             ``quota_remaining`` > ``quota_monthly`` (docs/chaos-api.md §5, FIX)
3     ``no_tx_rate``           ``tx_rate`` absent, ``tx_rate_adjusted`` kept (like FIX §5.1)
4     (none)                   ordinary FTTC line
5     ``no_quota_monthly``     ``quota_monthly`` **and** ``quota_remaining`` absent (MUN);
                               ``quota_timestamp`` kept
6     (none)                   ordinary FTTC line
7     ``unlimited``            ``quota_monthly`` ``"0"`` (NIK) and ``quota_remaining`` ``"0"``
8     (none)                   ordinary FTTC line
9     ``postcode_whitespace``  postcode wrapped in spaces, e.g. ``"  SA65 9RR "`` (NATM)
====  =======================  ==========================================================

Any ``count >= 10`` therefore holds every quirk; ``line_ids_with_quirk`` finds them by content.
Generation is per-line seeded from ``(seed, i)``, so line ``i`` does not depend on ``count``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal, get_args

Quirk = Literal[
    "fttp", "rollover", "no_tx_rate", "no_quota_monthly", "unlimited", "postcode_whitespace"
]

#: Quirk of the line at index ``i`` is ``QUIRK_CYCLE[i % len(QUIRK_CYCLE)]``.
QUIRK_CYCLE: tuple[Quirk | None, ...] = (
    None,
    "fttp",
    "rollover",
    "no_tx_rate",
    None,
    "no_quota_monthly",
    None,
    "unlimited",
    None,
    "postcode_whitespace",
)

QUIRKS: tuple[Quirk, ...] = get_args(Quirk)

#: The three allowances sold (100 GB, 1 TB, 10 TB), in bytes as CHAOS reports them.
QUOTA_SIZES: tuple[int, ...] = (100_000_000_000, 1_000_000_000_000, 10_000_000_000_000)

#: Default quota time, the hour of the FIX sample (UK local, docs/chaos-api.md §5).
DEFAULT_QUOTA_TIME = datetime(2024, 7, 31, 10, 0, 0)

_POSTCODE_AREAS = (
    "SA", "EX", "TR", "BS", "CF", "LS", "M", "G", "EH", "N", "SW", "RG", "OX", "CB", "NR",
    "YO", "PL", "BN", "LL", "DH",
)  # fmt: skip
# Inward-code letters never use C, I, K, M, O or V.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_LOGIN_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_FTTP_TX = (115_000_000, 160_000_000, 330_000_000, 550_000_000, 900_000_000)
_FTTP_RX = (20_000_000, 30_000_000, 50_000_000, 75_000_000, 110_000_000)


def quirk_at(index: int) -> Quirk | None:
    """The quirk ``generate_lines`` gives the line at ``index``, so tests can pick lines."""
    return QUIRK_CYCLE[index % len(QUIRK_CYCLE)]


def _postcode(rng: random.Random) -> str:
    area = rng.choice(_POSTCODE_AREAS)
    district = rng.randint(1, 29)
    inward = rng.choice("0123456789") + "".join(rng.choices(_INWARD_LETTERS, k=2))
    return f"{area}{district} {inward}"


def generate_lines(
    count: int,
    *,
    start_id: int = 10000,
    seed: int = 0,
    quota_time: datetime | None = None,
) -> list[dict[str, str]]:
    """Deterministic realistic lines including the quirks (see module docstring).

    ``quota_time`` (naive UK local time, truncated to the hour) lets the demo look current while
    tests keep the fixed default; each line's timestamp is that hour or the one before.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    base = (quota_time or DEFAULT_QUOTA_TIME).replace(minute=0, second=0, microsecond=0)
    lines: list[dict[str, str]] = []
    for i in range(count):
        # A string seed is hashed with SHA-512, so it is stable across runs and processes.
        rng = random.Random(f"aaisp-sim/{seed}/{i}")  # noqa: S311 - test data, not secrets
        quirk = quirk_at(i)
        if quirk == "fttp":
            product = rng.randrange(len(_FTTP_TX))
            tx_rate = int(_FTTP_TX[product] * rng.uniform(0.9, 1.0)) // 1000 * 1000
            rx_rate = int(_FTTP_RX[product] * rng.uniform(0.9, 1.0)) // 1000 * 1000
        else:
            tx_rate = rng.randrange(5_000, 80_000) * 1000
            rx_rate = min(20_000_000, max(448_000, tx_rate // rng.randint(3, 5) // 1000 * 1000))
        tx_rate_adjusted = int(tx_rate * rng.uniform(0.95, 0.99))
        monthly = rng.choice(QUOTA_SIZES)
        if quirk == "rollover":
            remaining = int(monthly * rng.uniform(1.05, 1.9))
        else:
            remaining = rng.randrange(monthly + 1)
        stamp = base - timedelta(hours=rng.choice((0, 0, 0, 1)))
        postcode = _postcode(rng)
        if quirk == "postcode_whitespace":
            postcode = f"  {postcode} "
        login = "".join(rng.choices(_LOGIN_LETTERS, k=2)) + f"{i + 1}@a.1"

        line: dict[str, str] = {"ID": str(start_id + i), "login": login, "postcode": postcode}
        if quirk != "no_tx_rate":
            line["tx_rate"] = str(tx_rate)
        line["rx_rate"] = str(rx_rate)
        line["tx_rate_adjusted"] = str(tx_rate_adjusted)
        if quirk == "unlimited":
            line["quota_monthly"] = "0"
            line["quota_remaining"] = "0"
        elif quirk != "no_quota_monthly":
            line["quota_monthly"] = str(monthly)
            line["quota_remaining"] = str(remaining)
        line["quota_timestamp"] = stamp.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(line)
    return lines


def has_quirk(line: dict[str, str], quirk: Quirk) -> bool:
    """Judge by content, so it also works on hand-made or mutated lines."""
    monthly = line.get("quota_monthly")
    if quirk == "no_tx_rate":
        return "tx_rate" not in line
    if quirk == "no_quota_monthly":
        return monthly is None
    if quirk == "unlimited":
        return monthly == "0"
    if quirk == "postcode_whitespace":
        postcode = line.get("postcode")
        return postcode is not None and postcode != postcode.strip()
    if quirk == "fttp":
        return int(line.get("tx_rate", "0")) > 80_000_000
    remaining = line.get("quota_remaining")
    return monthly is not None and remaining is not None and 0 < int(monthly) < int(remaining)


def line_ids_with_quirk(lines: list[dict[str, str]], quirk: Quirk) -> list[str]:
    """IDs of the lines showing ``quirk``, in list order."""
    if quirk not in QUIRKS:
        raise ValueError(f"unknown quirk {quirk!r}; known: {', '.join(QUIRKS)}")
    return [line["ID"] for line in lines if has_quirk(line, quirk)]


def service_aliases(lines: list[dict[str, str]]) -> dict[str, str]:
    """Private alias -> line ID map: carrier circuit IDs and phone numbers (docs/chaos-api.md §2).

    CHAOS accepts these as ``service`` but never returns them as fields, so they live beside the
    records rather than in them. Phone numbers come from Ofcom's drama range 01632 960000-960999
    and so only the first 1000 lines get one.
    """
    aliases: dict[str, str] = {}
    for i, line in enumerate(lines):
        line_id = line["ID"]
        aliases[f"BBEU{int(line_id):08d}"] = line_id
        if i < 1000:
            aliases[f"01632960{i:03d}"] = line_id
    return aliases
