"""The `ratings` projection: a rating's id names its case's owner; its row is a pure function
of the document; whatever a body holds, applying it lists a row or quarantines the
document, never fails; a follow-up that is not of a follow-up's shape is not applied."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support import VILLAGE
from yimen.node import projections
from yimen.node.projection_rules import Unprojectable
from yimen.node.rating_projections import rating_row
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.visibility import may_write, owner

CASE = f"{VILLAGE}-2026-000001"
GOOD = {"case_id": CASE, "item_code": "T-IMM", "item_name": "社保参保证明打印", "clerk": "c01", "clerk_node": VILLAGE,
        "score": "unsatisfied", "reason": "慢", "rated_at": "2026-11-16T09:00:00+08:00", "rated_by": "c01"}


def doc_of(body: dict, follow_ups: list = (), doc_id: str = f"{CASE}:rating") -> Doc:
    doc = Doc.new(doc_id, "rating", VILLAGE, new_peer_id())
    doc.update("rating", body)
    for f in follow_ups:
        doc.append("follow_ups", f) if isinstance(f, dict) else doc._loro.get_list("follow_ups").push(f)
    doc.commit()
    return doc


@given(st.from_regex(r"\A[0-9]{4}-[0-9]{6}\Z"))
def test_a_rating_belongs_to_its_cases_owner(rest):
    case_id = f"{VILLAGE}-{rest}"
    assert owner(f"{case_id}:rating", "rating") == owner(case_id, "case") == VILLAGE
    assert owner(case_id, "rating") is None and owner(f"{VILLAGE}-:rating", "rating") is None
    assert may_write("440608100000", f"{case_id}:rating", "rating", VILLAGE)  # the town appends follow-ups
    assert not may_write("440608100202", f"{case_id}:rating", "rating", VILLAGE)  # a sibling never


def test_a_row_is_the_documents_own():
    row = rating_row(doc_of(GOOD), doc_of(GOOD).value(), {})
    assert (row["case_id"], row["node"], row["level"], row["follow_up_status"], row["follow_ups"]) == \
        (CASE, VILLAGE, "village", "open", 0)
    with pytest.raises(Unprojectable, match="describes"):
        other = {**GOOD, "case_id": f"{VILLAGE}-2026-000002"}
        rating_row(doc_of(other), doc_of(other).value(), {})


def test_a_malformed_follow_up_is_not_applied():
    good = {"admin": "a01", "node": VILLAGE, "at": "2026-11-17T09:00:00+08:00", "text": "已回访"}
    doc = doc_of(GOOD, [{**good, "text": ""}, {**good, "text": ["x"]}, "not a map"])
    assert rating_row(doc, doc.value(), {})["follow_up_status"] == "open"
    doc = doc_of(GOOD, [good, {**good, "text": 5}])
    row = rating_row(doc, doc.value(), {})
    assert (row["follow_up_status"], row["follow_up_text"], row["follow_ups"]) == ("done", "已回访", 1)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(GOOD)), VALUES, max_size=4))
def test_whatever_a_body_holds_it_is_listed_or_quarantined(node, changes):
    body = {**GOOD, **changes}
    store = node.store
    doc = Doc.new(f"{CASE}:rating", "rating", VILLAGE, store.peer)
    doc.update("rating", body)
    with store.transaction():
        store.conn.execute("DELETE FROM projection_refused")
        store.conn.execute("DELETE FROM ratings")
        projections.refresh(store, doc, node.calendar, new=True)
        listed = store.conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
        refused = store.conn.execute("SELECT count(*) FROM projection_refused").fetchone()[0]
    assert listed + refused == 1
