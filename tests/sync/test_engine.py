"""The sync engine on real SQLite stores (no node, no HTTP): sealing own changes, batches
and their positions, receiving (duplicates, gaps, quarantine, pending changes, deferred
application) and visibility of what is offered."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from yimen.sync import certs
from yimen.sync.certs import key_id
from yimen.sync.store import driver
from yimen.sync import seal as seals
from yimen.sync.docs import Doc, change_spans, new_peer_id
from yimen.sync.engine import Batch, Engine, OutOfOrder, Receipt, public_bytes
from yimen.sync.errors import StoreError
from yimen.sync.positions import BadPosition
from yimen.sync.seal import MAX_SEAL_BYTES, Seal, SealedChange, Unsealable
from yimen.sync.store import Store
from yimen.sync.store.repos import Quarantine

CITY, DISTRICT, TOWN = "4406", "440608", "440608100"
VILLAGE, VILLAGE_B, STRANGER = "440608100201", "440608100202", "440608100203"
KEYS = {n: Ed25519PrivateKey.generate() for n in (CITY, DISTRICT, TOWN, VILLAGE, VILLAGE_B, STRANGER)}
FORGER = Ed25519PrivateKey.generate()
EVERYTHING = 1 << 40  # max_bytes large enough for any batch here


# -------------------------------------------------------------------------- helpers

def of(scope: str, name: str) -> str:
    """The id of `scope`'s document `name`: a document's id names its owner (see
    `visibility.owner`), like a receipt number `<region>-<year>-<seq>`."""
    return f"{scope}-{name}"


C1, C2, C3, K1 = of(VILLAGE, "c1"), of(VILLAGE, "c2"), of(VILLAGE, "c3"), of(VILLAGE, "k1")
ITEM, T_ITEM = f"item:{VILLAGE}:village", f"item:{TOWN}:town"  # a catalog item's id names its publisher and code
V_ITEM, B_ITEM = f"item:{VILLAGE}:v-item", f"item:{VILLAGE_B}:b-item"

def introduce(store: Store, node_id: str, public_key: bytes) -> None:
    """Make `node_id`'s key known to `store` (as enrollment does)."""
    with store.transaction():
        store.keys.trust(node_id, public_key)


def quarantine(node: Node) -> list[tuple]:
    """(author, seq, received_from, reason) of every quarantined seal."""
    return [(r["author"], r["seq"], r["received_from"], r["reason"]) for r in node.store.quarantine.rows()]


@dataclass
class Node:
    id: str
    store: Store
    engine: Engine

    @property
    def key(self) -> Ed25519PrivateKey:
        return KEYS[self.id]


def make_node(path: Path, node_id: str, knows: tuple[str, ...] = (), **kw) -> Node:
    store = Store(path)
    for other in knows:
        introduce(store, other, public_bytes(KEYS[other]))
    # seal numbers 1, 2, 3 ... (no wall-clock floor), as the assertions here name them
    return Node(node_id, store, Engine(store, node_id, KEYS[node_id], **{"seal_floor": lambda: 0, **kw}))


@pytest.fixture
def net(tmp_path):
    """A town and two of its villages, and the district above, each knowing the others' keys."""
    ids = {"district": DISTRICT, "town": TOWN, "village": VILLAGE, "village_b": VILLAGE_B}
    nodes = {name: make_node(tmp_path / f"{name}.db", rc, knows=tuple(o for o in ids.values() if o != rc))
             for name, rc in ids.items()}
    yield nodes
    for n in nodes.values():
        n.store.close()


def write(node: Node, doc_id: str, kind: str = "case", scope: str | None = None, **fields) -> None:
    """Create `doc_id` (or edit the copy held) and save the edit as one change by `node`."""
    store = node.store
    doc = store.get(doc_id) or store.new_doc(doc_id, kind, scope or node.id)
    doc.update("data", fields or {"n": 1})
    with store.transaction():
        assert store.save(doc, node.id) is not None


def docs_of(node: Node) -> dict[str, tuple]:
    return {d.doc_id: (d.kind, d.scope, d.value(), d.version()) for d in node.store.docs()}


def pending_of(node: Node, *doc_ids: str) -> dict[str, list]:
    """The changes waiting for their dependencies, by document, among the documents held
    and `doc_ids` (a document whose every change waits is not held yet)."""
    return node.store.changes.known([d.doc_id for d in node.store.docs()] + list(doc_ids))[1]


def dump(node: Node) -> list[str]:
    return list(driver.iterdump(node.store.conn))


def dump_but_traffic(node: Node) -> list[str]:
    """Every row but the peers' traffic counters and last contact (a batch received again
    still counts as traffic)."""
    return [line for line in dump(node) if not line.startswith('INSERT INTO "peers"')]


def push(src: Node, dst: Node, max_bytes: int = EVERYTHING, defer: bool = False) -> list[Receipt]:
    """Seal what `src` has, then send `dst` everything it may see, batch by batch."""
    src.engine.seal_pending()
    since, receipts = dst.engine.positions(src.id)[0], []
    while True:
        batch = src.engine.next_batch(dst.id, since, max_bytes)
        receipts.append(dst.engine.receive(src.id, batch, defer=defer))
        src.engine.set_sent(dst.id, receipts[-1].recv_upto)
        since = receipts[-1].recv_upto
        if not batch.more:
            return receipts


def feed(node: Node) -> list[tuple[bytes, bytes]]:
    """Every seal in `node`'s feed, oldest first (as offered to a peer that sees all and sent nothing)."""
    return node.engine.next_batch(CITY, 0, EVERYTHING).seals


def decoded(pairs) -> list[Seal]:
    return [seals.decode(b, s) for b, s in pairs]


def ids_in(pairs) -> list[tuple[str, int]]:
    return [(s.author, s.seq) for s in decoded(pairs)]


def crafted(doc_id: str, scope: str, peer: int | None = None, kind: str = "case", base: Doc | None = None,
            **fields) -> SealedChange:
    """A real Loro change (of `base`'s copy, or a new document) by Loro peer `peer`, as a seal carries it."""
    peer = peer or new_peer_id()
    doc = Doc.from_bytes(doc_id, kind, scope, base.oplog(), peer) if base else Doc.new(doc_id, kind, scope, peer)
    doc.update("data", fields or {"crafted": True})
    c = doc.commit()
    return SealedChange(doc_id, kind, peer, c.counter_start, c.counter_end, doc.export_change(c))


def sealed(author: str, seq: int, scope: str, changes: list[SealedChange], down: bool = False,
           key: Ed25519PrivateKey | None = None) -> tuple[bytes, bytes]:
    s = seals.make(key or KEYS[author], author, seq, scope, down, changes)
    return s.body, s.signature


def forged_signature(author: str, seq: int, scope: str, changes: list[SealedChange]) -> tuple[bytes, bytes]:
    """A seal naming `author`'s key but signed by another."""
    body = seals.encode(author, seq, scope, 0, key_id(public_bytes(KEYS[author])), changes)
    return body, seals.sign(FORGER, body)


# -------------------------------------------------------------------------- sealing own changes

