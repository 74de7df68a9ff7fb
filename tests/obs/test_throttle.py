"""The log throttle: one line per key per interval, with a count of what it held back."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.obs import throttle as throttle_module
from aaisp_multi_exporter.obs.throttle import LogThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0.0], [0]),
        ([0.0, 1.0, 2.0], [0, None, None]),
        ([0.0, 1.0, 2.0, 60.0], [0, None, None, 2]),
        ([0.0, 60.0, 120.0], [0, 0, 0]),
        ([0.0, 59.9, 60.0, 61.0, 130.0], [0, None, 1, None, 1]),
    ],
)
def test_admit_sequence(times: list[float], expected: list[int | None]) -> None:
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    seen = []
    for moment in times:
        clock.now = moment
        seen.append(throttle.admit("key"))
    assert seen == expected


def test_keys_are_independent() -> None:
    clock = FakeClock()
    throttle = LogThrottle(10.0, clock=clock)
    assert throttle.admit(("quota", "home", "timeout")) == 0
    assert throttle.admit(("quota", "home", "auth_error")) == 0
    assert throttle.admit(("quota", "home", "timeout")) is None
    assert throttle.admit(("line", "home", "timeout")) == 0


def test_key_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "MAX_KEYS", 5)
    clock = FakeClock()
    throttle = LogThrottle(10.0, clock=clock)
    for key in range(50):
        assert throttle.admit(key) == 0
    assert len(throttle) <= 5
