"""Reading a reply a piece at a time: the same entries and members as ``json.loads``, for any
document, whatever the window; the same errors; a pause every BATCH units of work, inside one
huge value too; huge values inside entries checked and marked, never built; and rows that keep
any value."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaisp_multi_exporter.chaos import jsonwalk
from aaisp_multi_exporter.chaos.commands import INFO
from aaisp_multi_exporter.chaos.errors import ChaosError
from aaisp_multi_exporter.chaos.jsonwalk import (
    BATCH,
    ENTRY_WORK,
    WALKED,
    WINDOW,
    NotAnObject,
    Oversized,
    walk,
)
from aaisp_multi_exporter.chaos.records import parse_line
from aaisp_multi_exporter.chaos.replies import parse_reply, parse_reply_async
from aaisp_multi_exporter.simulator import Fault
from aaisp_multi_exporter.simulator.faultreplies import huge_value, reshaped_reply

#: Windows small enough that most values do not fit one: every slow path runs.
SMALL_WINDOWS = (8, 13, 40)
FAILURES = (json.JSONDecodeError, RecursionError, NotAnObject)


def run(
    text: str, payload: str = "info", window: int = WINDOW
) -> tuple[list[object], dict[str, object], int]:
    """Drive a walk to its end: the entries, the members kept, and the pauses taken."""
    entries: list[object] = []
    walking = walk(text, payload, entries.append, restart=entries.clear, window=window)
    pauses = 0
    while True:
        try:
            next(walking)
        except StopIteration as done:
            return entries, done.value, pauses
        pauses += 1


def agrees(walked: object, loaded: object, window: int = WINDOW) -> bool:
    """``walked`` is what ``json.loads`` gave, but for values that did not fit the window
    (Oversized) and, in an entry larger than the window, member names that did not either."""
    if isinstance(walked, Oversized):
        return len(json.dumps(loaded)) >= min(window, walked.chars)
    if isinstance(loaded, dict) and isinstance(walked, dict):
        dropped = [key for key in loaded if key not in walked]
        return (
            set(walked) <= set(loaded)
            and all(len(json.dumps(key)) >= window for key in dropped)
            and list(walked) == [key for key in loaded if key in walked]
            and all(agrees(walked[key], loaded[key], window) for key in walked)
        )
    if isinstance(loaded, list) and isinstance(walked, list):
        return len(walked) == len(loaded) and all(
            agrees(w, v, window) for w, v in zip(walked, loaded, strict=True)
        )
    nan = walked != walked and loaded != loaded  # noqa: PLR0124 - NaN is not itself
    return type(walked) is type(loaded) and (walked == loaded or nan)


def assert_reads_as_json_loads(text: str, window: int) -> None:
    document = json.loads(text)
    entries, kept, _ = run(text, window=window)
    payload = document.get("info")
    if isinstance(payload, list):
        assert agrees(entries, payload, window), (entries, payload)
        assert kept.get("info") is WALKED
    else:
        assert entries == []
        assert agrees(kept.get("info"), payload, window)
    assert agrees(kept.get("error"), document.get("error"), window)
    assert set(kept) <= {"info", "error"}


DOCUMENTS = [
    '{"info":[]}',
    '{"info":[{"ID":"1"},{"ID":"2","x":[1,{"y":null}]}]}',
    ' { "subsystem" : "broadband" , "info" : [ { "ID" : "1" } , 5 , "s" ] , "z" : {} } ',
    '{"options":[{"title":"Service","option":[{"name":"service","choice":'
    '[{"value":"","title":"Select service"},{"value":"1","title":"A B"}]}]}],'
    '"info":[{"ID":"1"}]}',
    '{"error":"Control authorisation failed","options":[]}',
    '{"info":{"ID":"1"}}',
    '{"info":"oops"}',
    '{"a":[[[[[[[[1]]]]]]]],"info":[[[[]]]]}',
    "{}",
    '{"info":[1.5e3,-0,true,false,null,NaN,-Infinity]}',
    '{"info":["\\ud800","caf\\u00e9"]}',
    '{"x":"'
    + "a\\n\\u00e9" * 30
    + '","info":[{"ID":"12345678901234567890","b":"'
    + "q" * 40
    + '"}]}',
    '{"x":-123456789012345678901234567890.5e-10,"y":[1E+5,2e-3],"info":[]}',
    '{"info":[{"ID":"1","a":"x},{","b":"],[","c":"\\",\\""},{"ID":"2"}]}',
]


@pytest.mark.parametrize("window", [WINDOW, *SMALL_WINDOWS])
@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_walk_reads_what_json_loads_reads(text: str, window: int) -> None:
    assert_reads_as_json_loads(text, window)


@pytest.mark.parametrize("window", [WINDOW, *SMALL_WINDOWS])
@pytest.mark.parametrize(
    "text",
    [
        '{"info":[{"ID":"1"}],"info":[{"ID":"2"}]}',
        '{"info":[{"ID":"1"}],"x":1,"info":{"ID":"2"}}',
        '{"info":[{"ID":"1"}],"info":5}',
        '{"info":5,"info":[{"ID":"2"},{"ID":"3"}]}',
        '{"info":[{"ID":"1"}],"info":[]}',
    ],
)
def test_a_payload_given_twice_is_the_last_as_json_loads_says(text: str, window: int) -> None:
    assert_reads_as_json_loads(text, window)


def test_a_reply_with_its_payload_twice_lists_the_last_ones_lines() -> None:
    reply = parse_reply(INFO, b'{"info":[{"ID":"1"},{"x":1}],"info":[{"ID":"2"},{"ID":"2"}]}')
    assert list(reply.lines) == ["2"]
    assert reply.skipped == 0
    assert reply.notes == ('info[1] repeats ID "2"; the first entry is used',)


@pytest.mark.parametrize("window", [WINDOW, *SMALL_WINDOWS])
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"info":[{"ID":"1"}', json.JSONDecodeError),
        ('{"info":[{"ID":"1"},]}', json.JSONDecodeError),
        ('{"info":[{"ID":"1"}]} x', json.JSONDecodeError),
        ('{"info" [ ]}', json.JSONDecodeError),
        ('{"a":1,,"info":[]}', json.JSONDecodeError),
        ('{1:"x"}', json.JSONDecodeError),
        ('{"a":[1,2,3,],"info":[]}', json.JSONDecodeError),
        ('{"a":[1,,2],"info":[]}', json.JSONDecodeError),
        ('{"a":{"b":1,},"info":[]}', json.JSONDecodeError),
        ('{"a":[[[[1,2]]],"info":[]}', json.JSONDecodeError),
        ('{"a":"x\x01y","info":[]}', json.JSONDecodeError),
        ('{"a":"\\x","info":[]}', json.JSONDecodeError),
        ('{"a":"\\u12g4","info":[]}', json.JSONDecodeError),
        ('{"a":[01],"info":[]}', json.JSONDecodeError),
        ('{"a":[1 2],"info":[]}', json.JSONDecodeError),
        ('{"a":[-],"info":[]}', json.JSONDecodeError),
        ('{"a":"' + "x" * 50, json.JSONDecodeError),
        ('{"info":[{"ID":"1","b":[1,2}]}', json.JSONDecodeError),
        ("", NotAnObject),
        ("[1]", NotAnObject),
        ('"text"', NotAnObject),
        ('{"info":[' + "[" * 100_000 + "]" * 100_000 + "]}", RecursionError),
        ('{"a":' + "[" * 100_000 + "]" * 100_000 + ',"info":[]}', RecursionError),
    ],
)
def test_a_walk_fails_where_json_loads_fails(
    text: str, error: type[Exception], window: int
) -> None:
    with pytest.raises(error):
        run(text, window=window)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
#: Members of a reply, a name possibly given twice (the payload too), in the order written.
members = st.lists(
    st.tuples(
        st.sampled_from(["a", "options", "error", "x", "info", "info"]),
        json_values | st.lists(json_values, max_size=6),
    ),
    max_size=5,
)


def written(pairs: list[tuple[str, object]], spaced: bool) -> str:
    """An object with these members, repeats kept (``json.dumps`` of a dict has none)."""
    gap = "\n " if spaced else ""
    return "{" + ",".join(f"{gap}{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"


@given(members, st.booleans(), st.sampled_from([WINDOW, *SMALL_WINDOWS, 64]))
def test_any_document(pairs: list[tuple[str, object]], spaced: bool, window: int) -> None:
    assert_reads_as_json_loads(written(pairs, spaced), window)


@given(
    members,
    st.integers(min_value=0),
    st.sampled_from(["", ",", "]", "}", "[", "{", '"', ":", "1", "\\", " ", "\x01", "-", "e"]),
    st.sampled_from([WINDOW, *SMALL_WINDOWS]),
)
def test_any_damaged_document_fails_where_json_loads_fails(
    pairs: list[tuple[str, object]], where: int, char: str, window: int
) -> None:
    """One character replaced (or removed): refused exactly when ``json.loads`` refuses it
    or finds no object, read as it reads it otherwise."""
    text = written(pairs, False)
    at = where % (len(text) + 1)
    text = text[:at] + char + text[at + 1 :]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        with pytest.raises(FAILURES):
            run(text, window=window)
    else:
        assert_reads_as_json_loads(text, window)


def test_an_entry_larger_than_a_window_keeps_its_first_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jsonwalk, "MAX_MEMBERS", 5)
    members = ",".join(f'"k{n}":{n}' for n in range(20))
    entries, _, _ = run('{"info":[{' + members + ',"k0":"again","ID":"7"}]}', window=16)
    assert entries == [{"k0": "again", "k1": 1, "k2": 2, "k3": 3, "k4": 4}]


#: What the simulator's ``huge_value`` fault sends, at a tenth of its default size.
HUGE = {
    "numbers-in-an-entry": Fault("huge_value", elements=1_200_000),
    "objects-in-an-entry": Fault("huge_value", elements=2_000_000, shape="objects"),
    "objects-7-deep-in-an-entry": Fault(
        "huge_value", elements=2_000_000, shape="objects", nesting=7
    ),
    "string-in-an-entry": Fault("huge_value", elements=6_000_000, shape="string"),
    "objects-7-deep-in-a-member-nobody-reads": Fault(
        "huge_value", elements=2_000_000, shape="objects", nesting=7, in_entry=False
    ),
    "numbers-7-deep-in-a-member-nobody-reads": Fault(
        "huge_value", elements=1_200_000, nesting=7, in_entry=False
    ),
    "string-in-a-member-nobody-reads": Fault(
        "huge_value", elements=6_000_000, shape="string", in_entry=False
    ),
}
LINES = [{"ID": str(n), "login": f"l{n}@a", "tx_rate": "8000"} for n in range(1, 4)]


@pytest.mark.parametrize("fault", HUGE.values(), ids=HUGE)
def test_a_huge_value_is_read_with_pauses_and_marked_not_built(fault: Fault) -> None:
    """The pauses are counted, not timed: at least one per BATCH characters of the reply."""
    text = reshaped_reply({"info": [dict(line) for line in LINES]}, "info", fault).decode()
    entries, kept, pauses = run(text)
    assert pauses >= len(text) // BATCH - 1
    huge = len(huge_value(fault))
    if fault.in_entry:
        first = entries[0]
        assert isinstance(first, dict)
        marker = first.pop("huge")
        assert isinstance(marker, Oversized)
        assert marker.chars == huge
        kind = "a string" if fault.shape == "string" else "an array"
        assert repr(marker) == f"{kind} of {huge:,} characters"
    assert entries == LINES
    assert kept == {"info": WALKED}


def test_a_huge_value_in_a_read_field_is_a_note() -> None:
    body = '{"info":[{"ID":"1","login":[' + "1," * 100_000 + '1],"tx_rate":"8"}]}'
    line = parse_reply(INFO, body.encode()).lines["1"]
    assert any("an array of 200,003 characters" in note for note in line.notes), line.notes


def test_a_huge_id_leaves_the_entry_out() -> None:
    reply = parse_reply(INFO, ('{"info":[{"ID":"' + "9" * 100_000 + '"},{"ID":"2"}]}').encode())
    assert list(reply.lines) == ["2"]
    assert reply.skipped == 1


def test_a_walk_pauses_for_every_batch_of_work() -> None:
    entries = [{"ID": str(n)} for n in range(5 * BATCH // ENTRY_WORK)]
    _, _, pauses = run(json.dumps({"info": entries}))
    assert 5 <= pauses <= 6


async def test_parsing_a_large_reply_lets_the_loop_run() -> None:
    """Timing-free: a task of the same loop runs between the batches of one parse."""
    count = 20 * BATCH // ENTRY_WORK
    body = json.dumps({"info": [{"ID": str(n), "tx_rate": "8"} for n in range(count)]})
    turns = 0
    parsing = asyncio.ensure_future(parse_reply_async(INFO, body.encode()))
    while not parsing.done():
        turns += 1
        await asyncio.sleep(0)
    assert len((await parsing).lines) == count
    assert turns >= 20


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"ID": "1", "login": "a\x1fb", "tx_rate": "8"}, id="separator-in-a-value"),
        pytest.param({"ID": "1", "login": "a\x1eb", "tx_rate": "8"}, id="absent-mark-in-a-value"),
        pytest.param({"ID": "1", "login": "\x1e", "postcode": ""}, id="a-value-that-is-the-mark"),
        pytest.param({"ID": "1", "login": 5, "tx_rate": 8}, id="values-not-strings"),
        pytest.param({"ID": "1", "login": None, "rx_rate": ["x"]}, id="null-and-array"),
        pytest.param({"ID": "1"}, id="no-field"),
        pytest.param({"ID": "1", "Tx-Rate": "7", "tx_rate": "8"}, id="two-spellings-last-wins"),
    ],
)
def test_a_compact_row_keeps_every_value(entry: dict[str, object]) -> None:
    """What the row gives back is what the entry said, whatever its values."""
    reply = parse_reply(INFO, json.dumps({"info": [entry]}).encode())
    assert reply.lines["1"] == parse_line(INFO, entry)


def test_hostile_payload_is_still_refused() -> None:
    body = '{"info":[' + ",".join(['{"x":"y"}'] * 10_001) + "]}"
    with pytest.raises(ChaosError) as caught:
        parse_reply(INFO, body.encode())
    assert "without a usable ID" in str(caught.value)
