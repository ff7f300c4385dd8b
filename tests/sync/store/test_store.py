"""The node's SQLite store: transactions, counters, documents and their change index."""

from __future__ import annotations

import zlib

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.sync.store import driver
from yimen.sync.docs import Change
from yimen.sync.errors import StoreError
from yimen.sync.seal import MAX_CHANGE_BYTES, Unsealable
from yimen.sync.store import SCHEMA_VERSION, SYNC_SCHEMA, Store
from yimen.sync.store.repos import Quarantine, reason_class, seal_digest

VILLAGE = "440608100201"
AUTHOR = VILLAGE


@pytest.fixture
def path(tmp_path):
    return tmp_path / "yimen.db"


@pytest.fixture
def store(path):
    s = Store(path)
    yield s
    s.close()


def dump(store):
    return list(driver.iterdump(store.conn))


def new_case(store, n=1, author=AUTHOR):
    doc = store.new_doc(f"{VILLAGE}-2026-{n:06d}", "case", VILLAGE)
    doc.update("case", {"case_id": doc.doc_id, "applicant_name": "陈美玲"})
    doc.append("history", {"action": "accept", "actor": "c01"})
    with store.transaction():
        change = store.save(doc, author)
    return doc, change


def changes(store):
    return store.conn.execute(
        "SELECT doc_id, kind, scope, peer, counter_start, counter_end, author, seal_seq"
        " FROM changes ORDER BY doc_id, peer, counter_start").fetchall()


class Boom(Exception):
    pass


# ---------------------------------------------------------------- transactions

def test_new_store_records_its_schema_version(store):
    assert store.meta(SYNC_SCHEMA.version_key) == str(SCHEMA_VERSION)
    tables = set(store.db.table_names())
    assert {"meta", "docs", "changes", "feed", "pending", "quarantine"} <= tables


def test_transaction_rolls_back_completely_on_an_exception(store):
    new_case(store, 1)
    before = dump(store)
    doc = store.get(f"{VILLAGE}-2026-000001")
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("note", "半途")
            store.next_sequence("case:2026")
            doc.append("history", {"action": "submit"})
            store.save(doc, AUTHOR)
            store.save(store.new_doc("other", "case", VILLAGE), AUTHOR)
            raise Boom
    assert dump(store) == before
    assert not store.conn.in_transaction
    # the store stays usable
    with store.transaction():
        store.set_meta("note", "好了")
    assert store.meta("note") == "好了"


def test_base_exceptions_roll_back_too(store):
    before = dump(store)
    with pytest.raises(KeyboardInterrupt):
        with store.transaction():
            store.set_meta("note", "x")
            raise KeyboardInterrupt
    assert dump(store) == before and not store.conn.in_transaction


def test_nested_transaction_joins_the_outer_one(store):
    before = dump(store)
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("outer", "1")
            with store.transaction():
                store.set_meta("inner", "1")
            assert store.conn.in_transaction  # the inner block did not commit
            raise Boom
    assert dump(store) == before  # the inner write went with the outer rollback
    with store.transaction():
        with store.transaction():
            store.set_meta("inner", "2")
        store.set_meta("outer", "2")
    assert (store.meta("inner"), store.meta("outer")) == ("2", "2")


def test_exception_in_a_nested_transaction_rolls_back_the_outer_one(store):
    before = dump(store)
    with pytest.raises(Boom):
        with store.transaction():
            store.set_meta("outer", "1")
            with store.transaction():
                store.set_meta("inner", "1")
                raise Boom
    assert dump(store) == before
    with store.transaction():  # depth was reset: this one really begins and commits
        store.set_meta("after", "1")
    assert not store.conn.in_transaction and store.meta("after") == "1"


def test_other_connections_see_nothing_until_commit(store, path):
    other = driver.connect(str(path))
    try:
        with store.transaction():
            store.set_meta("note", "未提交")
            assert other.execute("SELECT value FROM meta WHERE key = 'note'").fetchone() is None
        assert other.execute("SELECT value FROM meta WHERE key = 'note'").fetchone() == ("未提交",)
    finally:
        other.close()


@pytest.mark.parametrize("write", [
    lambda s: s.set_meta("k", "v"),
    lambda s: s.next_sequence("case:2026"),
    lambda s: s.save(s.new_doc("d", "case", VILLAGE), AUTHOR),
], ids=["set_meta", "next_sequence", "save"])
def test_write_outside_a_transaction_raises(store, write):
    before = dump(store)
    with pytest.raises(RuntimeError, match="outside a transaction"):
        write(store)
    assert dump(store) == before


def test_unopenable_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError):
        Store(tmp_path / "no-such-dir" / "yimen.db")


# ---------------------------------------------------------------- sequences

