"""The store contract: what the engine and the services rely on from a node's store,
written as checks that take a `make_store` factory (each call opens a fresh, empty store),
so that another store runs all of them in one line:

    test_other_store = store_contract(lambda path: OtherStore(path))

- a transaction is all or nothing (an exception inside leaves the store as it was, and
  the store stays usable); nested transactions join the outer one; a savepoint undoes
  only its own part; writes outside a transaction are refused and write nothing;
- documents round-trip: put/save, get, get_many, kinds, versions, oplog, docs, count;
- the feed: append (increasing positions), has, head, scan, bodies, seal, the unapplied
  marks, and a seal it holds is refused;
- peers: positions start at (0, 0); an acknowledgement is recorded as given (checked by
  `yimen.sync.positions`), a lower one too; `received` never moves recv_upto back unless
  the sender restates its feed; traffic counts;
- the key ring: `learn` only adds, `trust` replaces, `public_key`; Loro peers bind to
  their first author;
- quarantine: add (each seal's bytes once), count (all, by peer), rows, summary,
  waiting_for, remove, release; bounded per peer.

A store's whole state is compared through `snapshot` (for SQLite, `iterdump()`).
"""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.sync import certs
from yimen.sync.store import driver
from yimen.sync import seal as seals
from yimen.sync.docs import Change, Doc, new_peer_id
from yimen.sync.errors import StoreError
from yimen.sync.seal import Seal, SealedChange
from yimen.sync.store import Store
from yimen.sync.engine import public_bytes
from yimen.sync.store.repos import seal_digest

VILLAGE, TOWN = "440608100201", "440608100000"
VILLAGE_B, CITY = "440608100202", "440600000000"
NOW = "2026-11-16T09:00:00+08:00"
KEY = Ed25519PrivateKey.generate()
MakeStore = Callable[[], Store]


class Boom(Exception):
    pass


def snapshot(store) -> list[str]:
    return list(driver.iterdump(store.conn))


def a_case(store, n: int = 1) -> Doc:
    doc = store.new_doc(f"{VILLAGE}-2026-{n:06d}", "case", VILLAGE)
    doc.update("case", {"case_id": doc.doc_id, "applicant_name": "陈美玲"})
    doc.append("history", {"action": "accept", "actor": "c01"})
    return doc


def a_seal(seq: int, author: str = VILLAGE, down: bool = False) -> Seal:
    """A real seal of one new document of the author's own scope."""
    kind = "node" if down else "case"
    doc = Doc.new(f"{author}-{kind}-{seq}", kind, author, new_peer_id())
    doc.update("x", {"n": seq})
    change = doc.commit()
    blob = doc.export_change(change)
    return seals.make(KEY, author, seq, author, down,
                      [SealedChange(doc.doc_id, kind, change.peer, change.counter_start, change.counter_end, blob)])


# -- transactions ------------------------------------------------------------------------------
def transaction_is_all_or_nothing(make_store: MakeStore) -> None:
    store = make_store()
    first = a_case(store, 1)
    with store.transaction():
        store.save(first, VILLAGE)
    before = snapshot(store)
    first.append("history", {"action": "submit"})
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("note", "半途")
            store.next_sequence("seal")
            store.save(first, VILLAGE)
            store.save(a_case(store, 2), VILLAGE)
            store.feed.append(a_seal(1), None, NOW)
            store.peers.received(TOWN, 3, 1, 100, NOW)
            store.keys.trust(TOWN, b"k" * 32)
            store.quarantine.add(TOWN, NOW, None, None, "malformed seal", b"x", b"y")
            raise Boom
    assert snapshot(store) == before
    with store.transaction():  # still usable
        store.set_meta("note", "好了")
    assert store.meta("note") == "好了"


def nested_transactions_join_the_outer_one(make_store: MakeStore) -> None:
    store = make_store()
    before = snapshot(store)
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("outer", "1")
            with store.transaction():
                store.set_meta("inner", "1")
            raise Boom  # the inner block did not commit: its write goes too
    assert snapshot(store) == before
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("outer", "1")
            with store.transaction():
                store.set_meta("inner", "1")
                raise Boom  # an exception inside the inner block undoes the outer's writes
    assert snapshot(store) == before
    with store.transaction():
        with store.transaction():
            store.set_meta("inner", "2")
        store.set_meta("outer", "2")
    assert (store.meta("inner"), store.meta("outer")) == ("2", "2")