def test_sealing_signs_unsealed_changes_into_one_seal_per_scope(net):
    v = net["village"]
    write(v, C1, applicant="陈美玲")
    write(v, C2, applicant="李敏")
    assert [c.doc_id for c in v.store.unsealed()] == [C1, C2]
    assert v.engine.seal_pending() == 1
    assert v.store.unsealed() == []
    assert v.engine.feed_head() == 1
    [s] = decoded(feed(v))
    assert (s.author, s.seq, s.scope, s.down) == (VILLAGE, 1, VILLAGE, False)
    seals.verify(s, public_bytes(v.key))
    assert [(c.doc_id, c.kind, c.peer, c.start) for c in s.changes] == [
        (C1, "case", v.store.peer, 0), (C2, "case", v.store.peer, 0)]
    for c in s.changes:
        assert change_spans(c.blob) == {v.store.peer: (c.start, c.end)}
    assert v.engine.seal_pending() == 0
    assert v.engine.feed_head() == 1


def test_contiguous_unsealed_changes_of_a_document_travel_as_one(net):
    v = net["village"]
    write(v, C1, step=1)
    v.engine.seal_pending()
    write(v, C1, step=2)
    write(v, C1, step=3)
    assert len(v.store.unsealed()) == 2
    assert v.engine.seal_pending() == 1
    first, second = decoded(feed(v))
    [c] = second.changes
    assert c.start == first.changes[0].end
    assert change_spans(c.blob) == {v.store.peer: (first.changes[0].end, c.end)}
    doc = v.store.get(C1)
    assert doc.has_change(v.store.peer, c.end) and not doc.has_change(v.store.peer, c.end + 1)


def test_down_documents_are_sealed_first_and_scopes_and_directions_apart(net):
    t = net["town"]
    write(t, of(TOWN, "c-town"), scope=TOWN)
    write(t, of(VILLAGE, "c-village"), scope=VILLAGE)  # a town may write its villages' documents
    write(t, T_ITEM, kind="catalog_item", scope=TOWN)
    write(t, of(TOWN, "c-town-2"), scope=TOWN)
    assert t.engine.seal_pending() == 3
    got = decoded(feed(t))
    assert [(s.seq, s.scope, s.down, [c.doc_id for c in s.changes]) for s in got] == [
        (1, TOWN, True, [T_ITEM]),
        (2, TOWN, False, [of(TOWN, "c-town"), of(TOWN, "c-town-2")]),
        (3, VILLAGE, False, [of(VILLAGE, "c-village")]),
    ]


def test_max_seals_seals_a_part_and_the_rest_later(net):
    t = net["town"]
    write(t, T_ITEM, kind="catalog_item", scope=TOWN)
    write(t, of(TOWN, "c1"), scope=TOWN)
    write(t, C2, scope=VILLAGE)
    assert t.engine.seal_pending(max_seals=1) == 1
    assert sorted(c.doc_id for c in t.store.unsealed()) == sorted([of(TOWN, "c1"), C2])
    assert t.engine.seal_pending(max_seals=1) == 1
    assert t.engine.seal_pending() == 1
    assert t.store.unsealed() == [] and t.engine.feed_head() == 3
    assert [s.seq for s in decoded(feed(t))] == [1, 2, 3]


def test_changes_are_split_into_seals_within_the_size_limit(net):
    v = net["village"]
    for i in range(5):  # ~60 KB of hardly compressible text each: 300 KB in all
        write(v, of(VILLAGE, f"c{i}"), text=os.urandom(30_000).hex())
    assert v.engine.seal_pending() == 2
    got = decoded(feed(v))
    assert [[c.doc_id for c in s.changes] for s in got] == [[of(VILLAGE, f"c{i}") for i in range(4)], [of(VILLAGE, "c4")]]
    assert all(sum(len(c.blob) for c in s.changes) <= MAX_SEAL_BYTES for s in got)
    [r] = push(v, net["town"])
    assert (r.imported, r.quarantined) == (2, [])
    assert docs_of(net["town"]) == docs_of(v)


def test_own_seals_never_come_back_as_imports(net):
    v, t = net["village"], net["town"]
    write(v, C1)
    push(v, t)
    write(t, C1, scope=VILLAGE, by="town")
    [r] = push(t, v)
    assert r.imported == 1  # the town's edit; the village's own seal was not offered
    assert docs_of(v)[C1] == docs_of(t)[C1]


# -------------------------------------------------------------------------- receive

def test_a_batch_makes_the_receivers_documents_equal(net):
    v, t = net["village"], net["town"]
    write(v, C1, applicant="陈美玲")
    write(v, C1, status="accepted")
    write(v, K1, kind="consent", purpose="转办")
    v.engine.seal_pending()
    batch = v.engine.next_batch(TOWN, 0)
    assert (batch.sender, batch.start, batch.next, batch.more) == (VILLAGE, 0, 1, False)
    r = t.engine.receive(VILLAGE, batch)
    assert (r.recv_upto, r.imported, r.duplicates, r.changes, r.pending, r.quarantined, r.docs, r.deferred) == \
        (1, 1, 0, 2, 0, [], 2, 0)
    assert docs_of(t) == docs_of(v)
    assert docs_of(t)[C1][2]["data"] == {"applicant": "陈美玲", "status": "accepted"}
    assert t.engine.positions(VILLAGE) == (1, 0)


def test_on_imported_sees_every_document_that_moved(tmp_path):
    v = make_node(tmp_path / "v.db", VILLAGE)
    seen = []
    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,), on_imported=lambda docs: seen.append(
        sorted((d.doc_id, d.value()["data"]["n"]) for d in docs)))
    write(v, C1, n=1)
    write(v, C2, n=2)
    push(v, t)
    assert seen == [[(C1, 1), (C2, 2)]]


def test_receiving_a_batch_again_counts_duplicates_and_changes_nothing(net):
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    write(v, C2)
    v.engine.seal_pending()
    batch = v.engine.next_batch(TOWN, 0)
    first = t.engine.receive(VILLAGE, batch)
    before = dump_but_traffic(t)
    again = t.engine.receive(VILLAGE, batch)
    assert (first.imported, first.duplicates) == (2, 0)
    assert (again.imported, again.duplicates, again.changes, again.docs, again.quarantined) == (0, 2, 0, 0, [])
    assert again.recv_upto == first.recv_upto == 2
    assert dump_but_traffic(t) == before


def test_a_seal_twice_in_one_batch_is_imported_once(net):
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    [pair] = feed(v)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [pair, pair]))
    assert (r.imported, r.duplicates, r.changes) == (1, 1, 1)


def test_an_overlapping_batch_imports_only_what_is_new(net):
    v, t = net["village"], net["town"]
    for i in range(3):
        write(v, of(VILLAGE, f"c{i}"))
        v.engine.seal_pending()
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0, max_bytes=1))
    assert t.engine.positions(VILLAGE)[0] == 1
    r = t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0))  # starts before what is held
    assert (r.imported, r.duplicates, r.recv_upto) == (2, 1, 3)
    assert docs_of(t) == docs_of(v)