def test_next_sequence_increments_per_name_and_survives_reopen(path):
    s = Store(path)
    with s.transaction():
        assert [s.next_sequence("case:2026") for _ in range(3)] == [1, 2, 3]
        assert s.next_sequence("case:2027") == 1
    with pytest.raises(Boom), s.transaction():
        assert s.next_sequence("case:2026") == 4
        raise Boom
    s.close()
    s = Store(path)
    with s.transaction():
        assert s.next_sequence("case:2026") == 4
        assert s.next_sequence("case:2027") == 2
    s.close()


# ---------------------------------------------------------------- documents and changes

def test_saved_documents_reload_in_a_new_store_with_a_new_peer(path):
    s = Store(path)
    doc, _ = new_case(s, 1)
    item = s.new_doc("item:T-IMM", "catalog_item", "4406")
    item.update("versions", {"1": {"code": "T-IMM", "name": "社保参保证明打印"}})
    with s.transaction():
        s.save(item, AUTHOR)
    values = {d.doc_id: d.value() for d in (doc, item)}
    first_peer = s.peer
    s.close()
    s = Store(path)
    assert s.peer != first_peer
    assert s.exists(doc.doc_id) and not s.exists("nope") and s.get("nope") is None
    for doc_id, value in values.items():
        again = s.get(doc_id)
        assert again.value() == value
        assert (again.kind, again.scope) == ((doc.kind, doc.scope) if doc_id == doc.doc_id
                                              else ("catalog_item", "4406"))
    assert [d.doc_id for d in s.docs()] == sorted(values)
    assert [d.doc_id for d in s.docs("case")] == [doc.doc_id]
    assert s.count("case") == 1 and s.count("catalog_item") == 1 and s.count("node") == 0
    # the new peer continues the document from counter 0 of its own
    again = s.get(doc.doc_id)
    again.append("history", {"action": "submit"})
    with s.transaction():
        change = s.save(again, AUTHOR)
    assert (change.peer, change.counter_start) == (s.peer, 0)
    assert s.get(doc.doc_id).value()["history"][-1] == {"action": "submit"}
    s.close()


def test_save_records_one_change_row(store):
    doc, change = new_case(store, 1)
    assert changes(store) == [(doc.doc_id, "case", VILLAGE, store.peer, 0, change.counter_end,
                               AUTHOR, None)]
    assert store.unsealed() == [change]
    row = store.conn.execute("SELECT kind, scope, oplog, vv FROM docs").fetchone()
    assert row[:2] == ("case", VILLAGE) and zlib.decompress(row[2]) == doc.oplog() and row[3] == doc.version()
    # the change's bytes are not stored twice: they come from the document when sealed
    assert store.get(doc.doc_id).export_change(change) == doc.export_change(change)


def test_save_without_edits_records_nothing(store):
    doc, _ = new_case(store, 1)
    before = dump(store)
    with store.transaction():
        assert store.save(doc, AUTHOR) is None
        assert store.save(store.get(doc.doc_id), AUTHOR) is None
    assert dump(store) == before


def test_changes_are_contiguous_per_document_and_listed_by_key(store):
    a, ca = new_case(store, 1)
    b, cb = new_case(store, 2)
    saved = [ca, cb]
    for doc, action in ((a, "submit"), (b, "submit"), (a, "approve"), (a, "issue_result")):
        doc.append("history", {"action": action})
        with store.transaction():
            saved.append(store.save(doc, AUTHOR))
    in_key_order = sorted(saved, key=lambda c: (c.doc_id, c.peer, c.counter_start))
    assert store.unsealed() == in_key_order
    assert [Change(*r[:6]) for r in changes(store)] == in_key_order
    assert_contiguous(saved)
    assert cb.counter_start == 0  # counters are per document: b starts at 0 too


def assert_contiguous(saved):
    spans = defaultdict(list)
    for c in saved:
        spans[(c.doc_id, c.peer)].append((c.counter_start, c.counter_end))
    for runs in spans.values():
        assert runs[0][0] == 0 and all(start < end for start, end in runs)
        assert all(prev[1] == nxt[0] for prev, nxt in zip(runs, runs[1:]))


def test_sealed_changes_leave_the_unsealed_list(store):
    _, first = new_case(store, 1)
    _, second = new_case(store, 2)
    with store.transaction():
        store.conn.execute("UPDATE changes SET seal_seq = 1 WHERE doc_id = ?", (first.doc_id,))
    assert store.unsealed() == [second]


@pytest.mark.parametrize("doc_id", ["a b", "", "x" * 129, "tab\there"])
def test_save_refuses_a_document_id_no_receiver_would_take(store, doc_id):
    before = dump(store)
    doc = store.new_doc(doc_id, "case", VILLAGE)
    doc.update("case", {"n": 1})
    with pytest.raises(Unsealable, match="malformed"), store.transaction():
        store.save(doc, AUTHOR)
    assert dump(store) == before


