"""Space documents in the seal stream: sealed one document per seal, up to the home's
ancestors and no further; every node of the chain finds a citizen by the root's key."""

from __future__ import annotations

from support import id_number
from support.chain import synced_chain, sync_all
from support.space import consent, document
from yimen.personal_space import citizen
from yimen.sync import seal as seals
from yimen.sync.visibility import SPACE


def space_ids(node) -> set[str]:
    return {r[0] for r in node.store.conn.execute("SELECT doc_id FROM space_docs")}


def test_space_documents_flow_up_only_one_per_seal_and_are_found_by_the_city_key(tmp_path):
    with synced_chain(tmp_path) as nodes:
        a, b = nodes["village_a"], nodes["village_b"]
        ids = {document(a, id_number(1)), document(a, id_number(1), "id_card"), document(a, id_number(2))}
        given = consent(b, id_number(1))
        sync_all(nodes)
        for name in ("town", "district", "city"):
            assert space_ids(nodes[name]) == ids, name
        assert space_ids(b) == set() and space_ids(a) == ids
        own = [seals.decode(body, sig) for _, body, sig in
               ((None, *a.store.feed.bodies([ls])[0]) for ls, *_ in a.store.feed.scan(0, 10_000))]
        spaced = [s for s in own if s.flow == SPACE]
        assert len(spaced) == 3 and all(len({c.doc_id for c in s.changes}) == 1 for s in spaced)
        keys = {citizen.key(n.store) for n in nodes.values()}
        assert len(keys) == 1 and nodes["city"].store.meta(citizen.KEY_META).startswith("440600000000 ")
        subject = citizen.subject_of(a.store, id_number(1))
        for name in ("village_a", "city"):
            rows = nodes[name].store.conn.execute("SELECT doc_type FROM space_docs WHERE subject = ?", (subject,))
            assert sorted(r[0] for r in rows) == ["id_card", "income_proof"]
        held = nodes["district"].store.conn.execute("SELECT consent_id, node FROM space_consents").fetchall()
        assert held == [(given, b.node_id)]


def test_a_node_alone_uses_a_provisional_key_and_derives_again_with_the_roots(tmp_path, clock):
    from support.chain import make_chain
    nodes = make_chain(tmp_path / "c")
    try:
        a = nodes["village_a"]
        assert a.store.meta(citizen.KEY_META) is None  # enrolled, not yet synced: no root key yet
        doc_id = document(a, id_number(3))
        before = a.store.conn.execute("SELECT subject FROM space_docs WHERE doc_id = ?", (doc_id,)).fetchone()[0]
        sync_all(nodes)
        after = a.store.conn.execute("SELECT subject FROM space_docs WHERE doc_id = ?", (doc_id,)).fetchone()[0]
        assert before != after == citizen.subject_of(nodes["city"].store, id_number(3))
    finally:
        for n in nodes.values():
            n.close()