def test_a_gap_raises_out_of_order_and_writes_nothing(net):
    v, t = net["village"], net["town"]
    for i in range(3):
        write(v, of(VILLAGE, f"c{i}"))
        v.engine.seal_pending()
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0, max_bytes=1))
    before = dump(t)
    with pytest.raises(OutOfOrder) as e:
        t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 2))
    assert e.value.code == "out_of_order"
    assert "resend from 1" in e.value.en
    assert dump(t) == before
    r = t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 1))
    assert (r.imported, r.recv_upto) == (2, 3)


def test_positions_are_kept_per_peer_and_never_go_back(net):
    v, b, t = net["village"], net["village_b"], net["town"]
    assert t.engine.positions(VILLAGE) == (0, 0)
    for i in range(3):
        write(v, of(VILLAGE, f"c{i}"))
        v.engine.seal_pending()
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0))
    assert t.engine.positions(VILLAGE) == (3, 0)
    assert t.engine.positions(VILLAGE_B) == (0, 0)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, []))  # an old, empty batch
    assert r.recv_upto == 3 and t.engine.positions(VILLAGE) == (3, 0)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 3, 9, []))  # nothing visible up to 9
    assert (r.recv_upto, r.imported) == (9, 0)
    assert t.engine.positions(VILLAGE)[0] == 9
    assert b.engine.positions(TOWN) == (0, 0)


def test_set_sent_records_a_position_of_our_feed_and_refuses_any_other(net):
    v = net["village"]
    for bad in (5, -1, True, 2**63):  # past an empty feed's end, negative, not an int, too large
        with pytest.raises(BadPosition):
            v.engine.set_sent(TOWN, bad)
    assert v.engine.positions(TOWN) == (0, 0)
    for i in range(3):
        write(v, of(VILLAGE, f"c{i}"))
        v.engine.seal_pending()
    with pytest.raises(BadPosition):
        v.engine.set_sent(TOWN, 4)
    assert v.engine.set_sent(TOWN, 3) == 3
    assert v.engine.positions(TOWN) == (0, 3)
    v.engine.set_sent(TOWN, 1)  # lower: the peer lost what it had (a restored backup)
    assert v.engine.positions(TOWN) == (0, 1)
    assert v.engine.positions(DISTRICT) == (0, 0)


# -------------------------------------------------------------------------- quarantine

def test_bad_seals_are_quarantined_with_their_reason_and_the_good_go_in(net):
    v, t = net["village"], net["town"]
    write(v, of(VILLAGE, "good-1"))
    v.engine.seal_pending()
    write(v, of(VILLAGE, "good-2"))
    v.engine.seal_pending()
    good_1, good_2 = feed(v)
    # a change whose blob holds the ops of the document's first peer as well as its own
    first = Doc.new(of(VILLAGE, "shared"), "case", VILLAGE, new_peer_id())
    first.commit()
    copy = Doc.from_bytes(of(VILLAGE, "shared"), "case", VILLAGE, first.oplog(), new_peer_id())
    copy.update("data", {"edited": True})
    ch = copy.commit()
    whole = SealedChange(of(VILLAGE, "shared"), "case", ch.peer, ch.counter_start, ch.counter_end, copy.oplog())
    bad = {
        "bad signature": forged_signature(VILLAGE, 50, VILLAGE, [crafted(of(VILLAGE, "forged"), VILLAGE)]),
        f"seal from unknown node {VILLAGE} (key": sealed(VILLAGE, 55, VILLAGE, [crafted(of(VILLAGE, "k"), VILLAGE)],
                                                         key=FORGER),
        f"seal from unknown node {STRANGER}": sealed(STRANGER, 1, STRANGER, [crafted(of(STRANGER, "stranger"), STRANGER)]),
        f"node {VILLAGE} may not write documents of {TOWN}": sealed(VILLAGE, 51, TOWN, [crafted(of(TOWN, "up"), TOWN)]),
        f"node {VILLAGE} may not write documents of {VILLAGE_B}":
            sealed(VILLAGE, 52, VILLAGE_B, [crafted(of(VILLAGE_B, "sideways"), VILLAGE_B)]),
        "holds ops": sealed(VILLAGE, 53, VILLAGE, [whole]),
        "with flow=1": sealed(VILLAGE, 54, VILLAGE, [crafted(of(VILLAGE, "case-down"), VILLAGE)], down=True),
        "malformed seal": (b"\x78\x9cnot a seal", b"s" * 64),
    }
    batch = Batch(VILLAGE, 0, 2, [good_1, *bad.values(), good_2])
    r = t.engine.receive(VILLAGE, batch)
    assert (r.imported, r.recv_upto, r.changes) == (2, 2, 2)
    assert len(r.quarantined) == len(bad)
    for expected, reason in zip(bad, r.quarantined):
        assert expected in reason
    rows = quarantine(t)
    assert [row[3] for row in rows] == r.quarantined
    assert all(row[2] == VILLAGE for row in rows)
    assert [row[:2] for row in rows][:7] == [(VILLAGE, 50), (VILLAGE, 55), (STRANGER, 1), (VILLAGE, 51),
                                             (VILLAGE, 52), (VILLAGE, 53), (VILLAGE, 54)]
    assert rows[7][:2] == (None, None)  # undecodable: no author known
    assert sorted(docs_of(t)) == [of(VILLAGE, "good-1"), of(VILLAGE, "good-2")]
    assert ids_in(feed(t)) == [(VILLAGE, 1), (VILLAGE, 2)]  # refused seals are never relayed


def test_a_change_labelled_with_another_peer_is_quarantined(net):
    v, t = net["village"], net["town"]
    c = crafted(C1, VILLAGE)
    relabelled = SealedChange(c.doc_id, c.kind, c.peer ^ 2, c.start, c.end, c.blob)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [sealed(VILLAGE, 1, VILLAGE, [relabelled])]))
    assert r.imported == 0 and "holds ops" in r.quarantined[0]
    span = SealedChange(c.doc_id, c.kind, c.peer, c.start, c.end + 1, c.blob)  # claims one op more
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [sealed(VILLAGE, 2, VILLAGE, [span])]))
    assert r.imported == 0 and "holds ops" in r.quarantined[0]
    assert docs_of(t) == {} and len(quarantine(t)) == 2


def test_a_peer_id_belongs_to_the_first_author_that_signed_it(net):
    v, b, t = net["village"], net["village_b"], net["town"]
    write(v, C1)
    push(v, t)
    stolen = crafted(of(VILLAGE_B, "b-doc"), VILLAGE_B, peer=v.store.peer)
    r = t.engine.receive(VILLAGE_B, Batch(VILLAGE_B, 0, 1, [sealed(VILLAGE_B, 1, VILLAGE_B, [stolen])]))
    assert r.imported == 0
    assert r.quarantined == [f"peer {v.store.peer} belongs to {VILLAGE}, not {VILLAGE_B}"]
    assert of(VILLAGE_B, "b-doc") not in docs_of(t)