def test_save_takes_an_edit_within_the_bound_and_refuses_a_larger_one(store):
    doc = store.new_doc("big", "case", VILLAGE)
    doc.put("data", "within", "x" * (MAX_CHANGE_BYTES // 2))
    with store.transaction():
        change = store.save(doc, AUTHOR)
    assert MAX_CHANGE_BYTES // 2 < len(doc.export_change(change)) <= MAX_CHANGE_BYTES
    before = dump(store)
    doc.put("data", "beyond", "y" * MAX_CHANGE_BYTES)
    with pytest.raises(Unsealable, match="too large"), store.transaction():
        store.save(doc, AUTHOR)
    assert dump(store) == before


def test_rolled_back_save_leaves_no_change_row(store):
    doc, first = new_case(store, 1)
    doc.append("history", {"action": "submit"})
    with pytest.raises(Boom), store.transaction():
        store.save(doc, AUTHOR)
        raise Boom
    assert store.unsealed() == [first]
    assert store.get(doc.doc_id).value()["history"] == [{"action": "accept", "actor": "c01"}]


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=15))
def test_any_sequence_of_saves_keeps_counters_contiguous(saves):
    """Saves to three documents in any order, each with 0..3 appended events."""
    store = Store(":memory:", peer=77)
    try:
        docs = [store.new_doc(f"doc-{i}", "case", VILLAGE) for i in range(3)]
        saved, lengths = [], [0, 0, 0]
        for index, n in saves:
            doc = store.get(docs[index].doc_id) or docs[index]
            for k in range(n):
                doc.append("history", {"n": k})
            with store.transaction():
                change = store.save(doc, AUTHOR)
            if change is not None:
                saved.append(change)
            lengths[index] += n if store.exists(doc.doc_id) else 0
        assert store.unsealed() == sorted(saved, key=lambda c: (c.doc_id, c.peer, c.counter_start))
        assert_contiguous(saved)
        for i, doc in enumerate(docs):
            stored = store.get(doc.doc_id)
            assert (stored is None) == (not any(c.doc_id == doc.doc_id for c in saved))
            if stored is not None:
                assert len(stored.value().get("history", [])) == lengths[i]
    finally:
        store.close()


# ---------------------------------------------------------------- quarantine bounds

PEERS = ("440608100201", "440608100202")
REASONS = ("bad signature on seal 440608100201#7", "malformed seal: junk", "seal from unknown node 4406081002")


@given(st.lists(st.tuples(st.sampled_from(PEERS), st.integers(0, 20), st.sampled_from(REASONS),
                          st.booleans()), max_size=60))
def test_quarantine_keeps_bytes_once_the_newest_per_peer_and_counts_every_refusal(refusals):
    """Against a model: a refused seal's bytes are kept once while among its peer's newest
    KEEP_PER_PEER rows; every new refusal is counted under its peer and reason class."""
    store = Store(":memory:", peer=77)
    keep = 4
    kept: dict[str, list[bytes]] = {p: [] for p in PEERS}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    saved, Quarantine.KEEP_PER_PEER = Quarantine.KEEP_PER_PEER, keep
    try:
        with store.transaction():
            for peer, n, reason, keep_body in refusals:
                body = n.to_bytes(2, "big")
                digest = seal_digest(body, b"")
                new = not any(digest in k for k in kept.values())
                assert store.quarantine.add(peer, "t", None, None, reason, body, b"", keep_body=keep_body) == new
                if new:
                    kept[peer] = (kept[peer] + [digest])[-keep:]
                    counts[peer, reason_class(reason)] += 1
        rows = store.conn.execute("SELECT received_from, digest, body IS NOT NULL FROM quarantine ORDER BY id").fetchall()
        for p in PEERS:
            assert [r[1] for r in rows if r[0] == p] == kept[p]
            assert store.quarantine.count(p) == sum(n for (q, _), n in counts.items() if q == p)
        assert {(q["peer"], q["reason"]): q["count"] for q in store.quarantine.summary()} == dict(counts)
    finally:
        Quarantine.KEEP_PER_PEER = saved
        store.close()


@pytest.mark.parametrize("reason, cls", [
    ("bad signature on seal 440608100201#7", "bad signature on seal …"),
    ("seal from unknown node 440608100209", "seal from unknown node …"),
    ("node 440608100201 may not write documents of 440608100202", "node … may not write documents of …"),
    ("malformed seal: unpack(b) received extra data.", "malformed seal"),
    ("seal scope 'not-a-region' is not a region code: region code may contain only digits", "seal scope … is not a region code"),
    ("document item:T-IMM kind/scope mismatch", "document item:T-IMM kind/scope mismatch"),
    ("change of kind case in a seal with down=True", "change of kind case in a seal with down=True"),
])
def test_a_reason_class_drops_what_varies_from_seal_to_seal(reason, cls):
    assert reason_class(reason) == cls
