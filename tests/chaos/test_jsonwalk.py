"""Reading a reply a piece at a time: the same entries and members as ``json.loads``, for any
document; the same errors; pauses every BATCH values; and rows that keep any value."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaisp_multi_exporter.chaos.commands import INFO
from aaisp_multi_exporter.chaos.errors import ChaosError
from aaisp_multi_exporter.chaos.jsonwalk import BATCH, WALKED, NotAnObject, walk
from aaisp_multi_exporter.chaos.records import parse_line
from aaisp_multi_exporter.chaos.replies import parse_reply, parse_reply_async


def run(text: str, payload: str = "info") -> tuple[list[object], dict[str, object], int]:
    """Drive a walk to its end: the entries, the members kept, and the pauses taken."""
    entries: list[object] = []
    walking = walk(text, payload, entries.append)
    pauses = 0
    while True:
        try:
            next(walking)
        except StopIteration as done:
            return entries, done.value, pauses
        pauses += 1


@pytest.mark.parametrize(
    "text",
    [
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
        '{"info":[1.5e3,-0,true,false,null]}',
        '{"info":["\\ud800","caf\\u00e9"]}',
    ],
)
def test_a_walk_reads_what_json_loads_reads(text: str) -> None:
    document = json.loads(text)
    entries, kept, _ = run(text)
    payload = document.get("info")
    if isinstance(payload, list):
        assert entries == payload
        assert kept.get("info") is WALKED
    else:
        assert entries == []
        assert kept.get("info") == payload
    assert kept.get("error") == document.get("error")
    assert set(kept) <= {"info", "error"}


def test_a_payload_given_twice_gives_both_arrays() -> None:
    """json.loads keeps the last; every entry is read (a repeated ID keeps its first)."""
    entries, kept, _ = run('{"info":[{"ID":"1"}],"info":[{"ID":"2"}]}')
    assert entries == [{"ID": "1"}, {"ID": "2"}]
    assert kept["info"] is WALKED


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"info":[{"ID":"1"}', json.JSONDecodeError),
        ('{"info":[{"ID":"1"},]}', json.JSONDecodeError),
        ('{"info":[{"ID":"1"}]} x', json.JSONDecodeError),
        ('{"info" [ ]}', json.JSONDecodeError),
        ('{"a":1,,"info":[]}', json.JSONDecodeError),
        ('{1:"x"}', json.JSONDecodeError),
        ("", NotAnObject),
        ("[1]", NotAnObject),
        ('"text"', NotAnObject),
        ('{"info":[' + "[" * 100_000 + "]" * 100_000 + "]}", RecursionError),
    ],
)
def test_a_walk_fails_where_json_loads_fails(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        run(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.sampled_from(["a", "options", "error", "x"]), json_values, max_size=4),
    st.lists(json_values, max_size=6),
    st.booleans(),
)
def test_any_document(members: dict[str, object], entries: list[object], spaced: bool) -> None:
    document = {**members, "info": entries}
    text = json.dumps(document, indent=1 if spaced else None)
    seen, kept, _ = run(text)
    assert seen == entries
    assert kept.get("error") == members.get("error")


def test_a_walk_pauses_every_batch_of_values() -> None:
    entries = [{"ID": str(n)} for n in range(5 * BATCH + 10)]
    _, _, pauses = run(json.dumps({"info": entries}))
    assert pauses == 5


async def test_parsing_a_large_reply_lets_the_loop_run() -> None:
    """Timing-free: a task of the same loop runs between the batches of one parse."""
    body = json.dumps({"info": [{"ID": str(n), "tx_rate": "8"} for n in range(20 * BATCH)]})
    turns = 0
    parsing = asyncio.ensure_future(parse_reply_async(INFO, body.encode()))
    while not parsing.done():
        turns += 1
        await asyncio.sleep(0)
    assert len((await parsing).lines) == 20 * BATCH
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