@pytest.mark.parametrize("defer", [False, True])
def test_a_change_must_keep_the_kind_and_scope_of_the_document_held(net, defer):
    v, t = net["village"], net["town"]
    write(v, C1)
    push(v, t)
    base = v.store.get(C1)
    as_consent = crafted(C1, VILLAGE, peer=v.store.peer, kind="consent", base=base)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 1, 1, [sealed(VILLAGE, 2, VILLAGE, [as_consent])]), defer=defer)
    assert r.quarantined == [f"document {C1} kind/scope mismatch"]
    # and one kind per document within a seal
    a = crafted(of(VILLAGE, "new"), VILLAGE, peer=v.store.peer)
    b = crafted(of(VILLAGE, "new"), VILLAGE, peer=v.store.peer, kind="consent")
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 1, 1, [sealed(VILLAGE, 3, VILLAGE, [a, b])]), defer=defer)
    assert r.quarantined == [f"document {of(VILLAGE, 'new')} kind/scope mismatch"]
    assert sorted(docs_of(t)) == [C1]
    assert t.engine.backlog() == 0  # checked on arrival, even when deferred: never stored
    assert ids_in(feed(t)) == [(VILLAGE, 1)]


CONTENT_ERRORS = [RuntimeError("projection failed"), OverflowError("Python int too large to convert to SQLite INTEGER"),
                  driver.ProgrammingError("Error binding parameter 8: type 'list' is not supported"),
                  driver.IntegrityError("UNIQUE constraint failed"), driver.InterfaceError("bad parameter")]
POISON = of(VILLAGE, "poison")


def poisoned_projection(node: Node, error: BaseException):
    """An `on_imported` hook that records what it projected in `meta` and fails, after
    writing, with `error` on the document POISON."""
    def project(docs):
        for d in docs:
            node.store.set_meta(f"projected:{d.doc_id}", "1")
        if any(d.doc_id == POISON for d in docs):
            raise error
    return project


@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize("error", CONTENT_ERRORS, ids=lambda e: type(e).__name__)
def test_a_document_the_hook_cannot_project_is_kept_and_its_seal_goes_in(tmp_path, caplog, defer, error):
    """The hook's failure is not the seal's: the seal is stored and applied (documents are
    the truth), only the hook's writes for it are undone, and the error is logged."""
    v = make_node(tmp_path / "v.db", VILLAGE)
    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,))
    t.engine.on_imported = poisoned_projection(t, error)
    for doc_id in (C1, POISON, C2):
        write(v, doc_id)
        v.engine.seal_pending()
    r = t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0), defer=defer)
    while t.engine.catch_up():
        pass
    assert (r.imported, r.quarantined, r.recv_upto) == (3, [], 3)
    assert docs_of(t) == docs_of(v) and quarantine(t) == []
    assert ids_in(feed(t)) == [(VILLAGE, 1), (VILLAGE, 2), (VILLAGE, 3)]
    assert [t.store.meta(f"projected:{d}") for d in (C1, POISON, C2)] == ["1", None, "1"]
    assert str(error) in caplog.text and POISON in caplog.text


@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize("error", [driver.OperationalError("database or disk is full"),
                                   driver.DatabaseError("database disk image is malformed"),
                                   driver.ProgrammingError("Cannot operate on a closed database.")],
                         ids=lambda e: str(e).split()[0])
def test_a_failing_database_ends_the_whole_transaction(tmp_path, error, defer):
    """The database failing is no seal's fault: nothing of the batch (or of the catch-up)
    is written, and the caller sees a StoreError to retry later."""
    v = make_node(tmp_path / "v.db", VILLAGE)
    failing = {"on": False}

    def project(docs):
        if failing["on"]:
            raise error

    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,), on_imported=project)
    for doc_id in (C1, C2):
        write(v, doc_id)
        v.engine.seal_pending()
    batch = v.engine.next_batch(TOWN, 0)
    if defer:
        t.engine.receive(VILLAGE, batch, defer=True)
    before, failing["on"] = dump(t), True
    with pytest.raises(StoreError):
        t.engine.catch_up() if defer else t.engine.receive(VILLAGE, batch)
    assert dump(t) == before
    failing["on"] = False
    t.engine.receive(VILLAGE, batch)
    while t.engine.catch_up():
        pass
    assert sorted(docs_of(t)) == [C1, C2] and quarantine(t) == []


def test_a_seal_set_aside_is_quarantined_and_the_next_applied(tmp_path):
    v = make_node(tmp_path / "v.db", VILLAGE)
    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,))
    for doc_id in (C1, C2):
        write(v, doc_id)
        v.engine.seal_pending()
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0), defer=True)
    assert t.engine.set_aside_oldest("RuntimeError('a fault of ours')")
    assert t.engine.catch_up() == 1 and t.engine.backlog() == 0
    assert not t.engine.set_aside_oldest("nothing waits")
    assert quarantine(t) == [(VILLAGE, 1, VILLAGE, "seal could not be applied: RuntimeError('a fault of ours')")]
    assert sorted(docs_of(t)) == [C2]
    assert ids_in(feed(t)) == [(VILLAGE, 1), (VILLAGE, 2)]  # it was relayed all the same


def test_a_seal_from_an_unknown_node_goes_in_once_a_node_record_vouches_for_its_key(net, tmp_path):
    t, d = net["town"], net["district"]
    stranger = make_node(tmp_path / "stranger.db", STRANGER, knows=(TOWN,))
    introduce(t.store, STRANGER, public_bytes(KEYS[STRANGER]))
    write(stranger, of(STRANGER, "s1"), applicant="新村民")
    push(stranger, t)
    vouch(t, d, STRANGER)
    t.engine.seal_pending()
    assert d.engine.public_key(STRANGER) is None
    # the stranger's seal comes first in the batch, the record vouching for it after
    [r] = push(t, d)
    assert d.engine.public_key(STRANGER) == public_bytes(KEYS[STRANGER])
    assert docs_of(d)[of(STRANGER, "s1")] == docs_of(stranger)[of(STRANGER, "s1")]
    assert quarantine(d) == []
    assert r.imported == 2
    stranger.store.close()


def test_a_seal_admitted_later_in_the_batch_is_not_reported_quarantined(net, tmp_path):
    """The stranger's seal is refused (unknown author), then its node record comes in the
    same batch and the seal goes in: the receipt tells the sender nothing was refused."""
    t, d = net["town"], net["district"]
    stranger = make_node(tmp_path / "stranger.db", STRANGER, knows=(TOWN,))
    introduce(t.store, STRANGER, public_bytes(KEYS[STRANGER]))
    write(stranger, of(STRANGER, "s1"))
    push(stranger, t)
    vouch(t, d, STRANGER)
    [r] = push(t, d)
    assert (r.imported, r.quarantined) == (2, [])
    assert d.store.quarantine.count() == 0 and d.store.quarantine.summary() == []
    stranger.store.close()


STRANGER_KID = key_id(public_bytes(KEYS[STRANGER])).hex()
PUBLIC_REST = {"encryption_key": "age1test", "tls_fingerprint": "0" * 64}


def certificate(issuer: str, subject: str, key: Ed25519PrivateKey | None = None) -> certs.Certificate:
    public = {"public_key": public_bytes(key or KEYS[subject]).hex(), **PUBLIC_REST}
    return certs.issue(KEYS[issuer], issuer, subject, "", public, 0, 2**39)


