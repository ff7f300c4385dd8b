"""A stolen key: everything a village's key (village A) and a town's key (town 1) can sign
is refused outside their jurisdiction, can hide or forge no other node's documents, and
stalls nobody.

The chain is real nodes (SQLite on disk): city → district → town 1 (villages A, B) and
town 2 (village C). Links are sessions over the in-memory transport, the parent taking
pushes as its server does (stored, then applied by `catch_up` as its materializer
would); the replay test runs town 1's and the district's real HTTP servers. What the
thief sends goes to the parent as a push from the thief (`smuggle`), or is written by the
thief's node itself as its own change (`append_event`, `save_own`).

For each attack: the victim's real cases still go in and reach the top of the chain, no
forged document is listed in any projection or weekly supervision report, and every node
applies everything it stored (`apply` fails the test if one cannot: a stalled hub).
"""

from __future__ import annotations

import asyncio
import shutil
from contextlib import closing
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from support import MINI_CATALOG, id_number
from support.chain import CHAIN, PARENT, make_chain, run_coroutine, settle
from support.forge import case_doc, change_of, decision, next_receipts, refusal, sealed
from yimen.node import home, projections
from yimen.node.replication import catch_up_all, engine, signing_key
from yimen.node.server.app import create_app
from yimen.node.services import cases, catalog, clerks, enrollment, reports
from yimen.node.services import status as node_status
from yimen.node.services.uplink import sync_once
from yimen.schema.case import Event
from yimen.schema.catalog import parse_catalog_json
from yimen.sync import digests
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.engine import Batch, public_bytes
from yimen.sync.session import Inbound, Responder, Session
from yimen.sync.transports.memory import MemoryTransport

PARENTS = {**PARENT, "town_2": "district", "village_c": "town_2"}
UP = ("village_a", "village_b", "village_c", "town", "town_2", "district")  # children, from the bottom
ABOVE = {"village_a": ("town", "district", "city"), "village_b": ("town", "district", "city"),
         "village_c": ("town_2", "district", "city"), "town": ("district", "city")}
FORGED_NAME, FORGED_REASON = "伪造申请人", "伪造的不予受理"
THIEF_SEQ = 10_000  # seal numbers the thief signs (far from the real node's own)