def a_savepoint_undoes_only_its_part(make_store: MakeStore) -> None:
    store = make_store()
    with pytest.raises(RuntimeError):
        with store.savepoint():  # a part of no transaction
            pass
    with store.transaction():
        store.set_meta("before", "1")
        with pytest.raises(Boom):
            with store.savepoint():
                store.set_meta("inside", "1")
                store.feed.append(a_seal(1), TOWN, NOW)
                raise Boom
        with store.savepoint():
            store.set_meta("kept", "1")
        store.set_meta("after", "1")
    assert [store.meta(k) for k in ("before", "inside", "kept", "after")] == ["1", None, "1", "1"]
    assert store.feed.head() == 0 and not store.feed.has(VILLAGE, 1)


def _refused_outside_a_transaction(store, writes: dict[str, Callable]) -> list[str]:
    """The names of the writes that were not refused (or wrote something)."""
    wrote = []
    for name, write in writes.items():
        before = snapshot(store)
        try:
            write(store)
        except RuntimeError:
            pass
        else:
            wrote.append(name)
        if snapshot(store) != before:
            wrote.append(f"{name} (wrote)")
    return wrote


def writes_outside_a_transaction_are_refused(make_store: MakeStore) -> None:
    store = make_store()
    doc = a_case(store)
    change = Change(doc.doc_id, "case", VILLAGE, store.peer, 0, 1)
    assert _refused_outside_a_transaction(store, {
        "set_meta": lambda s: s.set_meta("k", "v"),
        "next_sequence": lambda s: s.next_sequence("seal"),
        "put_doc": lambda s: s.put_doc(doc),
        "save": lambda s: s.save(doc, VILLAGE),
        "feed.append": lambda s: s.feed.append(a_seal(1), None, NOW),
        "changes.add_own": lambda s: s.changes.add_own(change, VILLAGE),
    }) == []


def repository_writes_outside_a_transaction_are_refused(make_store: MakeStore) -> None:
    store = make_store()
    assert _refused_outside_a_transaction(store, {
        "peers.received": lambda s: s.peers.received(TOWN, 3, 1, 10, NOW),
        "peers.acknowledged": lambda s: s.peers.acknowledged(TOWN, 0, NOW),
        "peers.sent": lambda s: s.peers.sent(TOWN, 1, 10, NOW),
        "keys.trust": lambda s: s.keys.trust(TOWN, b"k" * 32),
        "keys.add": lambda s: s.keys.add(A_CERT),
        "keys.cut": lambda s: s.keys.cut(b"k" * 8, VILLAGE, 3, "revoked", ("原因", "why")),
        "keys.bind_peers": lambda s: s.keys.bind_peers([7], VILLAGE),
        "quarantine.add": lambda s: s.quarantine.add(TOWN, NOW, None, None, "why", b"x", b"y"),
        "feed.mark_unapplied": lambda s: s.feed.mark_unapplied(1),
    }) == []


# -- documents ---------------------------------------------------------------------------------
def documents_round_trip(make_store: MakeStore) -> None:
    store = make_store()
    one, two = a_case(store, 1), a_case(store, 2)
    with store.transaction():
        assert store.save(one, VILLAGE) is not None
        two.commit()
        store.put_doc(two)
    got = store.get(one.doc_id)
    assert (got.doc_id, got.kind, got.scope) == (one.doc_id, "case", VILLAGE)
    assert got.value() == one.value() and got.version() == one.version()
    assert store.get("no-such-doc") is None and store.exists(one.doc_id) and not store.exists("no-such-doc")
    many = store.get_many([one.doc_id, two.doc_id, "no-such-doc"])
    assert sorted(many) == [one.doc_id, two.doc_id]
    assert many[two.doc_id].value() == two.value() and many[two.doc_id].version() == two.version()
    assert store.kinds([one.doc_id, "no-such-doc"]) == {one.doc_id: ("case", VILLAGE)}
    assert sorted(store.versions()) == sorted([(d.doc_id, "case", VILLAGE, d.version()) for d in (one, two)])
    oplog, vv = store.oplog(one.doc_id)
    assert vv == one.version()
    assert Doc.from_bytes(one.doc_id, "case", VILLAGE, oplog, new_peer_id()).value() == one.value()
    assert [d.doc_id for d in store.docs("case")] == sorted([one.doc_id, two.doc_id])
    assert store.count("case") == 2 and store.count("node") == 0
    # a put replaces the document in place
    got.put("case", "phone", "13800000000")
    with store.transaction():
        store.save(got, VILLAGE)
    again = store.get(one.doc_id)
    assert again.value()["case"]["phone"] == "13800000000" and again.version() == got.version()
    # and its history carries over to another store exactly
    other = make_store()
    with other.transaction():
        other.put_doc(Doc.from_bytes(one.doc_id, "case", VILLAGE, store.oplog(one.doc_id)[0], other.peer))
    copy = other.get(one.doc_id)
    assert copy.value() == again.value() and copy.version() == again.version()