def vouch(t: Node, d: Node, subject: str) -> None:
    """Town `t` writes `subject`'s node record with the certificate it issues; district `d`
    holds the town's own certificate (as the trust list would have brought it)."""
    with d.store.transaction():
        d.store.keys.add(certificate(DISTRICT, TOWN))
    record = t.store.new_doc(f"node:{subject}", "node", subject)
    cert = certificate(TOWN, subject)
    record.put("certificates", cert.key_id.hex(), cert.raw)
    with t.store.transaction():
        t.store.save(record, TOWN)


def malformed_record(node: Node, make) -> None:
    """A node record for STRANGER that `make(doc)` fills in some broken way."""
    record = node.store.new_doc(f"node:{STRANGER}", "node", STRANGER)
    make(record)
    with node.store.transaction():
        node.store.save(record, node.id)


MALFORMED_RECORDS = {
    "a list": lambda doc: doc._loro.get_list("certificates").insert(0, "x"),
    "a text": lambda doc: doc._loro.get_text("certificates").insert(0, "x"),
    "not bytes": lambda doc: doc.put("certificates", "k", 5),
    "a map": lambda doc: doc.put("certificates", "k", {"k": b"ab"}),
    "garbage": lambda doc: doc.put("certificates", "k", b"\x92\xc4\x01x"),
    "too large": lambda doc: doc.put("certificates", "k", bytes(4000)),
    "forged": lambda doc: doc.put("certificates", "k", certificate(STRANGER, STRANGER).raw),  # self-issued
    "another node's": lambda doc: doc.put("certificates", "k", certificate(TOWN, VILLAGE_B, KEYS[STRANGER]).raw),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED_RECORDS))
def test_a_malformed_node_record_vouches_for_nothing_and_fails_nothing(net, shape):
    """A node record is read when it is applied (outside the seal's savepoint): whatever it
    holds, it is a document like another, vouches for no key, and the batch goes on."""
    t, d = net["town"], net["district"]
    malformed_record(t, MALFORMED_RECORDS[shape])
    write(t, of(TOWN, "c1"), scope=TOWN)
    [r] = push(t, d)
    assert (r.imported, r.quarantined) == (2, [])
    assert d.engine.public_key(STRANGER) is None
    assert sorted(docs_of(d)) == [of(TOWN, "c1"), f"node:{STRANGER}"]


# -------------------------------------------------------------------------- quarantine is bounded
# One 60 KB signed push once added 20,000 rows: quarantine keeps a refused seal once, keeps
# only the newest rows per peer in full, keeps bytes only of seals that may yet go in, and
# counts everything per peer and reason for the admin.

def forged(n: int, first: int = 100, author: str = VILLAGE) -> list[tuple[bytes, bytes]]:
    """`n` distinct seals claiming `author`, signed with a key that is not its own."""
    return [forged_signature(author, first + i, author, [crafted(of(author, f"f{i}"), author)]) for i in range(n)]


def bodies_kept(node: Node) -> list[tuple]:
    return node.store.conn.execute("SELECT author, seq, body IS NOT NULL FROM quarantine ORDER BY id").fetchall()


def test_a_refused_seal_delivered_again_is_a_duplicate_and_writes_nothing(net):
    t = net["town"]
    [bad] = forged(1)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [bad, bad]))
    assert (r.imported, r.duplicates, len(r.quarantined)) == (0, 1, 1)
    before = dump_but_traffic(t)
    again = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [bad]))
    assert (again.imported, again.duplicates, again.quarantined) == (0, 1, [])
    assert dump_but_traffic(t) == before
    assert t.store.quarantine.count() == 1


def test_the_same_refusal_of_one_seal_number_is_kept_once(net):
    """Other bytes claiming the same seal, refused for the same reason: refused again (the
    sender is told), but no second row."""
    t = net["town"]
    a = forged_signature(VILLAGE, 100, VILLAGE, [crafted(of(VILLAGE, "a"), VILLAGE)])
    b = forged_signature(VILLAGE, 100, VILLAGE, [crafted(of(VILLAGE, "b"), VILLAGE)])
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [a, b]))
    assert r.quarantined == [f"bad signature on seal {VILLAGE}#100"] * 2
    assert quarantine(t) == [(VILLAGE, 100, VILLAGE, f"bad signature on seal {VILLAGE}#100")]


def test_quarantine_keeps_the_newest_rows_per_peer_and_counts_every_refusal(net, monkeypatch):
    monkeypatch.setattr(Quarantine, "KEEP_PER_PEER", 5)
    t = net["town"]
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, forged(12)))
    t.engine.receive(VILLAGE_B, Batch(VILLAGE_B, 0, 0, forged(3, author=VILLAGE_B)))
    rows = quarantine(t)
    assert [(a, s) for a, s, _, _ in rows] == [(VILLAGE, n) for n in range(107, 112)] + \
        [(VILLAGE_B, n) for n in range(100, 103)]
    assert (t.store.quarantine.count(), t.store.quarantine.count(VILLAGE), t.store.quarantine.count(VILLAGE_B)) == \
        (15, 12, 3)
    assert [(q["peer"], q["reason"], q["count"]) for q in t.store.quarantine.summary()] == [
        (VILLAGE, "bad signature on seal …", 12), (VILLAGE_B, "bad signature on seal …", 3)]


def test_a_flood_of_garbage_in_one_push_is_bounded(net, monkeypatch):
    """Twenty thousand copies of one undecodable seal are one row; two thousand distinct
    ones are KEEP_PER_PEER rows, counted under one reason."""
    monkeypatch.setattr(Quarantine, "KEEP_PER_PEER", 5)
    t = net["town"]
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [(b"", b"")] * 20_000))
    assert (len(r.quarantined), r.duplicates) == (1, 19_999)
    assert t.store.quarantine.count() == 1
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [(i.to_bytes(4, "big"), bytes(64)) for i in range(2000)]))
    assert len(quarantine(t)) == 5 and t.store.quarantine.count() == 2001
    assert {q["reason"]: q["count"] for q in t.store.quarantine.summary()} == {"malformed seal": 2001}
    assert [row[2] for row in bodies_kept(t)] == [False] * 5


def test_a_refused_seal_keeps_its_bytes_only_while_it_may_yet_go_in(net):
    t = net["town"]
    stranger = sealed(STRANGER, 1, STRANGER, [crafted(of(STRANGER, "s"), STRANGER)])
    [bad] = forged(1)
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [bad, stranger]))
    assert bodies_kept(t) == [(VILLAGE, 100, False), (STRANGER, 1, True)]
    assert [r["bytes"] for r in t.store.quarantine.rows()] == [len(bad[0]), len(stranger[0])]


def test_a_quarantined_seal_delivered_again_once_its_author_is_known_goes_in(net):
    t = net["town"]
    stranger = sealed(STRANGER, 1, STRANGER, [crafted(of(STRANGER, "s"), STRANGER)])
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [stranger]))
    assert t.store.quarantine.count() == 1
    introduce(t.store, STRANGER, public_bytes(KEYS[STRANGER]))  # enrolled meanwhile
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [stranger]))
    assert (r.imported, r.quarantined) == (1, [])
    assert quarantine(t) == [] and t.store.quarantine.count() == 0 and t.store.quarantine.summary() == []
    assert sorted(docs_of(t)) == [of(STRANGER, "s")]