# -- the chain ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Built once: the chain, enrolled, with the catalog and node records everywhere and
    one real case of each village gone up (so each hub knows each village's Loro peer)."""
    root = tmp_path_factory.mktemp("stolen-key")
    nodes = make_chain(root)
    nodes["town_2"] = home.init(root / "town_2", "440608101", "明城镇")
    nodes["village_c"] = home.init(root / "village_c", "440608101201", "示范C村")
    for child in ("town_2", "village_c"):
        parent = nodes[PARENTS[child]]
        enrollment.apply_answer(nodes[child], enrollment.admit(parent, enrollment.request(nodes[child])))
    clerks.add(nodes["village_c"], "c01", "李敏", ["民政", "社保", "村委会"])
    sync_chain(nodes, rounds=3)
    for v in ("village_a", "village_b", "village_c"):
        new_case(nodes[v])
    sync_chain(nodes)
    for n in nodes.values():
        n.close()
    return root


@pytest.fixture
def chain(template, tmp_path):
    names = [name for name, _, _ in CHAIN] + ["town_2", "village_c"]
    for name in names:
        shutil.copytree(template / name, tmp_path / name)
    nodes = {name: home.open_node(tmp_path / name) for name in names}
    yield nodes
    for n in nodes.values():
        n.close()


_applicants = iter(range(1, 10**6))


def new_case(node: home.Node, item: str = "T-IMM") -> str:
    n = next(_applicants)
    provided = {"居民身份证": None, "收入证明": None} if item == "T-DIBAO" else {"居民身份证": None}
    app = cases.Application(item, id_number(n), f"真实申请人{n}", provided, {})
    return cases.accept(node, "c01", app)["case_id"]


def apply(node: home.Node) -> None:
    """Apply everything `node` stored; a node that cannot is stalled, and that fails the test."""
    try:
        catch_up_all(node)
    except Exception as e:  # noqa: BLE001 (the finding)
        raise AssertionError(f"{node.node_id} cannot apply what it stored (it is stalled): {e!r}") from e


def exchange(child: home.Node, parent: home.Node) -> None:
    """One session: the child pushes, then pulls; the parent defers pushes as its server does."""
    transport = MemoryTransport(Responder(engine(parent)), child.node_id, defer=True)
    run_coroutine(asyncio.wait_for(Session(engine(child), transport).round(), 60))  # a loop is a failure
    apply(parent)
    apply(child)


def sync_chain(nodes: dict[str, home.Node], rounds: int = 3) -> None:
    for _ in range(rounds):
        for child in UP:
            exchange(nodes[child], nodes[PARENTS[child]])


def smuggle(hub: home.Node, sender: str, seals: list, next_: int | None = None):
    """A batch from `sender`, signed by its key (the session's signature is the
    transport's: only the seals and positions are the thief's), taken as the hub's server
    takes a push (stored, then applied)."""
    held = engine(hub).positions(sender)[0]
    receipt = Responder(engine(hub)).push(sender, Batch(sender, held, held if next_ is None else next_, seals),
                                          defer=True)
    apply(hub)
    return receipt


# -- what must hold after every attack -------------------------------------------------------
def listed(node: home.Node) -> dict[str, tuple[str, str]]:
    return {cid: (by, name) for cid, by, name in
            node.store.conn.execute("SELECT case_id, node, applicant_name FROM cases")}


def reaches_the_top(nodes: dict[str, home.Node], village: str, case_ids: list[str]) -> None:
    """The village's real cases are listed, as its own, at every node above it."""
    real = listed(nodes[village])
    assert all(cid in real for cid in case_ids)
    for name in ABOVE[village]:
        rows = listed(nodes[name])
        wrong = {cid: rows.get(cid) for cid in case_ids if rows.get(cid) != real[cid]}
        assert not wrong, f"{village}'s cases at {name}: {wrong} (the real ones: {[real[c] for c in wrong]})"


def nothing_forged_listed(nodes: dict[str, home.Node]) -> None:
    for name, node in nodes.items():
        forged = [cid for cid, (_, who) in listed(node).items() if who == FORGED_NAME]
        assert not forged, f"{name} lists forged cases {forged}"
        report = reports.refusals(node)["rows"]
        assert not [r for r in report if r["reason"] == FORGED_REASON or r["applicant_name"] == FORGED_NAME], \
            f"{name}'s weekly report lists forged refusals"


def nobody_stalled(nodes: dict[str, home.Node], victims: tuple[str, ...] = ()) -> None:
    """Every node applied all it stored, and none refused a seal the victims really made
    (a seal the thief signed in a victim's name is another matter)."""
    for name, node in nodes.items():
        assert engine(node).backlog() == 0, f"{name} left seals unapplied"
        refused = [r for r in node.store.quarantine.rows() for v in victims
                   if r["author"] == nodes[v].node_id and nodes[v].store.feed.has(r["author"], r["seq"])]
        assert not refused, f"{name} refused the victims' own seals: {refused}"


def refused(hub: home.Node, author: home.Node, seq: int = THIEF_SEQ) -> bool:
    """Is the seal in the hub's quarantine, with its reason (refused when received, or
    when it came to be applied)?"""
    return any(r["author"] == author.node_id and r["seq"] == seq and r["reason"] for r in hub.store.quarantine.rows())


def forged_cases(ids: list[str], scope: str, claims: str, at: str) -> list:
    """Case documents under `ids` whose bodies claim `claims`, each a forged refusal that
    a weekly report would list, made by a Loro peer of the thief's."""
    peer = new_peer_id()
    return [change_of(case_doc(cid, scope, peer, claims=claims, applicant_name=FORGED_NAME,
                               events=[refusal(claims, at, FORGED_REASON)])) for cid in ids]


# -- squatting another node's receipt numbers (defect 1) ----------------------------------------
@pytest.mark.parametrize("thief, victim, hub", [("village_a", "village_b", "town"), ("town", "village_c", "district")],
                         ids=["a village's at its town", "another town's village at the district"])
def test_a_key_cannot_squat_another_nodes_receipt_numbers(chain, thief, victim, hub):
    """The thief's key signs two seals holding the victim's next receipt numbers, the
    bodies claiming the victim: one of the thief's own scope, one of the victim's. The hub
    imports neither (each quarantined with its reason) and lists nothing new; the victim's
    real cases with those numbers still go in and reach the city."""
    t, v, h = chain[thief], chain[victim], chain[hub]
    before = listed(h)
    squatted = next_receipts(v, 5)
    receipt = smuggle(h, t.node_id, [
        sealed(signing_key(t), t.node_id, THIEF_SEQ + i, scope, forged_cases(squatted, scope, v.node_id, h.now()))
        for i, scope in enumerate((t.node_id, v.node_id))])
    assert receipt.imported == 0 and receipt.quarantined == [
        f"document {squatted[0]} belongs to {v.node_id}, not to scope {t.node_id}",
        f"node {t.node_id} may not write documents of {v.node_id}"]
    assert refused(h, t) and refused(h, t, THIEF_SEQ + 1)
    assert listed(h) == before and reports.refusals(h)["total"] == 0
    real = [new_case(v) for _ in squatted]
    assert real == squatted
    sync_chain(chain)
    reaches_the_top(chain, victim, real)
    nothing_forged_listed(chain)
    nobody_stalled(chain, victims=(victim, PARENTS[victim]))
    assert {name: len(node_status.quarantine(node)) for name, node in chain.items()} == \
        {name: 2 if name == hub else 0 for name in chain}, "only the thief's two seals are refused, at its parent"


# -- what was published or decided above ---------------------------------------------------------
def test_a_village_key_cannot_change_a_catalog_item_published_above(chain):
    """A's key edits the city's item, sealed under A's scope and under the city's: every
    node keeps the city's version, and the city's next version still comes down."""
    a, town, city = chain["village_a"], chain["town"], chain["city"]
    held = a.store.get(catalog.doc_id(city.node_id, "T-LOCAL"))
    copy = Doc.from_bytes(held.doc_id, held.kind, held.scope, held.oplog(), new_peer_id())
    versions = copy.value()["versions"]
    copy.put("versions", "1", {**versions["1"], "name": "村里改的事项", "time_limit_days": 99})
    change = change_of(copy)
    key = signing_key(a)
    smuggle(town, a.node_id, [sealed(key, a.node_id, THIEF_SEQ, a.node_id, [change], down=True),
                              sealed(key, a.node_id, THIEF_SEQ + 1, city.node_id, [change], down=True)])
    assert refused(town, a) and refused(town, a, THIEF_SEQ + 1)
    catalog.import_items(city, parse_catalog_json(
        MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 5'), "2026-01-01"))
    fresh = new_case(chain["village_b"])
    sync_chain(chain)
    for name, node in chain.items():
        item = catalog.current(node, "T-LOCAL")
        assert (item.name, item.time_limit_days) == ("村级居住情况核实", 5), (name, item)
    reaches_the_top(chain, "village_b", [fresh])
    nobody_stalled(chain, victims=("village_b", "city"))


def test_a_village_key_cannot_forge_the_towns_decision(chain):
    """A's own case waits for the town's review; A's key appends an approval claiming the
    town (node, clerk, step and department all the town's). It is not the town's word:
    the case stays in review everywhere until the town's clerk decides."""
    a, town = chain["village_a"], chain["town"]
    cid = new_case(a, "T-DIBAO")
    cases.act(a, cid, "submit", "c01")
    cases.act(a, cid, "approve", "c01")
    sync_chain(chain)
    assert {n: listed_status(chain[n], cid) for n in ("town", "district", "city")} == \
        {n: "in_review" for n in ("town", "district", "city")}
    forged = Event("approve", "t01", "民政", town.node_id, town.now(), step=1, department="民政")
    smuggle(town, a.node_id, [sealed(signing_key(a), a.node_id, THIEF_SEQ, a.node_id,
                                     [decision(a.store.get(cid), forged)])])
    sync_chain(chain)
    for name in ("town", "district", "city"):
        assert listed_status(chain[name], cid) == "in_review", f"{name} took the forged approval as the town's"
    cases.act(town, cid, "approve", "t01")
    fresh = new_case(chain["village_b"])
    sync_chain(chain)
    reaches_the_top(chain, "village_b", [fresh])
    # A never made the forged seal, and the stream sends no node its own seals back, so the
    # town's approval (which follows the forged event) waits at A until reconcile fetches
    # the case's seals: the backstop for what a node's key signed elsewhere.
    assert listed_status(a, cid) == "in_review"
    repair_from_parent(a, town, [cid])
    nothing_forged_listed(chain)
    for name in ("village_a", "town", "district", "city"):
        assert listed_status(chain[name], cid) == "approved", name
        assert chain[name].store.conn.execute(
            "SELECT actor, node FROM case_events WHERE case_id = ? AND action = 'approve' AND conflict = 0"
            " AND node = ?", (cid, town.node_id)).fetchall() == [("t01", town.node_id)], name
    nobody_stalled(chain)


def repair_from_parent(child: home.Node, parent: home.Node, doc_ids: list[str]) -> None:
    """What `yimen reconcile` fetches for documents that differ (node/services/reconcile.py,
    here without HTTP): the parent's seals of those documents, as a repair batch."""
    seals = digests.seals_for(parent.store, doc_ids, child.node_id)
    Inbound(engine(child), parent.node_id).take(Batch.repair(parent.node_id, seals))
    catch_up_all(child)


def listed_status(node: home.Node, case_id: str) -> str | None:
    row = node.store.conn.execute("SELECT status FROM cases WHERE case_id = ?", (case_id,)).fetchone()
    return row[0] if row else None


def append_event(node: home.Node, case_id: str, action: str, at_node: str, **kw) -> None:
    """Sign, with `node`'s key and as its own change, an event of `case_id` that names `at_node`."""
    doc = node.store.get(case_id)
    doc.append("history", Event(action, "x01", "民政", at_node, node.now(), **kw).to_dict())
    save_own(node, doc)


def save_own(node: home.Node, doc: Doc) -> None:
    with node.store.transaction():
        node.store.save(doc, node.node_id)
        projections.refresh(node.store, doc, node.calendar)


def events(node: home.Node, case_id: str) -> list[tuple[str, str, int]]:
    return node.store.conn.execute("SELECT action, node, conflict FROM case_events WHERE case_id = ? ORDER BY idx",
                                   (case_id,)).fetchall()


def rebuilds_the_same(node: home.Node) -> None:
    before = projections.dump(node.store)
    projections.rebuild(node.store, node.calendar)
    assert projections.dump(node.store) == before, f"a rebuild at {node.node_id} changes its projections"


def test_an_event_naming_another_node_than_its_signer_is_flagged_and_not_applied(chain):
    """A's own node appends the town's approval of its case, and the town's appends A's
    acceptance: both are kept and flagged like a lost conflict; the town's own approval
    then decides the case everywhere."""
    a, town, district = chain["village_a"], chain["town"], chain["district"]
    cid = new_case(a, "T-DIBAO")
    cases.act(a, cid, "submit", "c01")
    cases.act(a, cid, "approve", "c01")
    append_event(a, cid, "approve", town.node_id, step=1, department="民政")
    exchange(a, town)
    append_event(town, cid, "accept", a.node_id)
    exchange(town, district)
    for node in (town, district):
        assert node.store.conn.execute("SELECT status, conflicts FROM cases WHERE case_id = ?",
                                       (cid,)).fetchall() == [("in_review", 2)]
        assert [e[2] for e in events(node, cid)] == [0, 0, 0, 1, 1]
    cases.act(town, cid, "approve", "t01")
    sync_chain(chain)
    for name in ("village_a", "town", "district", "city"):
        node = chain[name]
        assert listed_status(node, cid) == "approved", name
        assert events(node, cid)[-1] == ("approve", town.node_id, 0), name
        rebuilds_the_same(node)
    nobody_stalled(chain)


def test_an_owners_content_written_by_an_ancestor_makes_the_case_unlisted(chain):
    """A town may append decisions to its village's case, not rewrite what the village
    recorded: a case whose content another node wrote is kept, listed nowhere and shown
    to the admin."""
    a, town, district = chain["village_a"], chain["town"], chain["district"]
    cid, other = new_case(a), new_case(a)
    exchange(a, town)
    exchange(town, district)
    before = {node.node_id: listed(node) for node in (town, district)}
    assert all(cid in rows and other in rows for rows in before.values())
    doc = town.store.get(cid)
    doc.put("case", "applicant_name", "改过的名字")
    save_own(town, doc)
    exchange(town, district)
    for node in (town, district):
        assert listed(node) == {k: row for k, row in before[node.node_id].items() if k != cid}
        [q] = node_status.quarantine(node)
        assert (q["doc_id"], q["kind"]) == (cid, "case")
        assert q["reason"] == f"case content written by {town.node_id}, not by its owner {a.node_id}"
        assert node.store.exists(cid)
        rebuilds_the_same(node)
    nobody_stalled(chain)


# -- node records --------------------------------------------------------------------------------
STRANGER = "440608100209"  # a village of town 1 with no node


def node_record(doc_id: str, region: str, key: bytes, as_list: bool = False):
    doc = Doc.new(doc_id, "node", region, new_peer_id())
    record = {"region": region, "name": "冒名节点", "public_key": key.hex(), "address": "", "parent": ""}
    if as_list:  # a record no reader expects: `node` a list, not a map
        doc.append("node", record)
    else:
        doc.update("node", record)
    return change_of(doc)


def test_a_village_key_cannot_vouch_for_another_regions_node(chain):
    """A's key signs node records giving a key of the thief's to a region with no node and
    to village B: no node learns either key, and what the thief then signs as them is
    refused everywhere."""
    a, b, town = chain["village_a"], chain["village_b"], chain["town"]
    other = Ed25519PrivateKey.generate()
    key, pub = signing_key(a), public_bytes(other)
    records = [sealed(key, a.node_id, THIEF_SEQ, a.node_id, [node_record(f"node:{STRANGER}", STRANGER, pub)], True),
               sealed(key, a.node_id, THIEF_SEQ + 1, a.node_id, [node_record(f"node:{b.node_id}", b.node_id, pub)],
                      True),
               sealed(key, a.node_id, THIEF_SEQ + 2, STRANGER, [node_record(f"node:{STRANGER}", STRANGER, pub)], True)]
    smuggle(town, a.node_id, records)
    impostor = change_of(case_doc(f"{STRANGER}-2026-000001", STRANGER, applicant_name=FORGED_NAME))
    as_b = change_of(case_doc(f"{b.node_id}-2026-900001", b.node_id, applicant_name=FORGED_NAME))
    smuggle(town, a.node_id, [sealed(other, STRANGER, 1, STRANGER, [impostor]),
                              sealed(other, b.node_id, 900_001, b.node_id, [as_b])])
    fresh = new_case(b)
    sync_chain(chain)
    b_key = public_bytes(signing_key(b))
    for name, node in chain.items():
        assert node.store.keys.public_key(STRANGER) is None, f"{name} learnt a key for {STRANGER}"
        if name != "village_b":
            assert node.store.keys.public_key(b.node_id) in (None, b_key), f"{name} holds another key for B"
    reaches_the_top(chain, "village_b", [fresh])
    nothing_forged_listed(chain)
    nobody_stalled(chain, victims=("village_b",))


def test_a_malformed_node_record_does_not_fail_the_batch(chain):
    """A node record whose `node` is a list, in A's own scope: refused or ignored alone;
    A's real case in the same push still goes in (it used to fail the whole batch)."""
    a, town = chain["village_a"], chain["town"]
    odd = sealed(signing_key(a), a.node_id, THIEF_SEQ, a.node_id,
                 [node_record(f"node:{a.node_id}:x", a.node_id, public_bytes(signing_key(a)), as_list=True)], True)
    real = new_case(a)
    eng = engine(a)
    eng.seal_pending()
    good = eng.next_batch(town.node_id, engine(town).positions(a.node_id)[0])
    smuggle(town, a.node_id, [odd, *good.seals])
    assert real in listed(town)
    fresh = new_case(a)
    sync_chain(chain)
    reaches_the_top(chain, "village_a", [real, fresh])
    nothing_forged_listed(chain)
    nobody_stalled(chain)


# -- positions, replays, quarantine ----------------------------------------------------------------
@pytest.mark.parametrize("thief, victim, hub", [("village_a", "village_a", "town"), ("town", "village_b", "district")],
                         ids=["village at its town", "town at the district"])
def test_an_inflated_position_cuts_nobody_off(chain, thief, victim, hub):
    """A signed empty push saying `next = 2**62 - 1`: what the thief's node holds but had
    not sent yet (a case sealed in a round that broke; a case the town relays) still goes
    up, and so does what comes after."""
    pending = new_case(chain[victim])
    if thief == victim:
        engine(chain[victim]).seal_pending()  # sealed for a round whose link broke
    else:
        exchange(chain[victim], chain[thief])  # the town holds it, not yet relayed
    smuggle(chain[hub], chain[thief].node_id, [], next_=2**62 - 1)
    later = new_case(chain[victim])
    sync_chain(chain)
    reaches_the_top(chain, victim, [pending, later])
    nothing_forged_listed(chain)
    nobody_stalled(chain)


def test_quarantine_stays_bounded(chain):
    """One push of 12,000 tiny garbage seals added 12,000 rows, and every such push as
    many: quarantine must be bounded (dedupe, cap per peer, summarise), so that it cannot
    fill the disk. The thief's real node and the others are still taken in."""
    a, town = chain["village_a"], chain["town"]
    for push in range(2):
        smuggle(town, a.node_id, [(b"\x00" + (push * 12_000 + i).to_bytes(4, "big"), b"x") for i in range(12_000)])
    same = (b"\x01the same bad seal", bytes(64))
    for _ in range(5):
        smuggle(town, a.node_id, [same])
    rows = town.store.conn.execute("SELECT count(*) FROM quarantine WHERE received_from = ?", (a.node_id,)).fetchone()
    assert rows[0] <= 10_000, f"{rows[0]} quarantine rows from one peer after 24,005 bad seals"
    again = town.store.conn.execute("SELECT count(*) FROM quarantine WHERE body = ?", (same[0],)).fetchone()
    assert again[0] <= 1, f"the same refused seal kept {again[0]} times"
    fresh = {"village_a": [new_case(a)], "village_b": [new_case(chain["village_b"])]}
    sync_chain(chain)
    for village, ids in fresh.items():
        reaches_the_top(chain, village, ids)
    nobody_stalled(chain, victims=("village_b",))


# -- a case no projection can list (defect 2) --------------------------------------------------------
def test_a_malformed_own_case_stalls_neither_the_town_nor_the_district(chain):
    """A's key signs a case of A's own scope whose applicant's name is a list. The town and
    the district keep it (and relay it), list it nowhere, and go on applying everyone
    else's cases; a rebuild reproduces the same projections."""
    a, town, district = chain["village_a"], chain["town"], chain["district"]
    bad_id = f"{a.node_id}-{a.clock().year}-900001"
    bad = change_of(case_doc(bad_id, a.node_id, applicant_name=["张三", "李四"]))
    smuggle(town, a.node_id, [sealed(signing_key(a), a.node_id, THIEF_SEQ, a.node_id, [bad])])
    others = {"village_b": [new_case(chain["village_b"])], "village_c": [new_case(chain["village_c"])]}
    sync_chain(chain)
    for village, ids in others.items():
        reaches_the_top(chain, village, ids)
    for name, node in chain.items():
        assert bad_id not in listed(node), f"{name} lists the malformed case"
    assert town.store.exists(bad_id) and district.store.exists(bad_id), "the document is kept and relayed"
    for hub in (town, district):
        assert bad_id in {q.get("doc_id") for q in node_status.quarantine(hub)}, "the admin is not told of it"
    for node in (town, district):
        rebuilds_the_same(node)
    nobody_stalled(chain, victims=("village_b", "village_c"))


# -- replayed requests (defect 9) ------------------------------------------------------------------
RECORDED = web.AppKey("recorded", list)
NOT_REPLAYED = {"host", "content-length", "transfer-encoding", "connection"}  # the client's own, per connection


@web.middleware
async def recording(request: web.Request, handler) -> web.StreamResponse:
    """Keep every request as it came (all its headers, whatever the signing scheme)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_REPLAYED}
    request.app[RECORDED].append((request.method, request.path_qs, headers, await request.read()))
    return await handler(request)


async def test_replayed_requests_are_refused(chain):
    """Every request village A's real client sent its town, sent again byte for byte, is
    refused and writes nothing, at the town and at the district (which knows A's key too,
    as a grandparent a village falls back to): a request binds its recipient and cannot
    be used twice. Villages A and B then sync as before."""
    a, b, town = chain["village_a"], chain["village_b"], chain["town"]
    servers = {}
    for name in ("town", "district"):
        app = create_app(chain[name], materialize=False)
        app[RECORDED] = []
        app.middlewares.insert(0, recording)
        servers[name] = TestServer(app, host="127.0.0.1", port=0)
        await servers[name].start_server()
    try:
        for v in (a, b):
            v.config = replace(v.config, parent_url=str(servers["town"].make_url("")))
        new_case(a)
        await asyncio.wait_for(sync_once(a), 60)
        await settle(town)
        sent = list(servers["town"].app[RECORDED])
        assert {path for _, path, _, _ in sent} >= {"/v1/hello", "/v1/push", "/v1/pull"}
        async with aiohttp.ClientSession() as session:
            for name, server in servers.items():
                with closing(home.connect(chain[name].home)) as side:
                    for method, path, headers, body in sent:
                        version = side.execute("PRAGMA data_version").fetchone()[0]
                        async with session.request(method, server.make_url(path), data=body, headers=headers) as r:
                            answer = (r.status, r.content_type, (await r.read())[:200])
                        assert 400 <= answer[0] < 500 and answer[1] == "application/json", (name, path, answer)
                        assert side.execute("PRAGMA data_version").fetchone()[0] == version, \
                            f"a replayed {path} wrote at the {name}"
        for v in (a, b):
            cid = new_case(v)
            await asyncio.wait_for(sync_once(v), 60)
            await settle(town)
            assert listed(town)[cid][0] == v.node_id
    finally:
        for server in servers.values():
            await server.close()


def catalog_item(code: str, scope: str, name: str):
    doc = Doc.new(catalog.doc_id(scope, code), "catalog_item", scope, new_peer_id())
    doc.put("versions", "1", {"code": code, "name": name})
    return change_of(doc)


def test_a_village_cannot_take_a_catalog_code_an_ancestor_publishes(chain):
    """A catalog item's id names its publisher and code (`visibility`): a village may publish
    a code of its own, but it is its own document; the city's item of that code, arriving
    later, is taken whole, and its seal refused nowhere."""
    a, town, city = chain["village_a"], chain["town"], chain["city"]
    squat = sealed(signing_key(a), a.node_id, THIEF_SEQ, a.node_id, [catalog_item("T-NEW", a.node_id, "村里抢注的事项")],
                   down=True)
    assert smuggle(town, a.node_id, [squat]).imported == 1
    real = sealed(signing_key(city), city.node_id, THIEF_SEQ, city.node_id,
                  [catalog_item("T-NEW", city.node_id, "市级事项")], down=True)
    receipt = smuggle(town, chain["district"].node_id, [real])  # the city's seal, relayed down by the district
    assert not receipt.quarantined and receipt.imported == 1
    assert town.store.get(catalog.doc_id(city.node_id, "T-NEW")).scope == city.node_id
    # and a village's key cannot publish under the city's id either
    forged = sealed(signing_key(a), a.node_id, THIEF_SEQ + 1, a.node_id,
                    [catalog_item("T-NEW2", city.node_id, "冒充市级事项")], down=True)
    assert smuggle(town, a.node_id, [forged]).quarantined and refused(town, a, THIEF_SEQ + 1)