# -- the feed ----------------------------------------------------------------------------------
def feed_appends_and_answers(make_store: MakeStore) -> None:
    store = make_store()
    assert (store.feed.head(), store.feed.count(), store.feed.scan(0, 10)) == (0, 0, [])
    s1, s2, s3 = a_seal(1), a_seal(2), a_seal(1, author=TOWN, down=True)
    with store.transaction():
        positions = [store.feed.append(s1, None, NOW), store.feed.append(s2, TOWN, NOW),
                     store.feed.append(s3, TOWN, NOW)]
    assert positions == sorted(set(positions)) and store.feed.head() == positions[-1]
    assert store.feed.count() == 3
    assert store.feed.has(VILLAGE, 1) and store.feed.has(VILLAGE, 2) and store.feed.has(TOWN, 1)
    assert not store.feed.has(VILLAGE, 3) and not store.feed.has(TOWN, 2)
    size = [len(s.body) + len(s.signature) for s in (s1, s2, s3)]
    assert store.feed.scan(0, 10) == [(positions[0], VILLAGE, VILLAGE, 0, None, size[0]),
                                      (positions[1], VILLAGE, VILLAGE, 0, TOWN, size[1]),
                                      (positions[2], TOWN, TOWN, 1, TOWN, size[2])]
    assert store.feed.scan(positions[0], 1) == [(positions[1], VILLAGE, VILLAGE, 0, TOWN, size[1])]
    assert store.feed.scan(positions[2], 10) == []
    assert store.feed.bodies([positions[2], positions[0]]) == [(s1.body, s1.signature), (s3.body, s3.signature)]
    assert store.feed.bodies([]) == []
    assert store.feed.seal(VILLAGE, 2) == (VILLAGE, False, s2.body, s2.signature)
    assert store.feed.seal(VILLAGE, 9) is None
    # a received seal stored but not applied yet is marked, oldest first
    with store.transaction():
        store.feed.mark_unapplied(positions[2])
        store.feed.mark_unapplied(positions[1])
    assert store.feed.backlog() == 2
    assert store.feed.unapplied(1) == [(positions[1], TOWN, s2.body, s2.signature)]
    with store.transaction():
        store.feed.mark_applied(positions[1])
    assert store.feed.backlog() == 1
    # a seal the feed holds is refused, with its whole transaction
    before = snapshot(store)
    with pytest.raises(StoreError):
        with store.transaction():
            store.set_meta("note", "x")
            store.feed.append(s2, VILLAGE, NOW)
    assert snapshot(store) == before


# -- peers -------------------------------------------------------------------------------------
def peer_positions_move_as_the_protocol_says(make_store: MakeStore) -> None:
    store = make_store()
    assert store.peers.positions(TOWN) == (0, 0)
    with store.transaction():
        for seq in (1, 2, 3):
            store.feed.append(a_seal(seq), None, NOW)
    head = store.feed.head()
    with store.transaction():
        store.peers.acknowledged(TOWN, head, NOW)  # checked against our feed by the caller
    assert store.peers.positions(TOWN) == (0, head)
    with store.transaction():
        store.peers.acknowledged(TOWN, 1, NOW)  # a lower word is the peer's word
    assert store.peers.positions(TOWN) == (0, 1)
    with store.transaction():
        assert store.peers.received(TOWN, 50, 2, 100, NOW) == 50  # the peer's feed, not ours: no cap
        assert store.peers.received(TOWN, 20, 0, 10, NOW) == 50  # never backwards
        assert store.peers.received(TOWN, 30, 0, 0, NOW, rewind=True) == 30  # unless the peer restates it
        assert store.peers.received(TOWN, 50, 0, 0, NOW) == 50
        store.peers.sent(TOWN, 2, 64, NOW)
    assert store.peers.positions(TOWN) == (50, 1)
    assert store.peers.positions(VILLAGE) == (0, 0)
    assert store.peers.rows() == [{"peer": TOWN, "recv_upto": 50, "sent_upto": 1, "last_contact": NOW,
                                   "seals_in": 2, "seals_out": 2, "bytes_in": 110, "bytes_out": 64}]


# -- keys --------------------------------------------------------------------------------------
ROOT_KEY, TOWN_KEY = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
PUBLIC_REST = {"encryption_key": "age1test", "tls_fingerprint": "0" * 64}


