"""The failure throttle: an address that failed `limit` times within the window is refused
until its oldest failure leaves the window; other addresses are not affected; it holds at
most `max_keys` addresses whatever the traffic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.node.server.throttle import FailureThrottle
from yimen.sync.transports import wire
from yimen.sync.transports.wire import WireError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(throttle: FailureThrottle, key: str) -> bool:
    try:
        throttle.check(key)
    except WireError as e:
        assert e.code == "too_many_attempts" and wire.ERROR_STATUS[e.code] == 429
        assert "later" in e.en and e.extra["retry_after_s"] > 0
        return True
    return False


def test_an_address_is_refused_after_limit_failures_until_the_window_passes():
    clock = Clock()
    t = FailureThrottle(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        assert not refused(t, "10.0.0.7")
        t.failed("10.0.0.7")
        clock.now += 10
    assert refused(t, "10.0.0.7")
    assert not refused(t, "10.0.0.8")
    clock.now += 30  # the first failure (at 1000) leaves the window at 1060
    assert not refused(t, "10.0.0.7")
    t.failed("10.0.0.7")
    assert refused(t, "10.0.0.7")


def test_a_throttle_holds_at_most_max_keys_addresses():
    t = FailureThrottle(limit=2, window_s=60, max_keys=10, clock=Clock())
    for i in range(1000):
        t.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(t) == 10
    assert refused(t, "10.0.3.231") is False  # one failure so far: still allowed
    t.failed("10.0.3.231")
    assert refused(t, "10.0.3.231")


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.floats(0, 30)), max_size=100),
       st.integers(1, 5), st.integers(1, 8))
def test_no_address_fails_more_than_limit_times_in_a_window(steps, limit, max_keys):
    """While the throttle can hold every address (six here), none gets more than `limit`
    failures into any window; with fewer places it still never holds more than `max_keys`."""
    clock = Clock()
    t = FailureThrottle(limit=limit, window_s=60, max_keys=max_keys, clock=clock)
    failures: dict[int, list[float]] = {}
    for key, fail, advance in steps:
        clock.now += advance
        if refused(t, str(key)) or not fail:
            continue
        t.failed(str(key))
        failures.setdefault(key, []).append(clock.now)
        if max_keys >= 6:
            assert len([x for x in failures[key] if x > clock.now - 60]) <= limit
        assert len(t) <= max_keys


@pytest.mark.parametrize("bad", [dict(limit=0), dict(window_s=0), dict(max_keys=0)])
def test_a_throttle_needs_positive_bounds(bad):
    with pytest.raises(ValueError):
        FailureThrottle(**bad)
