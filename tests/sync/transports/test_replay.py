"""The replay guard: a verified request is taken once; the memory it keeps is bounded per
sender and in time, and no way of filling it readmits a request it has seen; a request
stamped before the guard started (a restart) is refused; one sender flooding it never
refuses another."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.sync.transports import wire
from yimen.sync.transports.replay import ReplayGuard
from yimen.sync.transports.wire import MAX_SKEW_S, WireError

START = 1_795_000_000
A, B = "440608100201", "440608100202"


def nonce(i: int) -> bytes:
    return i.to_bytes(wire.NONCE_BYTES, "big")


def refused(guard: ReplayGuard, sender: str, n: bytes, stamp: int, now: float) -> str:
    with pytest.raises(WireError) as e:
        guard.admit(sender, n, stamp, now=now)
    assert wire.ERROR_STATUS[e.value.code] == 401
    return e.value.code


def test_a_request_is_admitted_once():
    guard = ReplayGuard(started=START)
    guard.admit(A, nonce(1), START + 5, now=START + 5)
    assert refused(guard, A, nonce(1), START + 5, START + 6) == "replayed_request"
    assert refused(guard, A, nonce(1), START + 5, START + 5 + MAX_SKEW_S) == "replayed_request"
    guard.admit(A, nonce(2), START + 5, now=START + 6)


def test_the_same_nonce_from_another_sender_is_another_request():
    guard = ReplayGuard(started=START)
    guard.admit(A, nonce(1), START + 1, now=START + 1)
    guard.admit(B, nonce(1), START + 1, now=START + 1)


def test_a_request_stamped_before_the_guard_started_is_refused():
    """After a restart the new process has no memory of what the old one took: everything
    stamped before it started is refused, although inside the allowed skew."""
    guard = ReplayGuard(started=START)
    assert refused(guard, A, nonce(1), START - 1, START + 1) == "stale_request"
    assert refused(guard, A, nonce(2), START - MAX_SKEW_S, START) == "stale_request"
    guard.admit(A, nonce(3), START, now=START)


def test_entries_leave_after_the_window_and_their_replay_stays_refused():
    guard = ReplayGuard(started=START)
    guard.admit(A, nonce(1), START + 10, now=START + 10)
    guard.admit(A, nonce(2), START + 20, now=START + 20)
    later = START + 20 + MAX_SKEW_S + 1
    guard.admit(B, nonce(3), later, now=later)
    guard.admit(A, nonce(4), later, now=later)
    assert len(guard) == 2  # A's two old nonces are forgotten, B's and A's new one kept
    # a clock stepped back does not readmit what was forgotten
    assert refused(guard, A, nonce(1), START + 10, START + 10) == "stale_request"


def test_a_full_sender_forgets_its_oldest_and_refuses_anything_as_old():
    guard = ReplayGuard(started=START, per_sender=4)
    for i, t in enumerate([START + 3, START + 1, START + 4, START + 2, START + 5, START + 5]):
        guard.admit(A, nonce(i), t, now=START + 5)
    assert len(guard) == 4
    # START+1 and START+2 were forgotten: anything stamped at or before START+2 is refused
    assert refused(guard, A, nonce(1), START + 1, START + 6) == "stale_request"
    assert refused(guard, A, nonce(99), START + 2, START + 6) == "stale_request"
    assert refused(guard, A, nonce(0), START + 3, START + 6) == "replayed_request"
    guard.admit(A, nonce(100), START + 3, now=START + 6)


def test_a_flooding_sender_never_refuses_another():
    """A stolen village key can fill only its own part of the guard."""
    guard = ReplayGuard(started=START, per_sender=8)
    admitted = 0
    for i in range(1000):  # stamped as far ahead as allowed
        try:
            guard.admit(A, nonce(i), START + MAX_SKEW_S, now=START)
            admitted += 1
        except WireError as e:
            assert e.code == "stale_request"
    assert admitted == 9 and len(guard) == 8  # the ninth pushed the first out, and A's floor up
    assert refused(guard, A, nonce(5000), START + 1, START + 1) == "stale_request"  # A hurt only itself
    for i in range(20):
        guard.admit(B, nonce(i), START + 1 + i, now=START + 1 + i)


steps = st.lists(st.tuples(st.sampled_from([A, B]), st.integers(0, 30), st.integers(-MAX_SKEW_S, MAX_SKEW_S),
                           st.integers(0, 40)), max_size=120)


@given(steps, st.integers(1, 8))
def test_no_request_is_ever_admitted_twice_and_the_guard_stays_bounded(steps, per_sender):
    guard = ReplayGuard(started=START, per_sender=per_sender)
    now, taken = START, set()
    for sender, n, offset, advance in steps:
        now += advance
        stamp = now + offset
        try:
            guard.admit(sender, nonce(n), stamp, now=now)
        except WireError as e:
            assert e.code in ("replayed_request", "stale_request")
        else:  # a replay repeats the time too: the signature binds it
            assert (sender, n, stamp) not in taken
            taken.add((sender, n, stamp))
        assert len(guard) <= 2 * per_sender


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-MAX_SKEW_S, MAX_SKEW_S), st.integers(0, 50)),
                max_size=80), st.integers(1, 8))
def test_an_honest_sender_is_always_admitted_whatever_another_does(attacks, per_sender):
    """Fresh nonces stamped with the guard's own clock, one a second: admitted every time,
    while another sender replays, floods and stamps ahead."""
    guard = ReplayGuard(started=START, per_sender=per_sender)
    now, honest = START, 0
    for burst, offset, n in attacks:
        now += 1
        for _ in range(burst):
            try:
                guard.admit(B, nonce(n), now + offset, now=now)
            except WireError:
                pass
        honest += 1
        guard.admit(A, nonce(10_000 + honest), now, now=now)