def a_certificate(issuer_key: Ed25519PrivateKey, issuer: str, subject: str, key: Ed25519PrivateKey,
                  not_before: int = 100, retires: tuple[bytes, int] | None = None) -> certs.Certificate:
    return certs.issue(issuer_key, issuer, subject, subject, {"public_key": public_bytes(key).hex(), **PUBLIC_REST},
                       not_before, 10**9, retires)


A_CERT = a_certificate(ROOT_KEY, CITY, CITY, ROOT_KEY)


def key_ring_holds_every_key_of_a_node_and_its_cuts(make_store: MakeStore) -> None:
    store = make_store()
    k1, k2 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    first = a_certificate(TOWN_KEY, TOWN, VILLAGE, k1)
    assert store.keys.public_key(VILLAGE) is None and store.keys.certificate(first.key_id) is None
    with store.transaction():
        assert store.keys.add(first) is True
        assert store.keys.add(first) is False  # known
    assert store.keys.public_key(VILLAGE) == public_bytes(k1)
    assert store.keys.certificate(first.key_id) == first
    assert store.keys.transit(VILLAGE) == ("age1test", "0" * 64)
    second = a_certificate(TOWN_KEY, TOWN, VILLAGE, k2, not_before=200, retires=(first.key_id, 41))
    with store.transaction():
        store.keys.add(second)  # a rotation: the new key is current, the old one cut after 41
        store.keys.cut(first.key_id, VILLAGE_B, 1, "revoked", ("原因", "why"))  # another node's: no effect
    assert store.keys.public_key(VILLAGE) == public_bytes(k2)
    assert store.keys.for_seal(VILLAGE, first.key_id)[:2] == (public_bytes(k1), 41)
    assert store.keys.for_seal(VILLAGE, second.key_id)[:2] == (public_bytes(k2), None)
    assert store.keys.for_seal(TOWN, second.key_id) is None  # a key is its node's only
    assert store.keys.revocation(VILLAGE) is None
    with store.transaction():
        store.keys.cut(second.key_id, VILLAGE, 50, "revoked", ("丢失", "lost"))
        store.keys.cut(second.key_id, VILLAGE, 60, "revoked", ("丢失", "lost"))  # the lowest cut holds
        store.keys.cut(first.key_id, VILLAGE, 30, "revoked", ("被盗", "stolen"))  # outranks the retirement
    assert store.keys.revocation(VILLAGE) == (50, "lost", "丢失")
    assert store.keys.for_seal(VILLAGE, first.key_id)[1:] == (30, "stolen", "被盗")
    assert store.keys.revoked(second.key_id, VILLAGE) and not store.keys.revoked(second.key_id, TOWN)
    with store.transaction():
        store.keys.trust(TOWN, b"t" * 32)  # a bare pinned key (enrollment of an older node, tests)
    assert store.keys.public_key(TOWN) == b"t" * 32 and store.keys.certificate(certs.key_id(b"t" * 32)) is None
    with store.transaction():
        store.keys.bind_peers([7, 8, 8], VILLAGE)
        store.keys.bind_peers([8, 9], TOWN)  # a peer id binds to the first author that signed it
    assert store.keys.owners([7, 8, 9, 10]) == {7: VILLAGE, 8: VILLAGE, 9: TOWN, 10: None}


