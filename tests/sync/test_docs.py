"""Replicated documents: edits, commits as change spans, the stored oplog, one change's
bytes, and concurrent copies that merge."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.sync import docs
from yimen.sync.docs import KINDS, Change, Doc, LoroError, change_spans, new_peer_id, peers, writers

SCOPE = "440608100201"
MAPS = ("case", "materials", "数据")
LISTS = ("history", "日志")  # disjoint from MAPS: a root name holds one container type

texts = st.one_of(st.text(max_size=8), st.text(alphabet="陈美玲民政户口簿收入证明 ·—", max_size=8))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1), texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
fields = st.dictionaries(texts, values, max_size=4)
ops = st.one_of(
    st.tuples(st.just("update"), st.sampled_from(MAPS),
              st.dictionaries(texts, values, min_size=1, max_size=4)),
    st.tuples(st.just("put"), st.sampled_from(MAPS), texts, values),
    st.tuples(st.just("append"), st.sampled_from(LISTS), fields),
    st.tuples(st.just("commit")),
)


def canon(value):
    """Type-exact comparison form (True is not 1, 1 is not 1.0)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def edit(doc, model, op):
    """Apply one operation to the document and to a plain-dict model of it."""
    kind, *args = op
    if kind == "update":
        name, f = args
        doc.update(name, f)
        model.setdefault(name, {}).update(f)
    elif kind == "put":
        name, key, value = args
        doc.put(name, key, value)
        model.setdefault(name, {})[key] = value
    elif kind == "append":
        name, entry = args
        doc.append(name, entry)
        model.setdefault(name, []).append(dict(entry))


def new_doc(peer=11):
    doc = Doc.new("440608100201-2026-000001", "case", SCOPE, peer)
    model = {"meta": {"doc_id": doc.doc_id, "kind": "case", "scope": SCOPE}}
    return doc, model


def run(doc, model, operations):
    """Apply operations; return (change, oplog after it, value after it) per commit."""
    commits = []
    for op in list(operations) + [("commit",)]:
        if op[0] != "commit":
            edit(doc, model, op)
            continue
        change = doc.commit()
        if change is not None:
            commits.append((change, doc.oplog(), canon(doc.value())))
    return commits


def test_new_document_describes_itself():
    doc = Doc.new("item:T-IMM", "catalog_item", "4406", 5)
    change = doc.commit()
    assert change == Change("item:T-IMM", "catalog_item", "4406", 5, 0, change.counter_end)
    assert change.counter_end > 0
    assert doc.value() == {
        "meta": {"doc_id": "item:T-IMM", "kind": "catalog_item", "scope": "4406"}}


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown document kind"):
        Doc.new("x", "letter", SCOPE, 5)
    assert "case" in KINDS


def test_peer_ids_are_random_odd_and_fit_63_bits():
    peers = {new_peer_id() for _ in range(100)}
    assert len(peers) == 100 and all(p % 2 == 1 and 0 < p < 2 ** 63 for p in peers)


def test_commit_without_edits_returns_none():
    doc, _ = new_doc()
    assert doc.commit() is not None
    assert doc.commit() is None
    doc.put("case", "status_note", "已受理")
    change = doc.commit()
    assert change is not None and doc.commit() is None
    reloaded = Doc.from_bytes(doc.doc_id, "case", SCOPE, doc.oplog(), 12)
    assert reloaded.commit() is None


def test_reloaded_copy_continues_with_its_own_peer():
    doc, _ = new_doc(peer=11)
    doc.commit()
    copy = Doc.from_bytes(doc.doc_id, "case", SCOPE, doc.oplog(), 12)
    copy.append("history", {"action": "accept"})
    change = copy.commit()
    assert (change.peer, change.counter_start) == (12, 0) and change.counter_end > 0
    same_peer = Doc.from_bytes(doc.doc_id, "case", SCOPE, copy.oplog(), 12)
    same_peer.append("history", {"action": "submit"})
    assert same_peer.commit().counter_start == change.counter_end



def test_empty_update_leaves_the_same_value_on_every_copy():
    """Regression: an empty root map showed in the live value() only (no op records it)."""
    doc, _ = new_doc()
    doc.update("materials", {})  # cases.not_accept does exactly this
    doc.update("case", {"case_id": doc.doc_id})
    doc.commit()
    reloaded = Doc.from_bytes(doc.doc_id, "case", SCOPE, doc.oplog(), 12)
    assert reloaded.value() == doc.value()


