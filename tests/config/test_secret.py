"""Secret: a credential that no text, pickle or serialised form carries."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from pydantic import BaseModel

from aaisp_multi_exporter.config import Secret
from tests.conftest import SENTINEL


def test_secret_reveal_and_text() -> None:
    secret = Secret(SENTINEL)
    assert secret.reveal() == SENTINEL
    assert str(secret) == repr(secret) == format(secret, "") == format(secret, "d") == "<secret>"
    assert json.dumps({"p": secret}, default=str) == '{"p": "<secret>"}'
    assert "%s %r" % (secret, secret) == "<secret> <secret>"  # noqa: UP031


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


def test_secret_is_immutable() -> None:
    secret = Secret("a")
    with pytest.raises(AttributeError):
        secret._value = "b"
    with pytest.raises(AttributeError):
        del secret._value
    with pytest.raises(AttributeError):
        secret.other = 1


def test_secret_rejects_non_strings_without_echoing() -> None:
    with pytest.raises(TypeError) as info:
        Secret(12345678)  # type: ignore[arg-type]
    assert "12345678" not in str(info.value)


def test_secret_copy_keeps_the_value_pickle_does_not() -> None:
    secret = Secret(SENTINEL)
    assert copy.copy(secret).reveal() == SENTINEL
    assert copy.deepcopy(secret).reveal() == SENTINEL
    data = pickle.dumps(secret)
    assert SENTINEL.encode() not in data
    assert pickle.loads(data).reveal() == "<secret>"


class _WithSecret(BaseModel):
    password: Secret


def test_secret_in_pydantic_models() -> None:
    model = _WithSecret(password=SENTINEL)
    assert model.password.reveal() == SENTINEL
    assert _WithSecret(password=Secret("x")).password == Secret("x")
    assert model.model_dump() == {"password": "<secret>"}
    assert model.model_dump_json() == '{"password":"<secret>"}'
    assert SENTINEL not in repr(model)
    assert _WithSecret.model_json_schema()["properties"]["password"]["writeOnly"] is True