# -- quarantine --------------------------------------------------------------------------------
def quarantine_keeps_refused_seals_with_their_reason(make_store: MakeStore) -> None:
    store = make_store()
    assert store.quarantine.count() == 0 and store.quarantine.rows() == [] and store.quarantine.summary() == []
    bad, waiting = a_seal(2), a_seal(3)
    with store.transaction():
        assert store.quarantine.add(TOWN, NOW, VILLAGE, 2, f"bad signature on seal {VILLAGE}#2", bad.body,
                                    bad.signature, reason_zh=f"签封 {VILLAGE}#2 的签名无效")
        assert store.quarantine.add(VILLAGE, NOW, None, None, "malformed seal: junk", b"junk", b"")
        assert store.quarantine.add(TOWN, NOW, VILLAGE, 3, f"seal from unknown node {VILLAGE}", waiting.body,
                                    waiting.signature, keep_body=True)
    assert (store.quarantine.count(), store.quarantine.count(TOWN), store.quarantine.count(TOWN[:6])) == (3, 2, 0)
    rows = store.quarantine.rows()
    assert [{k: v for k, v in r.items() if k != "id"} for r in rows] == [
        {"received_at": NOW, "received_from": TOWN, "author": VILLAGE, "seq": 2,
         "reason": f"bad signature on seal {VILLAGE}#2", "reason_zh": f"签封 {VILLAGE}#2 的签名无效",
         "bytes": len(bad.body)},
        {"received_at": NOW, "received_from": VILLAGE, "author": None, "seq": None,
         "reason": "malformed seal: junk", "reason_zh": None, "bytes": 4},
        {"received_at": NOW, "received_from": TOWN, "author": VILLAGE, "seq": 3,
         "reason": f"seal from unknown node {VILLAGE}", "reason_zh": None, "bytes": len(waiting.body)}]
    assert [(q["peer"], q["reason"], q["reason_zh"], q["count"]) for q in store.quarantine.summary()] == [
        (TOWN, "bad signature on seal …", "签封 … 的签名无效", 1), (TOWN, "seal from unknown node …", None, 1),
        (VILLAGE, "malformed seal", None, 1)]
    # only what may yet go in keeps its bytes
    assert store.quarantine.waiting_for(VILLAGE, "bad signature") == []
    assert store.quarantine.waiting_for(VILLAGE, "seal from unknown node") == [
        (rows[2]["id"], TOWN, waiting.body, waiting.signature, seal_digest(waiting.body, waiting.signature))]
    before = snapshot(store)
    with store.transaction():  # the same bytes again, the same refusal of the same seal: nothing written
        assert not store.quarantine.add(TOWN, NOW, VILLAGE, 2, "bad signature", bad.body, bad.signature)
        assert store.quarantine.add(TOWN, NOW, VILLAGE, 2, f"bad signature on seal {VILLAGE}#2", b"other", b"")
    assert snapshot(store) == before
    with store.transaction():
        store.quarantine.remove(rows[0]["id"])
        store.quarantine.release(seal_digest(waiting.body, waiting.signature))
    assert store.quarantine.count() == 1 and store.quarantine.count(TOWN) == 0
    assert [q["peer"] for q in store.quarantine.summary()] == [VILLAGE]


def quarantine_is_bounded_per_peer(make_store: MakeStore) -> None:
    """The newest KEEP_PER_PEER rows a peer caused are kept; every refusal is counted, under
    at most MAX_REASONS_PER_PEER reason classes."""
    store = make_store()
    keep, classes = type(store.quarantine).KEEP_PER_PEER, type(store.quarantine).MAX_REASONS_PER_PEER
    with store.transaction():
        for i in range(keep + 10):
            store.quarantine.add(TOWN, NOW, None, None, f"reason {'abcdefghijklmnopqrstuvwxyz'[i % 26] * (i + 1)}",
                                 i.to_bytes(4, "big"), b"")
        store.quarantine.add(VILLAGE, NOW, None, None, "malformed seal", b"v", b"")
    rows = store.quarantine.rows()
    assert len([r for r in rows if r["received_from"] == TOWN]) == keep
    assert rows[0]["reason"].endswith("k" * 11) and store.quarantine.count(TOWN) == keep + 10
    summary = [q for q in store.quarantine.summary() if q["peer"] == TOWN]
    assert len(summary) == classes and sum(q["count"] for q in summary) == keep + 10
    assert "(other reasons)" in {q["reason"] for q in summary}
    assert store.quarantine.count(VILLAGE) == 1


CONTRACT = (transaction_is_all_or_nothing, nested_transactions_join_the_outer_one,
            a_savepoint_undoes_only_its_part, writes_outside_a_transaction_are_refused,
            repository_writes_outside_a_transaction_are_refused, documents_round_trip,
            feed_appends_and_answers, peer_positions_move_as_the_protocol_says,
            key_ring_holds_every_key_of_a_node_and_its_cuts, quarantine_keeps_refused_seals_with_their_reason,
            quarantine_is_bounded_per_peer)


def store_contract(open_store: Callable, known_failures: dict[str, str] | None = None):
    """A test running every check of the contract on stores made by `open_store(path)`;
    `known_failures` names checks the store is known to fail (strict xfails, with why)."""
    known = known_failures or {}
    params = [pytest.param(check, id=check.__name__,
                           marks=[pytest.mark.xfail(strict=True, reason=known[check.__name__])]
                           if check.__name__ in known else [])
              for check in CONTRACT]

    @pytest.mark.parametrize("check", params)
    def test(check, tmp_path):
        opened = []

        def make_store():
            opened.append(open_store(tmp_path / f"store-{len(opened)}.db"))
            return opened[-1]
        try:
            check(make_store)
        finally:
            for store in opened:
                store.close()
    return test


test_sqlite_store = store_contract(Store)
