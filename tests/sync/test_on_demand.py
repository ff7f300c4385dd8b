"""Seals taken on demand (`Engine.receive_on_demand`): checked like any seal, only space
seals of a home this node is not on the stream's way for, kept outside the feed; a bad one
is quarantined with its reason and never blocks the rest; a duplicate is a no-op."""

from __future__ import annotations

import pytest

from support import id_number
from support.space import consent, document
from support.space_chain import held, make_space_chain, rounds
from yimen.node.replication import engine


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    nodes = make_space_chain(tmp_path_factory.mktemp("od"))
    rounds(nodes, 2)
    yield nodes
    for n in nodes.values():
        n.close()


def seal_of(node, doc_id):
    author, seq = sorted(node.store.changes.seals_of([doc_id]))[0]
    return node.store.feed.seal(author, seq)[2:]


def test_bad_seals_are_refused_with_reasons_and_the_good_one_goes_in_outside_the_feed(chain):
    a, c = chain["village_a"], chain["village_c"]
    doc = document(a, id_number(41))
    case_like = consent(a, id_number(41))  # an up seal (a consent of A's), not a space one
    rounds(chain, 1)
    good, up = seal_of(chain["district"], doc), seal_of(chain["district"], case_like)
    forged = (good[0], bytes(64))
    feed_before = c.store.feed.count()
    receipt = engine(c).receive_on_demand("440608101", [forged, up, good, good])
    assert receipt.imported == 1 and receipt.duplicates == 1 and len(receipt.refused) == 2
    reasons = " ".join(receipt.quarantined)
    assert "signature" in reasons and "only space seals" in reasons
    assert doc in held(c) and c.store.feed.count() == feed_before and c.store.on_demand.count() == 1
    assert c.store.conn.execute("SELECT count(*) FROM space_docs WHERE doc_id = ?", (doc,)).fetchone()[0] == 1
    assert c.store.quarantine.count("440608101") == 2
    # the home's ancestors take nothing on demand: they get it in the stream
    fresh = document(a, id_number(42))
    engine(a).seal_pending()
    early = seal_of(a, fresh)  # the town does not hold it yet
    refused = engine(chain["town"]).receive_on_demand("440608100201", [early])
    assert refused.imported == 0 and "in the stream" in " ".join(refused.quarantined)
    assert fresh not in held(chain["town"]) and chain["town"].store.on_demand.count() == 0
    with c.store.transaction():
        assert c.store.purge([doc]) == 1
    assert doc not in held(c) and c.store.on_demand.count() == 0
