"""The chain replicates through the engine (in-memory transport): flows up, down, and
never sideways."""

from __future__ import annotations

import pytest

from support.chain import make_chain, push, sync_all
from support import MINI_CATALOG, id_number
from yimen.sync.store import driver
from yimen.node.services import cases, catalog
from yimen.node.projections import dump, rebuild
from yimen.node.replication import catch_up_all, engine, signing_key
from yimen.schema.catalog import parse_catalog_json
from yimen.sync import seal as seals
from yimen.sync.docs import Doc
from yimen.sync.seal import SealedChange


@pytest.fixture
def chain(tmp_path):
    nodes = make_chain(tmp_path)
    yield nodes
    for n in nodes.values():
        n.close()


def _statuses(node):
    return dict(node.store.conn.execute("SELECT case_id, status FROM cases").fetchall())


def test_case_flows_up_decision_flows_down_never_sideways(chain):
    sync_all(chain)
    va = chain["village_a"]
    cid = cases.accept(va, "c01", cases.Application(
        "T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cases.act(va, cid, "submit", "c01")
    cases.act(va, cid, "approve", "c01")
    sync_all(chain)
    for name in ("town", "district", "city"):
        assert _statuses(chain[name]) == {cid: "in_review"}
    assert _statuses(chain["village_b"]) == {}
    cases.act(chain["town"], cid, "approve", "t01")
    sync_all(chain)
    for name in ("village_a", "town", "district", "city"):
        assert _statuses(chain[name]) == {cid: "approved"}
    assert _statuses(chain["village_b"]) == {}


def test_catalog_flows_down_to_every_village(chain):
    sync_all(chain)
    for n in chain.values():
        assert n.store.count("catalog_item") == 3


def test_receiving_twice_changes_nothing(chain):
    sync_all(chain)
    town, va = chain["town"], chain["village_a"]
    cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))
    push(va, town)
    before = list(driver.iterdump(town.store.conn))
    from yimen.node.replication import engine
    batch = engine(va).next_batch(town.node_id, 0)
    receipt = engine(town).receive(va.node_id, batch)
    assert receipt.imported == 0 and receipt.duplicates == len(batch.seals) > 0
    after = [line for line in driver.iterdump(town.store.conn)]
    assert [l for l in after if "peers" not in l] == [l for l in before if "peers" not in l]


def _deferred_push(src, dst) -> int:
    """Like chain.push, but `dst` stores and forwards (applies nothing yet); returns seals
    deferred."""
    e, f = engine(src), engine(dst)
    e.seal_pending()
    batch = e.next_batch(dst.node_id, f.positions(src.node_id)[0], 1 << 30)
    receipt = f.receive(src.node_id, batch, defer=True)
    e.set_sent(dst.node_id, receipt.recv_upto)
    assert receipt.imported == receipt.deferred and not receipt.quarantined
    return receipt.deferred


def test_a_hub_acknowledges_and_forwards_before_it_applies(chain):
    sync_all(chain)
    va, town, district = chain["village_a"], chain["town"], chain["district"]
    ids = [cases.accept(va, "c01", cases.Application("T-IMM", id_number(i), "陈", {"居民身份证": None}, {}))["case_id"]
           for i in range(5)]
    projected = dump(town.store)
    assert _deferred_push(va, town) >= 1
    # stored and acknowledged: in the feed and the stream position, not yet in documents
    assert engine(town).backlog() >= 1 and dump(town.store) == projected
    assert not any(town.store.exists(c) for c in ids)
    # ... and already forwarded: the district applies them while the town has not
    push(town, district)
    assert all(district.store.exists(c) for c in ids)
    assert catch_up_all(town) >= 1 and engine(town).backlog() == 0
    for c in ids:
        assert town.store.get(c).version() == va.store.get(c).version()
    live = dump(town.store)
    assert _statuses(town) == {c: "completed" for c in ids}
    rebuild(town.store, town.calendar)
    assert dump(town.store) == live
    # nothing more to move, nothing applied twice
    assert push(va, town) == 0 and engine(town).catch_up() == 0


def test_down_seals_are_applied_at_once_even_when_deferring(chain):
    """Catalog items and node records flow down and later seals depend on them: a hub
    never defers them."""
    sync_all(chain)
    city, district = chain["city"], chain["district"]
    changed = MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 4')
    assert changed != MINI_CATALOG
    catalog.import_items(city, parse_catalog_json(changed, "2026-11-16"))
    e, f = engine(city), engine(district)
    e.seal_pending()
    receipt = f.receive(city.node_id, e.next_batch(district.node_id, f.positions(city.node_id)[0]), defer=True)
    assert receipt.imported >= 1 and receipt.deferred == 0 and f.backlog() == 0
    assert catalog.current(district, "T-LOCAL").time_limit_days == 4


