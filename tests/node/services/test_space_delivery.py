"""The answering side of on-demand delivery: bounded answers with `more`, and whatever a
request holds, an answer or a `WireError` (4xx), never another error and no write."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import id_number
from support.space import consent, document
from support.space_chain import MemoryLink, held, make_space_chain, round_of, rounds
from support.chain import push, run_coroutine
from yimen.node.services import space_delivery
from yimen.sync.transports.wire import WireError


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    nodes = make_space_chain(tmp_path_factory.mktemp("space"))
    rounds(nodes, 2)
    yield nodes
    for n in nodes.values():
        n.close()


def test_a_bounded_answer_says_more_and_the_fetch_goes_on_until_it_holds_everything(chain, monkeypatch):
    nodes, citizen = chain, id_number(31)
    docs = {document(nodes["village_a"], citizen) for _ in range(3)}
    rounds(nodes, 1)
    given = consent(nodes["village_c"], citizen)
    round_of(nodes, "village_c")
    push(nodes["town2"], nodes["district"])  # the consent up to the district, no fetch yet
    monkeypatch.setattr(space_delivery, "MAX_ANSWER_BYTES", 1)  # one seal per answer
    town2, district = nodes["town2"], nodes["district"]
    first = space_delivery.answer(district, town2.node_id, {"consents": [given], "held": []})
    assert len(first["seals"]) == 1 and first["more"] is True
    stats = run_coroutine(space_delivery.fetch(town2, MemoryLink(district, town2)))
    assert stats["received"] == 3 and docs <= held(town2)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.binary(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.dictionaries(st.sampled_from(["consents", "held", "more", "x"]), JSONISH, max_size=3))
def test_any_request_gets_an_answer_or_a_4xx_and_changes_nothing(chain, message):
    district, c = chain["district"], chain["village_c"]
    before = district.store.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    with pytest.raises(WireError) as refused:  # (no consent id here is held: random text)
        space_delivery.answer(district, c.node_id, message)
    assert refused.value.code in ("bad_request", "not_found") and refused.value.zh and refused.value.en
    assert district.store.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before