def test_equal_versions_encode_to_equal_bytes():
    """Regression: oplog_vv.encode() followed the order a copy learnt its peers in
    (030b0615021602 != 030b0616021502 here), so reconcile saw equal copies as diverged."""
    base = Doc.new("c", "case", SCOPE, 11)
    base.commit()
    a = Doc.from_bytes("c", "case", SCOPE, base.oplog(), 21)
    a.put("case", "x", 1)
    a.commit()
    b = Doc.from_bytes("c", "case", SCOPE, base.oplog(), 22)
    b.put("case", "y", 2)
    b.commit()
    a_before = Doc.from_bytes("c", "case", SCOPE, a.oplog(), 23)
    a.merge(b)
    b.merge(a_before)
    assert a.value() == b.value()
    assert a.version() == b.version()
    assert Doc.from_bytes("c", "case", SCOPE, a.oplog(), 24).version() == a.version()
    assert a.version() != a_before.version()


@given(st.lists(ops, max_size=20))
def test_round_trip_through_the_oplog(operations):
    doc, model = new_doc()
    commits = run(doc, model, operations)
    assert canon(doc.value()) == canon(model)
    reloaded = Doc.from_bytes(doc.doc_id, "case", SCOPE, doc.oplog(), 12)
    assert canon(reloaded.value()) == canon(model)
    assert reloaded.version() == doc.version()
    assert doc.commit() is None
    # the changes tile the author's counters with no gap and no overlap
    spans = [(c.counter_start, c.counter_end) for c, _, _ in commits]
    assert spans[0][0] == 0 and all(a < b for a, b in spans)
    assert all(prev[1] == nxt[0] for prev, nxt in zip(spans, spans[1:]))
    assert all(c.peer == 11 and c.doc_id == doc.doc_id for c, _, _ in commits)


@given(st.lists(ops, max_size=20))
def test_one_change_applies_on_a_copy_that_has_everything_before_it(operations):
    doc, model = new_doc()
    commits = run(doc, model, operations)
    before = None
    rebuilt = Doc.empty(doc.doc_id, "case", SCOPE, 13)
    for change, oplog, value in commits:
        blob = doc.export_change(change)
        copy = Doc.empty(doc.doc_id, "case", SCOPE, 12) if before is None else \
            Doc.from_bytes(doc.doc_id, "case", SCOPE, before, 12)
        assert not copy.has_change(change.peer, change.counter_end)
        copy.import_blob(blob)
        assert copy.has_change(change.peer, change.counter_end)
        assert canon(copy.value()) == value
        rebuilt.import_blob(blob)  # the changes alone, in order, rebuild the document
        assert canon(rebuilt.value()) == value
        before = oplog
    assert canon(rebuilt.value()) == canon(model)
    assert rebuilt.commit() is None  # imported changes are not local edits


@given(st.lists(ops, min_size=1, max_size=10))
def test_a_change_without_its_predecessors_waits(operations):
    doc, model = new_doc()
    commits = run(doc, model, list(operations) + [("commit",), ("append", "history", {"n": 1})])
    change, _, _ = commits[-1]
    assert change.counter_start > 0
    copy = Doc.empty(doc.doc_id, "case", SCOPE, 12)
    copy.import_blob(doc.export_change(change))
    assert not copy.has_change(change.peer, change.counter_end)
    assert copy.value().get("history", []) == [] and "meta" not in copy.value()
    assert Doc.from_bytes(doc.doc_id, "case", SCOPE, copy.oplog(), 14).value() == {}
    # once the predecessors arrive, the waiting change applies by itself
    for earlier, _, _ in commits[:-1]:
        copy.import_blob(doc.export_change(earlier))
    assert copy.has_change(change.peer, change.counter_end)
    assert canon(copy.value()) == canon(model)


