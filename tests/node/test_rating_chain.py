"""Ratings along the chain: a village's rating goes up to the town, the district and the
city (never sideways), a follow-up an admin above records comes back down; a sibling
village cannot forge a rating, a town cannot rewrite what the village's citizen said, and a
follow-up signed by another node than the one it names is not applied."""

from __future__ import annotations

import pytest

from support import accept
from support.chain import make_chain, sync_all
from support.forge import change_of, sealed
from yimen.node import projections
from yimen.node.replication import catch_up_all, engine, signing_key
from yimen.node.services import clerks, ratings, status
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.engine import Batch
from yimen.sync.session import Responder

ABOVE = ("town", "district", "city")
THIEF_SEQ = 10_000


@pytest.fixture
def chain(tmp_path):
    nodes = make_chain(tmp_path)
    clerks.add(nodes["town"], "ta1", "镇管理员", ["管理员"])
    sync_all(nodes)
    yield nodes
    for n in nodes.values():
        n.close()


def listed(node, case_id: str) -> tuple | None:
    return node.store.conn.execute("SELECT score, reason, node, follow_up_status, follow_up_node FROM ratings"
                                   " WHERE case_id = ?", (case_id,)).fetchone()


def smuggle(hub, sender, seals):
    """A batch of `sender`'s, signed with its key, taken as the hub's server takes a push."""
    held = engine(hub).positions(sender.node_id)[0]
    receipt = Responder(engine(hub)).push(sender.node_id, Batch(sender.node_id, held, held, seals), defer=True)
    catch_up_all(hub)
    return receipt


def rating_doc(case_id: str, scope: str, at_node: str, score: str = "satisfied", reason: str = "") -> Doc:
    rid = f"{case_id}:rating"
    doc = Doc.new(rid, "rating", scope, new_peer_id())
    doc.update("rating", {"case_id": case_id, "item_code": "T-IMM", "item_name": "社保参保证明打印", "clerk": "c01",
                          "clerk_node": at_node, "score": score, "reason": reason, "rated_at": "2026-11-16T09:00:00+08:00",
                          "rated_by": "c01"})
    return doc


def test_a_villages_rating_goes_up_and_its_follow_up_comes_down(chain):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    cid = accept(va)
    ratings.rate(va, cid, "不满意", "排队太久", "c01")
    sync_all(chain)
    for name in ABOVE:
        assert listed(chain[name], cid) == ("unsatisfied", "排队太久", va.node_id, "open", None), name
        assert [r["case_id"] for r in ratings.open_follow_ups(chain[name])] == [cid]
    assert listed(vb, cid) is None and vb.store.count("rating") == 0
    with pytest.raises(ratings.NotRatable, match="only that window"):
        ratings.rate(town, cid, "满意", "", "t01")
    ratings.follow_up(town, cid, "ta1", "镇里已回访，增设取号机")
    sync_all(chain)
    for name in ("village_a", *ABOVE):
        assert listed(chain[name], cid)[3:] == ("done", town.node_id), name
        before = projections.dump(chain[name].store)
        projections.rebuild(chain[name].store, chain[name].calendar)
        assert projections.dump(chain[name].store) == before, name
    assert listed(vb, cid) is None


def test_a_sibling_village_cannot_forge_a_rating(chain):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    cid = accept(va)
    sync_all(chain)
    key = signing_key(vb)
    receipt = smuggle(town, vb, [
        sealed(key, vb.node_id, THIEF_SEQ + i, scope, [change_of(rating_doc(cid, scope, va.node_id, "unsatisfied", "伪造"))])
        for i, scope in enumerate((vb.node_id, va.node_id))])
    assert receipt.imported == 0 and receipt.quarantined == [
        f"document {cid}:rating belongs to {va.node_id}, not to scope {vb.node_id}",
        f"node {vb.node_id} may not write documents of {va.node_id}"]
    assert not town.store.exists(f"{cid}:rating") and listed(town, cid) is None
    ratings.rate(va, cid, "满意", "", "c01")  # the real one still goes in
    sync_all(chain)
    for name in ABOVE:
        assert listed(chain[name], cid)[:3] == ("satisfied", "", va.node_id), name


def test_a_town_cannot_rewrite_the_citizens_rating(chain):
    va, town, district = chain["village_a"], chain["town"], chain["district"]
    cid = accept(va)
    ratings.rate(va, cid, "不满意", "排队太久", "c01")
    sync_all(chain)
    doc = town.store.get(f"{cid}:rating")
    doc.put("rating", "score", "satisfied")
    with town.store.transaction():
        town.store.save(doc, town.node_id)
        projections.refresh(town.store, doc, town.calendar)
    sync_all(chain)
    for node in (town, district):
        assert listed(node, cid) is None
        [q] = [q for q in status.quarantine(node) if q.get("doc_id")]
        assert q["reason"] == f"rating content written by {town.node_id}, not by its owner {va.node_id}"


def test_a_follow_up_naming_another_node_is_not_applied(chain):
    va, town, district = chain["village_a"], chain["town"], chain["district"]
    cid = accept(va)
    ratings.rate(va, cid, "不满意", "排队太久", "c01")
    sync_all(chain)
    doc = town.store.get(f"{cid}:rating")
    doc.append("follow_ups", {"admin": "d01", "node": district.node_id, "at": town.now(), "text": "区里说已整改"})
    with town.store.transaction():
        town.store.save(doc, town.node_id)
        projections.refresh(town.store, doc, town.calendar)
    sync_all(chain)
    for node in (va, town, district):
        assert listed(node, cid)[3:] == ("open", None), node.node_id
