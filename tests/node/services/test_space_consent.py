"""Consent delivery and purge in an in-memory chain with two towns: a document of village A
(town 1) reaches village C (town 2) only under C's consent, one level per round, and
leaves C and town 2 within one round of the withdrawal or the expiry; the home and its
ancestors keep it. By bundle too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support import id_number
from support.space import consent, document
from support.space_chain import held, make_space_chain, purges, round_of, rounds
from yimen.node.home import china_now
from yimen.node.services import bundles, space, space_purge
from yimen.sync.transports.bundle import BundleIOError
from yimen.sync import digests

ANCESTORS_OF_A = ("village_a", "town", "district", "city")


@pytest.fixture
def chain(tmp_path):
    nodes = make_space_chain(tmp_path)
    rounds(nodes, 2)
    yield nodes
    for n in nodes.values():
        n.close()


def deliver(nodes, citizen, types=("income_proof",), days=30):
    doc = document(nodes["village_a"], citizen)
    rounds(nodes, 1)
    assert doc not in held(nodes["village_c"])  # no consent yet: the stream never brings it
    given = consent(nodes["village_c"], citizen, types=types, days=days)
    return doc, given


def test_a_consented_document_comes_down_one_level_per_round_and_only_to_the_consented_node(chain):
    nodes, citizen = chain, id_number(11)
    doc, given = deliver(nodes, citizen)
    other = document(nodes["village_a"], citizen, "id_card")  # a type the consent does not name
    stats = round_of(nodes, "village_c")  # the consent goes up to town 2; town 2 holds nothing yet
    assert stats["received"] == 0 and doc not in held(nodes["town2"])
    round_of(nodes, "town2")  # town 2 pushes the consent up, the district (common ancestor) answers
    assert doc in held(nodes["town2"]) and nodes["town2"].store.on_demand.count() == 1
    stats = round_of(nodes, "village_c")  # town 2 relays it down from what it holds on demand
    assert stats["received"] == 1 and doc in held(nodes["village_c"])
    assert other not in held(nodes["village_c"]) | held(nodes["town2"])
    assert doc not in held(nodes["village_b"])  # another village than the consent's: never
    again = round_of(nodes, "village_c")
    assert again["received"] == 0 and again["duplicates"] == 0  # what it holds is not sent twice
    rows = nodes["village_c"].store.conn.execute("SELECT doc_type FROM space_docs").fetchall()
    assert rows == [("income_proof",)]
    # the on-demand copies are in no feed and in no reconcile listing
    for name in ("town2", "village_c"):
        assert nodes[name].store.feed.has(*_author_seq(nodes["village_a"], doc)) is False
        assert doc not in {d for docs in digests.listing(nodes[name].store).values() for d in docs}


def _author_seq(node, doc_id):
    return sorted(node.store.changes.seals_of([doc_id]))[0]


def test_withdrawal_purges_at_the_window_at_once_and_at_its_town_in_the_next_round(chain):
    nodes, citizen = chain, id_number(12)
    doc, given = deliver(nodes, citizen)
    rounds(nodes, 2)
    assert doc in held(nodes["village_c"]) and doc in held(nodes["town2"])
    space.withdraw_consent(nodes["village_c"], given, "c01", "办结")
    assert doc not in held(nodes["village_c"])  # at X, at once
    assert purges(nodes["village_c"]) == [(doc, "withdrawn")]
    c = nodes["village_c"].store
    assert c.conn.execute("SELECT count(*) FROM space_docs").fetchone()[0] == 0 and c.on_demand.count() == 0
    assert c.conn.execute("SELECT count(*) FROM changes WHERE doc_id = ?", (doc,)).fetchone()[0] == 0
    round_of(nodes, "village_c")  # one round: the withdrawal reaches town 2, which purges on import
    assert doc not in held(nodes["town2"]) and purges(nodes["town2"]) == [(doc, "withdrawn")]
    rounds(nodes, 2)
    for name in ANCESTORS_OF_A:
        assert doc in held(nodes[name]) and purges(nodes[name]) == [], name
    assert doc not in held(nodes["town2"]) | held(nodes["village_c"])  # and it does not come back


def test_expiry_purges_in_the_next_round_with_its_reason(chain):
    nodes, citizen = chain, id_number(13)
    doc, given = deliver(nodes, citizen, days=1)
    rounds(nodes, 2)
    assert doc in held(nodes["village_c"]) and doc in held(nodes["town2"])
    later = lambda: china_now() + timedelta(days=2)  # noqa: E731
    for name in ("village_c", "town2"):
        nodes[name].clock = later
        round_of(nodes, name)
        assert doc not in held(nodes[name]) and purges(nodes[name]) == [(doc, "expired")], name
    assert doc in held(nodes["district"])


def test_purge_drops_the_files_no_held_document_lists(chain, tmp_path):
    from yimen.node.services import space_files
    nodes, citizen = chain, id_number(14)
    scan = tmp_path / "scan.bin"
    scan.write_bytes(b"x" * 3000)
    ref = space_files.store_file(nodes["village_a"], scan, mime="application/octet-stream")
    doc = document(nodes["village_a"], citizen, files=(ref,))
    rounds(nodes, 1)
    given = consent(nodes["village_c"], citizen)
    rounds(nodes, 2)
    c = nodes["village_c"]
    assert doc in held(c)
    with c.store.transaction():  # the file's chunks as helper B's transfer would leave them
        c.store.chunks.put(ref.chunks[0], scan.read_bytes())
    space.withdraw_consent(c, given, "c01")
    assert c.store.chunks.held(ref.chunks) == set() and space_purge.sweep(c) == []


def test_by_bundle_the_request_goes_up_and_the_documents_come_back_in_the_next_bundle(chain, tmp_path):
    nodes, citizen = chain, id_number(15)
    doc, given = deliver(nodes, citizen)
    round_of(nodes, "town2")  # (town 2 learns nothing yet: the consent is at village C only)
    c, town2 = nodes["village_c"], nodes["town2"]
    bundles.import_bundle(town2, bundles.export_bundle(c, town2.node_id, tmp_path / "up.ymb")["file"])
    round_of(nodes, "town2")  # town 2 fetches from the district online
    assert doc in held(town2)
    served = lambda: town2.store.conn.execute(  # noqa: E731
        "SELECT count(*) FROM audit_log WHERE action = 'space_serve'").fetchone()[0]
    before = served()
    with pytest.raises(BundleIOError):  # the stick is not there: nothing left this node, nothing is logged as served
        bundles.export_bundle(town2, c.node_id, tmp_path / "no" / "stick" / "down.ymb")
    assert served() == before
    out = bundles.export_bundle(town2, c.node_id, tmp_path / "down.ymb")
    assert served() == before + 1
    got = bundles.import_bundle(c, out["file"])
    assert got["space"]["received"] == 1 and doc in held(c)
    again = bundles.import_bundle(c, out["file"])  # the same stick twice: nothing twice
    assert again["space"]["received"] == 0 and c.store.on_demand.count() == 1


def test_a_bundle_with_a_malformed_space_entry_is_refused_whole(chain, tmp_path, monkeypatch):
    from yimen.node.services import space_delivery
    from yimen.sync.transports.bundle_records import BadBundle
    nodes = chain
    c, town2 = nodes["village_c"], nodes["town2"]
    consent(c, id_number(16))
    monkeypatch.setattr(space_delivery, "bundle_header", lambda node, to: ({"space": {"want": {"consents": "all"}}}, []))
    path = bundles.export_bundle(c, town2.node_id, tmp_path / "bad.ymb")["file"]
    before = (town2.store.feed.count(), town2.store.count("consent"), town2.store.meta(f"space:want:{c.node_id}"))
    with pytest.raises(BadBundle, match="space"):
        bundles.import_bundle(town2, path)
    assert (town2.store.feed.count(), town2.store.count("consent"),
            town2.store.meta(f"space:want:{c.node_id}")) == before


def test_a_childs_bundle_without_a_request_ends_the_request_it_carried_before(chain, tmp_path):
    nodes, citizen = chain, id_number(17)
    c, town2 = nodes["village_c"], nodes["town2"]
    given = consent(c, citizen)
    bundles.import_bundle(town2, bundles.export_bundle(c, town2.node_id, tmp_path / "1.ymb")["file"])
    assert town2.store.meta(f"space:want:{c.node_id}") is not None
    space.withdraw_consent(c, given, "c01")
    bundles.import_bundle(town2, bundles.export_bundle(c, town2.node_id, tmp_path / "2.ymb")["file"])
    assert town2.store.meta(f"space:want:{c.node_id}") is None
