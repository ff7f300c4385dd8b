"""Stream positions checked against the feed (`yimen.sync.positions`): the words of a
peer that cannot be true, the restatement that answers them, and the numbering a
restored node continues. The transports' scenarios are in tests/contracts."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from yimen.sync.store import driver
from yimen.sync import positions
from yimen.sync.docs import KINDS
from yimen.sync import seal as seals
from yimen.sync.positions import BadPosition, Holding
from yimen.sync.store import Store

ME, PARENT, CHILD = "440608100000", "440608000000", "440608100201"
AT = "2026-11-16T09:00:00+08:00"
KEY = Ed25519PrivateKey.generate()


@contextmanager
def fresh_store() -> Iterator[Store]:
    """A store in memory (SQLite all the same): many examples, each a store of its own."""
    s = Store(":memory:")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def own_seal(store: Store, seq: int, author: str = ME) -> int:
    with store.transaction():
        return store.feed.append(seals.make(KEY, author, seq, author, False, []), None, AT)


def add_doc(store: Store, doc_id: str, kind: str = "case") -> None:
    with store.transaction():
        store.put_doc(store.new_doc(doc_id, kind, doc_id.split("-")[0]))


# -- the word, validated ---------------------------------------------------------------------
names = st.one_of(st.text(max_size=3), st.sampled_from(["case:2026", "case:", "seal", "seal:lost", "node:x"]),
                  st.builds("{}:{}".format, st.sampled_from(KINDS), st.text(max_size=70)))
anything = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(), st.text(max_size=5),
                     st.lists(st.integers(), max_size=2),
                     st.dictionaries(names, st.one_of(st.integers(-2, 2**64), st.text(max_size=2)), max_size=10))


@given(upto=anything, last_seal=anything, numbers=anything)
def test_a_holding_is_made_only_of_positions_and_numbers(upto, last_seal, numbers):
    def count(v):
        return type(v) is int and 0 <= v < 2**63
    valid = count(upto) and (last_seal is None or count(last_seal)) and (numbers is None or (
        isinstance(numbers, dict) and len(numbers) <= positions.NUMBERS_MAX
        and all(isinstance(k, str) and len(k) <= 64 and k.split(":", 1)[0] in KINDS and ":" in k
                and k.split(":", 1)[1] and count(n) for k, n in numbers.items())))
    if valid:
        held = Holding(upto, last_seal, numbers)
        assert Holding.from_wire({"recv_upto": upto, **held.wire()}, "recv_upto") == held
    else:
        with pytest.raises(BadPosition):
            Holding.from_wire({"since": upto, "last_seal": last_seal, "numbers": numbers}, "since")


# -- numbers a node holds of another's documents ---------------------------------------------------
series = st.sampled_from(["2024", "2025", "2026", "x"])
ids = st.lists(st.tuples(st.sampled_from([CHILD, CHILD + "0", "44060810020"]), series,
                         st.integers(0, 10**6 - 1), st.sampled_from(["case", "space_doc"])),
               max_size=25, unique_by=lambda t: t[:3])


@given(docs=ids, junk=st.lists(st.sampled_from(["-", "-2026", "-2026-", "-2026-1a", "-a-b-3", ":x"]),
                               max_size=3, unique=True))
def test_numbered_is_the_highest_number_per_series_of_the_owner(docs, junk):
    with fresh_store() as store:
        for owner, s, n, kind in docs:
            add_doc(store, f"{owner}-{s}-{n:06d}", kind)
        for j in junk:
            add_doc(store, CHILD + j)
        model: dict[str, dict[str, int]] = {}
        for owner, s, n, kind in docs:
            if owner == CHILD:
                model.setdefault(s, {})[f"{kind}:{s}"] = n
        want: dict[str, int] = {}
        for s in sorted(model, reverse=True)[:3]:  # per series: the kind of its highest number
            top = max(n for o, ss, n, k in docs if o == CHILD and ss == s)
            kind = next(k for o, ss, n, k in docs if o == CHILD and ss == s and n == top)
            want[f"{kind}:{s}"] = top
        assert store.numbered(CHILD, limit=3) == want


# -- the receiver's position ---------------------------------------------------------------------
@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=20))
def test_a_received_position_only_moves_forward_unless_the_sender_restates(steps):
    with fresh_store() as store:
        model = 0
        for upto, rewind in steps:
            with store.transaction():
                got = store.peers.received(CHILD, upto, 0, 0, AT, rewind=rewind)
            model = upto if rewind else max(model, upto)
            assert got == model == store.peers.positions(CHILD)[0]


# -- the peer's word on our feed ---------------------------------------------------------------------
@given(st.lists(st.one_of(st.tuples(st.just("seal")), st.tuples(st.just("word"), st.integers(0, 12))),
                max_size=25))
def test_no_word_records_a_position_past_our_feed(steps):
    """Whatever the peer says, what is recorded is a position of our feed; a word past its
    end is noticed and answered by a restatement, until the peer's word matches where the
    restatement ended."""
    with fresh_store() as store:
        seq = 0
        for step in steps:
            if step[0] == "seal":
                seq += 1
                own_seal(store, seq)
                continue
            head, pending = store.feed.head(), store.meta(positions.REWIND + PARENT)
            r = positions.acknowledged(store, ME, PARENT, Holding(step[1]), AT)
            sent = store.peers.positions(PARENT)[1]
            assert 0 <= r.since <= head and sent <= head
            if step[1] > head:
                assert r.rewind and r.notice is not None and "past the end" in r.notice.en
            elif not pending:
                assert (r.since, r.rewind, sent) == (step[1], False, step[1])
            if r.rewind:
                positions.restated(store, PARENT, head)


def test_a_restatement_is_pending_until_the_word_matches_where_it_ended(store):
    for seq in (1, 2, 3):
        own_seal(store, seq)
    assert positions.acknowledged(store, ME, PARENT, Holding(3), AT).since == 3
    r = positions.acknowledged(store, ME, PARENT, Holding(2**62), AT)
    assert (r.since, r.rewind) == (3, True) and store.peers.positions(PARENT)[1] == 3
    assert positions.resume(store, PARENT).rewind  # a bundle restates too
    assert positions.acknowledged(store, ME, PARENT, Holding(2), AT) == positions.Resume(2, True)  # a lower word
    positions.restated(store, PARENT, 3)
    assert positions.acknowledged(store, ME, PARENT, Holding(1), AT).rewind  # said before it arrived
    assert positions.acknowledged(store, ME, PARENT, Holding(3), AT) == positions.Resume(3)
    assert not positions.resume(store, PARENT).rewind
    status = positions.notice(store)
    assert status["last_notice"]["peer"] == PARENT and status["restating_to"] == []


def test_an_older_word_only_moves_the_position_forward(store):
    for seq in (1, 2, 3):
        own_seal(store, seq)
    positions.acknowledged(store, ME, PARENT, Holding(3), AT)
    assert positions.acknowledged(store, ME, PARENT, Holding(1), AT, newer=False).since == 3
    assert store.peers.positions(PARENT)[1] == 3
    assert positions.acknowledged(store, ME, PARENT, Holding(1), AT).since == 1  # a fresh word is the peer's


def test_a_restored_node_continues_its_numbering_after_the_chains(store):
    """Our feed holds our seals 1 and 2; the parent holds seal 5 (made after the copy we
    were restored from), and case numbers up to 31 this year."""
    for seq in (1, 2):
        own_seal(store, seq)
    with store.transaction():
        store.set_meta(positions.UNCONFIRMED, AT)
    r = positions.acknowledged(store, ME, PARENT, Holding(2, 5, {"case:2026": 31}), AT)
    assert r.rewind and "restored from an older copy" in r.notice.en
    assert store.sequence("seal") == 5 and store.sequence("case:2026") == 31
    assert store.meta(positions.UNCONFIRMED) is None
    again = positions.acknowledged(store, ME, PARENT, Holding(2, 5, {"case:2026": 30}), AT)
    assert again.notice is None and store.sequence("case:2026") == 31  # noticed once; never lowered


def test_only_an_ancestor_tells_our_numbers_and_no_one_past_the_clock(store):
    own_seal(store, 1)
    with store.transaction():
        store.set_meta(positions.UNCONFIRMED, AT)
    positions.acknowledged(store, ME, CHILD, Holding(1, 1, {"case:2026": 900}), AT)
    assert store.sequence("case:2026") == 0 and store.meta(positions.UNCONFIRMED) == AT
    r = positions.acknowledged(store, ME, PARENT, Holding(1, 2**62, {}), AT)  # a stolen key's number
    assert r.notice is None and store.sequence("seal") == 1  # (the child's word, plausible)
    assert store.meta(positions.UNCONFIRMED) is None


def test_own_seals_after_the_restated_position_are_sealed_again(store):
    """Seals 2 and 3 are after the position the parent acknowledged (1) and under numbers it
    holds (up to 4): their changes are unsealed, for the next seal to carry them anew."""
    from yimen.sync.docs import Change
    for seq in (1, 2, 3):
        own_seal(store, seq)
    with store.transaction():
        store.peers.acknowledged(PARENT, 1, AT)
        for seq in (1, 2, 3):
            store.changes.add_own(Change(f"d{seq}", "case", ME, 7, 0, 1), ME)
            store.changes.mark_sealed([(f"d{seq}", "case", 7, 0, 1)], ME, ME, seq)
    positions.acknowledged(store, ME, PARENT, Holding(1, 4), AT)
    assert sorted(c.doc_id for c in store.changes.unsealed()) == ["d2", "d3"]


# -- the receiving engine ---------------------------------------------------------------------------
def test_a_batch_is_refused_whole_unless_its_positions_can_be_a_stretch_of_a_feed(store):
    from yimen.sync.engine import Batch, Engine, OutOfOrder
    eng = Engine(store, ME, KEY)
    before = list(driver.iterdump(store.conn))
    for start, next_ in ((5, 4), (-1, 3), (0, 2**63)):
        with pytest.raises(BadPosition):
            eng.receive(CHILD, Batch(CHILD, start, next_, []))
    with pytest.raises(OutOfOrder) as gap:
        eng.receive(CHILD, Batch(CHILD, 3, 4, []))
    assert gap.value.recv_upto == 0 and gap.value.code == "out_of_order"
    assert list(driver.iterdump(store.conn)) == before
    assert eng.receive(CHILD, Batch(CHILD, 0, 2**62, [])).recv_upto == 2**62
    assert eng.receive(CHILD, Batch(CHILD, 0, 9, [])).recv_upto == 2**62  # an old batch: forward only
    assert eng.receive(CHILD, Batch(CHILD, 0, 9, [], rewind=True)).recv_upto == 9  # the sender restates