@given(st.lists(ops, max_size=6), st.lists(ops, max_size=10), st.lists(ops, max_size=10))
def test_concurrent_copies_converge(base_ops, a_ops, b_ops):
    base, base_model = new_doc(peer=11)
    run(base, base_model, base_ops)
    a = Doc.from_bytes(base.doc_id, "case", SCOPE, base.oplog(), 21)
    b = Doc.from_bytes(base.doc_id, "case", SCOPE, base.oplog(), 22)
    a_model, b_model = json.loads(canon(base_model)), json.loads(canon(base_model))
    run(a, a_model, a_ops)
    run(b, b_model, b_ops)
    a_before = Doc.from_bytes(a.doc_id, "case", SCOPE, a.oplog(), 23)
    a.merge(b)
    b.merge(a_before)
    assert canon(a.value()) == canon(b.value())
    assert a.version() == b.version()
    assert a.commit() is None and b.commit() is None  # merging is not a local edit
    # appended entries from both sides are all kept, each side's in its own order
    for name in LISTS:
        merged = a.value().get(name, [])
        base_list = base_model.get(name, [])
        mine = a_model.get(name, [])[len(base_list):]
        theirs = b_model.get(name, [])[len(base_list):]
        assert len(merged) == len(base_list) + len(mine) + len(theirs)
        assert canon(merged[:len(base_list)]) == canon(base_list)
        for side in (mine, theirs):
            it = iter(canon(e) for e in merged)
            assert all(canon(e) in it for e in side)
    # a key written on one side only keeps that side's last value
    written_a, written_b = written(a_ops), written(b_ops)
    for name, key in written_a - written_b:
        assert canon(a.value()[name][key]) == canon(a_model[name][key])
    for name, key in written_b - written_a:
        assert canon(a.value()[name][key]) == canon(b_model[name][key])


def written(operations):
    out = set()
    for op in operations:
        if op[0] == "update":
            out |= {(op[1], k) for k in op[2]}
        elif op[0] == "put":
            out.add((op[1], op[2]))
    return out


def test_who_wrote_what_is_read_per_map_key_and_list_entry():
    a = Doc.new("x", "case", "4406", 11)
    a.update("case", {"name": "陈", "item": "T-IMM"})
    a.append("history", {"action": "accept"})
    a.commit()
    b = Doc.from_bytes("x", "case", "4406", a.oplog(), 22)
    b.put("case", "name", "李")  # a later write of one key
    b.append("history", {"action": "approve"})
    b._loro.get_list("history").insert(2, {"action": "a plain value, not a map"})
    b.commit()
    assert peers(a) == {11} and peers(b) == {11, 22}
    assert writers(b, ("case", "materials"), "history") == ({11, 22}, [{11}, {22}, {22}])
    c = Doc.from_bytes("x", "case", "4406", b.oplog(), 33)
    c._loro.get_list("history").get(0).container.insert("action", "forged")
    c.commit()
    assert writers(c, ("materials",), "history") == (set(), [{11, 33}, {22}, {22}])


# -- bytes from outside ---------------------------------------------------------------------
# The loro binding raises a bare BaseException on bytes it cannot read, which `except
# Exception` misses: every entry point that takes outside bytes raises LoroError instead.
GARBAGE = [b"", b"not loro", b"\x00" * 100, b"loro" + bytes(range(256))]


def damaged(blob: bytes, data) -> bytes:
    raw = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    return bytes(raw[:data.draw(st.integers(0, len(raw)), label="cut")])


def one_change() -> bytes:
    doc, _ = new_doc()
    return doc.export_change(doc.commit())


@pytest.mark.parametrize("blob", GARBAGE, ids=range(len(GARBAGE)))
def test_bytes_that_are_not_loro_raise_loro_error_at_every_entry_point(blob):
    doc, _ = new_doc()
    doc.commit()
    for call in (lambda: change_spans(blob), lambda: Doc.from_bytes("c", "case", SCOPE, blob, 12),
                 lambda: doc.import_blob(blob)):
        with pytest.raises(LoroError) as e:
            call()
        assert isinstance(e.value, ValueError) and "not a Loro" in e.value.en and e.value.zh


@given(st.data())
def test_damaged_loro_bytes_raise_only_loro_error(data):
    """Whatever a damaged change or oplog holds: read, or LoroError (never the binding's own
    exceptions)."""
    blob = damaged(one_change(), data)
    for call in (lambda: change_spans(blob), lambda: Doc.from_bytes("c", "case", SCOPE, blob, 12),
                 lambda: new_doc()[0].import_blob(blob)):
        try:
            call()
        except LoroError:
            pass


def test_interrupts_are_not_taken_for_bad_bytes(monkeypatch):
    """Only the binding's failures become LoroError: a Ctrl-C inside Loro stays one."""
    blob = one_change()

    class Interrupted:
        @staticmethod
        def decode_import_blob_meta(*args):
            raise KeyboardInterrupt
    monkeypatch.setattr(docs, "LoroDoc", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        change_spans(blob)