def test_a_retried_seal_refused_for_another_reason_is_recorded_with_that_reason(net, tmp_path):
    """Waiting for its author's key, then the key comes and the signature does not hold:
    the row now says so, and no longer keeps the bytes."""
    t, d = net["town"], net["district"]
    fake = forged_signature(STRANGER, 1, STRANGER, [crafted("s", STRANGER)])
    d.engine.receive(TOWN, Batch(TOWN, 0, 0, [fake]))
    assert [q[3] for q in quarantine(d)] == [f"seal from unknown node {STRANGER} (key {STRANGER_KID})"]
    vouch(t, d, STRANGER)
    [r] = push(t, d)
    assert r.imported == 1
    assert [q[3] for q in quarantine(d)] == [f"bad signature on seal {STRANGER}#1"]
    assert bodies_kept(d) == [(STRANGER, 1, False)]
    assert [(q["reason"], q["count"]) for q in d.store.quarantine.summary()] == [("bad signature on seal …", 1)]


# -------------------------------------------------------------------------- pending changes

def test_a_change_to_a_document_of_another_scope_is_quarantined(net):
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    [good] = feed(v)
    odd = sealed(VILLAGE, 7, VILLAGE, [crafted(of(VILLAGE_B, "x"), VILLAGE)])
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [odd, good]))
    assert r.imported == 1 and r.quarantined == [f"document {of(VILLAGE_B, 'x')} belongs to {VILLAGE_B}, not to scope {VILLAGE}"]


def test_a_pending_change_cannot_enter_a_document_of_another_kind(net):
    """The village edits a case the town wrote for it but seals the change as another kind
    whose ids look the same (`<region>-<rest>`); the district does not hold the case yet,
    so the change waits in `pending`. When the town's case arrives, the waiting change
    does not fit it (another kind than its seal gave it): it is dropped, and its seal
    quarantined for the admin."""
    d, t, v = net["district"], net["town"], net["village"]
    case = of(VILLAGE, "c-by-town")
    write(t, case, scope=VILLAGE, name="镇里写的")
    push(t, v)
    change = crafted(case, VILLAGE, peer=v.store.peer, kind="audit", base=v.store.get(case), name="村里改的")
    r = d.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [sealed(VILLAGE, 99, VILLAGE, [change])]))
    assert (r.imported, r.pending) == (1, 1)
    [r] = push(t, d)
    assert r.quarantined == []
    assert d.store.get(case).value()["data"]["name"] == "镇里写的"
    assert pending_of(d, case) == {}
    assert [(q[0], q[1]) for q in quarantine(d)] == [(VILLAGE, 99)]
    assert f"does not fit document {case} (case of {VILLAGE})" in quarantine(d)[0][3]
    assert docs_of(d)[case] == docs_of(t)[case]


def three_versions(v: Node) -> list[tuple[bytes, bytes]]:
    """Seals 1..3, each one edit of c1 that depends on the one before."""
    for step in range(3):
        write(v, C1, step=step)
        v.engine.seal_pending()
    return feed(v)


def test_a_change_whose_dependencies_are_missing_waits_and_goes_in_when_they_come(net, tmp_path):
    v, t = net["village"], net["town"]
    s1, s2, s3 = three_versions(v)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [s3]))
    assert (r.imported, r.changes, r.pending, r.docs) == (1, 1, 1, 0)
    assert t.store.get(C1) is None
    assert len(pending_of(t, C1)[C1]) == 1
    # pending changes survive a restart
    t.store.close()
    t = net["town"] = make_node(tmp_path / "town.db", TOWN)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [s1]))
    assert (r.changes, r.pending, r.docs) == (1, 1, 1)  # s1 in; s3 still waits for s2
    assert t.store.get(C1).value()["data"] == {"step": 0}
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 3, [s2]))
    assert (r.changes, r.pending, r.docs) == (1, 0, 1)
    assert pending_of(t, C1) == {}
    assert docs_of(t) == docs_of(v)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 3, [s1, s2, s3]))
    assert (r.imported, r.duplicates) == (0, 3)


def test_pending_counts_each_waiting_change_once(net):
    """Two seals of one batch whose changes both wait: two pending, not three (the second
    seal's part counted the first's waiting change again)."""
    v, t = net["village"], net["town"]
    s1, s2, s3 = three_versions(v)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [s3, s2]))
    assert (r.imported, r.pending) == (2, 2) and t.store.changes.pending_count() == 2
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [s1]))
    assert (r.imported, r.pending, r.changes) == (1, 0, 1)
    assert docs_of(t) == docs_of(v)


def test_a_change_received_again_in_another_seal_changes_nothing(net):
    """A change is identified by (doc_id, peer, counter_start), whichever seal carries it:
    whether it was applied or is still waiting."""
    v, t = net["village"], net["town"]
    s1, s2, s3 = decoded(three_versions(v))
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [(s1.body, s1.signature), (s3.body, s3.signature)]))
    before = dump_but_traffic(t)
    again = [sealed(VILLAGE, 10, VILLAGE, list(s1.changes)), sealed(VILLAGE, 11, VILLAGE, list(s3.changes))]
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, again))
    assert (r.imported, r.changes, r.docs, r.quarantined) == (2, 0, 0, [])
    assert [line for line in dump_but_traffic(t) if not line.startswith('INSERT INTO "feed"')] == \
        [line for line in before if not line.startswith('INSERT INTO "feed"')]
    t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [(s2.body, s2.signature)]))
    assert docs_of(t) == docs_of(v) and pending_of(t, C1) == {}


def test_changes_in_reverse_order_in_one_batch_all_go_in(net):
    v, t = net["village"], net["town"]
    pairs = three_versions(v)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 3, pairs[::-1]))
    assert (r.imported, r.changes, r.docs) == (3, 3, 1)
    assert pending_of(t, C1) == {}
    assert docs_of(t) == docs_of(v)


# -------------------------------------------------------------------------- deferred receive

def mixed_history(v: Node) -> None:
    write(v, C1, applicant="陈美玲")
    write(v, ITEM, kind="catalog_item", name="村级事项")  # down: applied at once even when deferring
    v.engine.seal_pending()
    write(v, C1, status="accepted")
    write(v, C2)
    v.engine.seal_pending()
    write(v, C2, step=2)
    v.engine.seal_pending()