def _change(doc_id: str, kind: str, scope: str, peer: int, field: str) -> SealedChange:
    doc = Doc.new(doc_id, kind, scope, peer)
    doc.update("x", {"field": field})
    ch = doc.commit()
    return SealedChange(doc_id, kind, ch.peer, ch.counter_start, ch.counter_end, doc.export_change(ch))


def test_a_deferred_seal_that_no_longer_fits_is_quarantined_when_applied(chain):
    """Two seals, each fine on its own, give one document two kinds: both pass the checks
    on arrival (neither document is held yet); when applied, the second is refused."""
    sync_all(chain)
    va, town = chain["village_a"], chain["town"]
    key, doc_id = signing_key(va), f"{va.node_id}-2026-999999"
    first = seals.make(key, va.node_id, 9_001, va.node_id, False, [_change(doc_id, "case", va.node_id, va.store.peer, "a")])
    second = seals.make(key, va.node_id, 9_002, va.node_id, False, [_change(doc_id, "audit", va.node_id, va.store.peer + 2, "b")])
    from yimen.sync.engine import Batch
    held = engine(town).positions(va.node_id)[0]
    receipt = engine(town).receive(va.node_id, Batch(va.node_id, held, held,
                                   [(first.body, first.signature), (second.body, second.signature)]), defer=True)
    assert receipt.deferred == 2 and not receipt.quarantined
    assert catch_up_all(town) == 2
    reasons = [r[0] for r in town.store.conn.execute("SELECT reason FROM quarantine")]
    assert len(reasons) == 1 and "kind/scope mismatch" in reasons[0]
    assert town.store.get(doc_id).kind == "case"


def test_a_case_document_that_claims_another_case_changes_no_rows(chain):
    """A signed case document whose content names another case (or is not a case at all)
    is kept and forwarded but listed nowhere: it never overwrites another case's rows."""
    sync_all(chain)
    va, town = chain["village_a"], chain["town"]
    real = cases.accept(va, "c01", cases.Application("T-IMM", id_number(1), "陈", {"居民身份证": None}, {}))["case_id"]
    push(va, town)
    before = dump(town.store)
    forged = Doc.new(f"{va.node_id}-2026-999998", "case", va.node_id, va.store.peer)
    forged.update("case", {"case_id": real, "item_code": "T-IMM", "item_version": 1, "applicant_name": "伪造"})
    with va.store.transaction():
        va.store.save(forged, va.node_id)
    assert push(va, town) >= 1
    refused = [(forged.doc_id, "case", va.node_id, f"the case's body describes {real!r}")]
    assert town.store.exists(forged.doc_id) and dump(town.store) == {**before, "projection_refused": refused}
    rebuild(town.store, town.calendar)
    assert dump(town.store) == {**before, "projection_refused": refused}


@pytest.mark.parametrize("defer", [False, True])
def test_a_document_whose_projection_fails_is_kept_and_blocks_nothing(chain, defer):
    """The projection hook fails on one case (whatever it raises): the seal is not the
    cause, so it goes in and the case is kept, listed nowhere until a rebuild; the cases
    around it are listed, nothing is quarantined."""
    sync_all(chain)
    va, town = chain["village_a"], chain["town"]
    ids = []
    for i in range(3):
        ids.append(cases.accept(va, "c01", cases.Application("T-IMM", id_number(i), "陈", {"居民身份证": None}, {}))["case_id"])
        engine(va).seal_pending()
    eng, project = engine(town), engine(town).on_imported

    def failing(docs):
        project(docs)
        if any(d.doc_id == ids[1] for d in docs):
            raise RuntimeError("cannot read this document")
    eng.on_imported = failing
    try:
        batch = engine(va).next_batch(town.node_id, eng.positions(va.node_id)[0], 1 << 30)
        receipt = eng.receive(va.node_id, batch, defer=defer)
        catch_up_all(town)
    finally:
        eng.on_imported = project
    assert town.store.quarantine.count() == 0 and receipt.quarantined == []
    assert [town.store.exists(c) for c in ids] == [True, True, True]
    assert _statuses(town) == {ids[0]: "completed", ids[2]: "completed"}
    assert town.store.conn.execute("SELECT count(*) FROM pending").fetchone()[0] == 0
    assert receipt.recv_upto == batch.next
    rebuild(town.store, town.calendar)  # the documents are the truth: a rebuild lists it
    assert _statuses(town) == {c: "completed" for c in ids}