@pytest.mark.parametrize("max_seals", [1, 2, 100])
def test_a_deferred_batch_caught_up_gives_the_same_documents(tmp_path, max_seals):
    v = make_node(tmp_path / "v.db", VILLAGE)
    now = make_node(tmp_path / "now.db", TOWN, knows=(VILLAGE,))
    later = make_node(tmp_path / "later.db", TOWN, knows=(VILLAGE,))
    mixed_history(v)
    batch = v.engine.next_batch(TOWN, 0)
    assert len(batch.seals) == 4
    direct = now.engine.receive(VILLAGE, batch)
    r = later.engine.receive(VILLAGE, batch, defer=True)
    assert (r.imported, r.deferred, r.recv_upto) == (4, 3, 4)
    assert sorted(docs_of(later)) == [ITEM]  # only the down seal is applied
    assert later.engine.backlog() == 3
    # stored and forwarded before it is applied
    assert ids_in(later.engine.next_batch(DISTRICT, 0).seals) == ids_in(batch.seals)
    caught = Receipt(recv_upto=0)
    rounds = []
    while n := later.engine.catch_up(max_seals=max_seals, receipt=caught):
        rounds.append(n)
    assert sum(rounds) == 3 and max(rounds) <= max_seals
    assert later.engine.backlog() == 0
    assert docs_of(later) == docs_of(now) == docs_of(v)
    assert caught.changes + 1 == direct.changes  # the item came at once
    assert quarantine(later) == []
    for n in (v, now, later):
        n.store.close()


def test_catch_up_applies_the_oldest_seals_first(tmp_path):
    v = make_node(tmp_path / "v.db", VILLAGE)
    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,))
    mixed_history(v)  # up seals: c1; c1 and c2; c2
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0), defer=True)
    assert t.engine.catch_up(max_seals=1) == 1
    assert sorted(docs_of(t)) == [C1, ITEM]
    assert docs_of(t)[C1][2]["data"] == {"applicant": "陈美玲"}
    assert t.engine.backlog() == 2
    assert t.engine.catch_up(max_seals=1) == 1
    assert docs_of(t)[C1] == docs_of(v)[C1]
    assert t.engine.catch_up(max_seals=5) == 1
    assert t.engine.catch_up() == 0
    assert docs_of(t) == docs_of(v)
    v.store.close()
    t.store.close()


def test_catch_up_quarantines_a_seal_that_no_longer_fits(tmp_path):
    v = make_node(tmp_path / "v.db", VILLAGE)
    t = make_node(tmp_path / "t.db", TOWN, knows=(VILLAGE,))
    write(v, C1)
    v.engine.seal_pending()
    t.engine.receive(VILLAGE, v.engine.next_batch(TOWN, 0), defer=True)
    # meanwhile, a seal that will be applied first makes c1 a consent here
    consent = crafted(C1, VILLAGE, kind="consent")
    t.engine.receive(VILLAGE, Batch(VILLAGE, 1, 1, [sealed(VILLAGE, 9, VILLAGE, [consent])]))
    assert t.engine.catch_up() == 1
    assert t.engine.backlog() == 0
    assert [(q[0], q[1], q[3]) for q in quarantine(t)] == [(VILLAGE, 1, f"document {C1} kind/scope mismatch")]
    assert docs_of(t)[C1][0] == "consent"
    v.store.close()
    t.store.close()


# -------------------------------------------------------------------------- next_batch and visibility

@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A town whose feed holds its own up and down seals and both villages' seals, the
    villages' down documents included."""
    root = tmp_path_factory.mktemp("hub")
    t = make_node(root / "t.db", TOWN, knows=(VILLAGE, VILLAGE_B))
    v = make_node(root / "v.db", VILLAGE)
    b = make_node(root / "b.db", VILLAGE_B)
    write(t, T_ITEM, kind="catalog_item", scope=TOWN, text="镇级事项" * 20)
    write(t, of(TOWN, "t-case"), scope=TOWN)
    t.engine.seal_pending()
    for i in range(4):
        write(v, of(VILLAGE, f"v-case-{i}"), text="甲" * (40 * i))
        v.engine.seal_pending()
        write(b, of(VILLAGE_B, f"b-case-{i}"))
        b.engine.seal_pending()
        if i == 1:
            write(v, V_ITEM, kind="catalog_item")
            write(b, B_ITEM, kind="catalog_item")
            write(t, of(VILLAGE, "t-for-v"), scope=VILLAGE)  # the town writing a village's case
            t.engine.seal_pending()
        push(v, t, max_bytes=1)
        push(b, t, max_bytes=1)
    write(t, T_ITEM, kind="catalog_item", scope=TOWN, text="改")
    t.engine.seal_pending()
    yield t
    for n in (t, v, b):
        n.store.close()


def offered(hub: Node, peer: str, max_bytes: int = EVERYTHING) -> tuple[list[set[str]], list]:
    """Pull the whole feed for `peer` batch by batch: the documents of each batch's seals."""
    since, batches = 0, []
    while True:
        batch = hub.engine.next_batch(peer, since, max_bytes)
        assert (batch.sender, batch.start) == (TOWN, since)
        assert batch.next >= since
        batches.append(batch)
        since = batch.next
        if not batch.more:
            break
    return [{c.doc_id for s in decoded(b.seals) for c in s.changes} for b in batches], batches


EXPECTED = {
    # everything flows up; down documents also flow down inside their scope
    DISTRICT: {T_ITEM, of(TOWN, "t-case"), of(VILLAGE, "t-for-v"), *(of(x, f"{n}-case-{i}") for x, n in ((VILLAGE, "v"), (VILLAGE_B, "b")) for i in range(4)), V_ITEM, B_ITEM},
    # not its own seals, not the town's or the other village's up documents nor the other village's down ones
    VILLAGE: {T_ITEM, of(VILLAGE, "t-for-v")},
    VILLAGE_B: {T_ITEM},
    "440608100209": {T_ITEM},  # a village that never sent anything
    "440608200": set(),  # another town
}


@pytest.mark.parametrize("peer", sorted(EXPECTED))
def test_next_batch_offers_exactly_what_the_peer_may_see(hub, peer):
    [docs], [batch] = offered(hub, peer)
    assert docs == EXPECTED[peer]
    assert batch.next == hub.engine.feed_head()  # what it may not see is passed over, not left ahead
    assert all(s.author != peer for s in decoded(batch.seals))


def test_next_batch_never_offers_what_came_from_the_peer(hub, tmp_path):
    """The district got the village's seals from the town: it does not offer them back to
    the town, but offers the town's down seals to the village."""
    d = make_node(tmp_path / "d.db", DISTRICT, knows=(TOWN, VILLAGE, VILLAGE_B))
    push(hub, d)
    assert d.engine.next_batch(TOWN, 0).seals == []
    assert {c.doc_id for s in decoded(d.engine.next_batch(VILLAGE, 0).seals) for c in s.changes} == {T_ITEM, of(VILLAGE, "t-for-v")}
    d.store.close()


@given(max_bytes=st.integers(1, 6000), peer=st.sampled_from([DISTRICT, VILLAGE]))
def test_next_batch_respects_max_bytes_and_resumes(hub, max_bytes, peer):
    per_batch, batches = offered(hub, peer, max_bytes)
    everything = offered(hub, peer)[1][0]
    assert [p for b in batches for p in b.seals] == everything.seals  # the same seals, in feed order
    for b in batches:
        assert b.size <= max_bytes or len(b.seals) == 1  # one seal always goes, however large
        assert b.seals or not b.more
    for b, after in zip(batches, batches[1:]):
        assert b.more and after.start == b.next
        assert b.size + len(after.seals[0][0]) + len(after.seals[0][1]) > max_bytes  # it was full
    assert not batches[-1].more and batches[-1].next == hub.engine.feed_head()


def test_next_batch_from_the_head_is_empty(hub):
    head = hub.engine.feed_head()
    b = hub.engine.next_batch(DISTRICT, head)
    assert (b.seals, b.start, b.next, b.more) == ([], head, head, False)
    assert hub.engine.next_batch(DISTRICT, head + 5).next == head + 5


# -------------------------------------------------------------------------- convergence

@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A village's seals (dependent edits, several documents per seal, a merged run, a
    down document) and the documents they make."""
    root = tmp_path_factory.mktemp("history")
    v = make_node(root / "v.db", VILLAGE)
    write(v, C1, applicant="陈美玲")
    v.engine.seal_pending()
    write(v, C1, status="accepted")
    write(v, C2, applicant="李敏")
    v.engine.seal_pending()
    write(v, K1, kind="consent", purpose="转办")
    write(v, C2, status="returned")
    write(v, C2, status="accepted")
    v.engine.seal_pending()
    write(v, ITEM, kind="catalog_item", name="村级事项")
    write(v, C1, status="done")
    v.engine.seal_pending()
    write(v, C3)
    v.engine.seal_pending()
    write(v, ITEM, name="村级事项（修订）")
    write(v, C3, status="accepted")
    write(v, C1, note="归档")
    v.engine.seal_pending()
    pairs, expected = feed(v), docs_of(v)
    v.store.close()
    return pairs, expected


@given(st.data())
def test_any_order_and_batching_of_delivery_converges(history, data):
    pairs, expected = history
    n = len(pairs)
    order = data.draw(st.permutations(range(n)), label="order")
    again = data.draw(st.lists(st.integers(0, n - 1), max_size=3), label="again")
    for i in again:
        order.insert(data.draw(st.integers(0, len(order))), i)
    with tempfile.TemporaryDirectory() as root:
        t = make_node(Path(root) / "t.db", TOWN, knows=(VILLAGE,))
        imported = duplicates = 0
        while order:
            k = data.draw(st.integers(1, len(order)), label="batch size")
            part, order = order[:k], order[k:]
            r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 0, [pairs[i] for i in part]),
                                 defer=data.draw(st.booleans(), label="defer"))
            imported += r.imported
            duplicates += r.duplicates
        while t.engine.catch_up(max_seals=data.draw(st.integers(1, 3), label="catch up")):
            pass
        assert (imported, duplicates) == (n, len(again))
        assert docs_of(t) == expected
        assert pending_of(t, *expected) == {}
        assert quarantine(t) == []
        t.store.close()


# -------------------------------------------------------------------------- hostile fields
# Each of these once failed the whole batch (an OverflowError, the region code's own error,
# the loro binding's bare BaseException) instead of quarantining the one seal.

def test_a_seal_number_beyond_sqlite_integers_is_quarantined(net):
    """Anyone can put seq 2**64-1 in a seal: it must not fail the whole batch."""
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    [good] = feed(v)
    huge = sealed(VILLAGE, 2**64 - 1, VILLAGE, [crafted(of(VILLAGE, "x"), VILLAGE)], key=FORGER)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [huge, good]))
    assert r.imported == 1 and len(r.quarantined) == 1


def test_a_change_with_a_peer_id_beyond_sqlite_integers_is_quarantined(net):
    v, t = net["village"], net["town"]
    c = crafted(of(VILLAGE, "x"), VILLAGE)
    big_peer = SealedChange(c.doc_id, c.kind, 2**64 - 1, c.start, c.end, c.blob)
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [sealed(VILLAGE, 1, VILLAGE, [big_peer])]))
    assert r.imported == 0 and len(r.quarantined) == 1


def test_a_seal_with_a_malformed_scope_is_quarantined(net):
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    [good] = feed(v)
    odd = sealed(VILLAGE, 7, "not-a-region", [crafted("x", "not-a-region")])
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [odd, good]))
    assert r.imported == 1 and len(r.quarantined) == 1
    assert r.quarantined[0].startswith("seal scope 'not-a-region' is not a region code")


def test_an_edit_larger_than_a_seal_may_carry_is_refused_when_saved(net):
    """A change travels whole in one seal; one no receiver would take (here one edit of
    ~400 KB) is refused at the author, before anything is written, in one sentence."""
    v = net["village"]
    before = dump(v)
    with pytest.raises(Unsealable, match="too large to replicate") as e:
        write(v, of(VILLAGE, "big"), text="".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(MAX_SEAL_BYTES // 2)))
    assert "过大" in e.value.zh
    assert dump(v) == before


def test_every_seal_a_node_makes_can_be_received(net):
    """Saves of one document that are each within the bound but together larger than a
    seal are sealed as separate changes, never merged into one no receiver would take."""
    v, t = net["village"], net["town"]
    for step in range(4):  # ~120 KB of hardly compressible text per save
        write(v, of(VILLAGE, "big"), **{f"part{step}": os.urandom(60_000).hex()})
    v.engine.seal_pending()
    got = decoded(feed(v))
    assert all(len(c.blob) <= seals.MAX_CHANGE_BYTES for s in got for c in s.changes)
    [r] = push(v, t)
    assert r.quarantined == [] and r.imported == len(got)
    assert docs_of(t)[of(VILLAGE, "big")] == docs_of(v)[of(VILLAGE, "big")]
    assert pending_of(t, of(VILLAGE, "big")) == {}


@settings(max_examples=10)
@given(st.lists(st.tuples(st.sampled_from([of(VILLAGE, "a"), of(VILLAGE, "b")]), st.integers(0, 2 * MAX_SEAL_BYTES)), min_size=1, max_size=6))
def test_whatever_is_saved_is_sealed_into_seals_every_receiver_takes(saves):
    """Saves of random sizes, some beyond what a seal may carry (refused when saved): what
    was saved is sealed and received whole, nothing quarantined."""
    with tempfile.TemporaryDirectory() as folder:
        v = make_node(Path(folder) / "v.db", VILLAGE)
        t = make_node(Path(folder) / "t.db", TOWN, knows=(VILLAGE,))
        for i, (doc_id, size) in enumerate(saves):
            try:
                write(v, doc_id, **{f"f{i}": os.urandom(size // 2).hex()})
            except Unsealable:
                assert size > MAX_SEAL_BYTES * 0.9
        receipts = push(v, t)
        assert [q for r in receipts for q in r.quarantined] == []
        assert docs_of(t) == docs_of(v)
        v.store.close()
        t.store.close()


def test_a_change_whose_bytes_are_not_loro_is_quarantined(net):
    """The loro binding raises a bare BaseException on bytes it cannot read; docs turns it
    into LoroError, and the seal carrying them is quarantined like any bad seal."""
    v, t = net["village"], net["town"]
    write(v, C1)
    v.engine.seal_pending()
    [good] = feed(v)
    c = crafted(of(VILLAGE, "x"), VILLAGE)
    junk = SealedChange(c.doc_id, c.kind, c.peer, c.start, c.end, b"not loro")
    r = t.engine.receive(VILLAGE, Batch(VILLAGE, 0, 1, [sealed(VILLAGE, 7, VILLAGE, [junk]), good]))
    assert r.imported == 1 and "not a Loro update" in r.quarantined[0]
