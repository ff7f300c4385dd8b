"""Ratings (一事一评): once per case, only when the case's window work is over, only at the
node that accepted it; follow-ups by an admin; satisfaction by item and by clerk; the row
a pure function of the document (a rebuild gives the same), a bad body quarantined."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from support import accept, id_number
from yimen.node import projections
from yimen.node.errors import RoleMissing, UnknownCase
from yimen.node.services import audit, cases, clerks, ratings, status
from yimen.node.services.ratings import AlreadyRated, NotRatable, UnknownRating
from yimen.schema import rating as rules
from yimen.schema.idnumber import mask_name
from yimen.schema.rating import RatingInvalid


@pytest.fixture
def admin(node):
    clerks.add(node, "a01", "管理员甲", ["管理员"])
    return "a01"


def dibao(node) -> str:
    """A T-DIBAO case (民政), accepted and waiting (not ratable)."""
    app = cases.Application("T-DIBAO", id_number(5), "陈美玲", {"居民身份证": None, "收入证明": None}, {})
    return cases.accept(node, "c01", app)["case_id"]


def test_a_completed_case_is_rated_once_with_an_audit_entry(node):
    cid = accept(node)  # T-IMM: completed at the window by c01
    assert ratings.refusal(node, cases.get_row(node, cid)) is None
    row = ratings.rate(node, cid, "满意", "  办得很快 ", "c01")
    assert (row["score"], row["reason"], row["item_code"], row["clerk"], row["clerk_name"]) == \
        ("satisfied", "办得很快", "T-IMM", "c01", "李敏")
    assert (row["follow_up_status"], row["level"], row["node"]) == ("none", "village", node.node_id)
    assert ratings.refusal(node, cases.get_row(node, cid)) is not None
    with pytest.raises(AlreadyRated, match="rated already"):
        ratings.rate(node, cid, "不满意", "再评一次", "c01")
    assert ratings.get(node, cid)["score"] == "satisfied"
    assert [e["action"] for e in audit.trail(node, case=cid)].count("rate") == 1


def test_an_open_case_or_an_unknown_one_cannot_be_rated(node):
    cid = dibao(node)
    assert ratings.refusal(node, cases.get_row(node, cid)) is not None
    with pytest.raises(NotRatable, match="is accepted"):
        ratings.rate(node, cid, "satisfied", "", "c01")
    with pytest.raises(UnknownCase):
        ratings.rate(node, "440608100201-2026-999999", "satisfied", "", "c01")
    assert node.store.count("rating") == 0


def test_a_refused_case_may_be_rated(node):
    cid = dibao(node)
    cases.act(node, cid, "returned", "c01", reason="材料不全")
    assert ratings.rate(node, cid, "basic", "", "c01")["score"] == "basic"


def test_the_clerk_needs_the_items_role(node):
    cid = dibao(node)
    cases.act(node, cid, "returned", "c01", reason="材料不全")
    with pytest.raises(RoleMissing):
        ratings.rate(node, cid, "satisfied", "", "c02")  # 社保 only; the item is 民政's


def test_unsatisfied_needs_a_reason_and_opens_a_follow_up(node, admin):
    cid = accept(node)
    with pytest.raises(RatingInvalid, match="needs a reason"):
        ratings.rate(node, cid, "unsatisfied", "  ", "c01")
    row = ratings.rate(node, cid, "unsatisfied", "等了很久", "c01")
    assert row["follow_up_status"] == "open"
    assert [r["case_id"] for r in ratings.open_follow_ups(node)] == [cid]
    with pytest.raises(clerks.NotAdmin):
        ratings.follow_up(node, cid, "c01", "已回访")
    with pytest.raises(RatingInvalid):
        ratings.follow_up(node, cid, admin, " ")
    row = ratings.follow_up(node, cid, admin, "已电话回访，窗口增加一名人员")
    assert (row["follow_up_status"], row["follow_up_by"], row["follow_up_text"], row["follow_ups"]) == \
        ("done", admin, "已电话回访，窗口增加一名人员", 1)
    assert ratings.open_follow_ups(node) == []
    assert "rating_follow_up" in [e["action"] for e in audit.trail(node, case=cid)]


def test_a_follow_up_needs_a_rating(node, admin):
    with pytest.raises(UnknownRating):
        ratings.follow_up(node, accept(node), admin, "已回访")


def test_satisfaction_by_item_and_by_clerk(node):
    for seq, score in enumerate(("满意", "满意", "基本满意", "不满意"), start=1):
        ratings.rate(node, accept(node, seq), score, "慢" if score == "不满意" else "", "c01")
    cid = dibao(node)
    cases.act(node, cid, "returned", "c01", reason="材料不全")
    ratings.rate(node, cid, "satisfied", "", "c01")
    by_item = {r["item_code"]: r for r in ratings.satisfaction(node, "item")}
    assert {k: (r["total"], r["satisfied"], r["basic"], r["unsatisfied"]) for k, r in by_item.items()} == \
        {"T-IMM": (4, 2, 1, 1), "T-DIBAO": (1, 1, 0, 0)}
    assert by_item["T-IMM"]["share"] == 0.75 and by_item["T-IMM"]["item_name"] == "社保参保证明打印"
    [clerk] = ratings.satisfaction(node, "clerk")
    assert (clerk["clerk"], clerk["clerk_name"], clerk["total"], clerk["share"]) == ("c01", "李敏", 5, 0.8)
    with pytest.raises(Exception, match="item or clerk"):
        ratings.satisfaction(node, "day")


def test_a_rebuild_gives_the_same_rows(node, admin):
    cid = accept(node)
    ratings.rate(node, cid, "unsatisfied", "态度不好", "c01")
    ratings.follow_up(node, cid, admin, "已批评教育")
    live = projections.dump(node.store)
    assert live["ratings"]
    projections.rebuild(node.store, node.calendar)
    assert projections.dump(node.store) == live


def test_a_rating_with_a_bad_body_is_kept_and_quarantined(node):
    cid = accept(node)
    store = node.store
    with store.transaction():
        doc = store.new_doc(f"{cid}:rating", "rating", node.region_code)
        doc.update("rating", {"case_id": cid, "item_code": "T-IMM", "item_name": "x", "clerk": "c01",
                              "clerk_node": node.node_id, "score": "excellent", "reason": "", "rated_at": node.now(),
                              "rated_by": "c01"})
        store.save(doc, node.node_id)
        projections.refresh(store, doc, node.calendar, new=True)
    with pytest.raises(UnknownRating):
        ratings.get(node, cid)
    [q] = [q for q in status.quarantine(node) if q.get("doc_id")]
    assert (q["doc_id"], q["kind"]) == (f"{cid}:rating", "rating") and q["reason"].startswith("score is not one of")
    assert store.exists(f"{cid}:rating")
    projections.rebuild(store, node.calendar)
    assert [q["doc_id"] for q in status.quarantine(node) if q.get("doc_id")] == [f"{cid}:rating"]


# -- the edge: what a rating may hold ---------------------------------------------------------
@given(st.sampled_from(rules.SCORES), st.text(max_size=600))
def test_a_reason_is_stored_stripped_and_bounded_or_refused(score, reason):
    try:
        kept = rules.reason_of(score, reason)
    except RatingInvalid:
        stripped = reason.strip()
        assert len(stripped) > rules.MAX_REASON or not stripped.isprintable() or \
            (score in rules.NEEDS_FOLLOW_UP and not stripped)
        return
    assert kept == reason.strip() and len(kept) <= rules.MAX_REASON and kept.isprintable()
    assert kept or score not in rules.NEEDS_FOLLOW_UP
    assert rules.refusal({"score": score, "reason": kept}) is None


@given(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)),
       st.one_of(st.text(max_size=600), st.integers(), st.none()))
def test_a_body_is_accepted_only_as_a_node_writes_one(score, reason):
    body = {"score": score, "reason": reason}
    ok = score in rules.SCORES and isinstance(reason, str) and reason == reason.strip() and \
        len(reason) <= rules.MAX_REASON and reason.isprintable() and (reason or score not in rules.NEEDS_FOLLOW_UP)
    assert (rules.refusal(body) is None) == ok


@given(st.text(max_size=12))
def test_a_score_is_its_code_or_its_word(text):
    try:
        code = rules.score_of(text)
    except RatingInvalid:
        assert text.strip() not in (*rules.SCORES, *rules.SCORE_ZH.values())
        return
    assert text.strip() in (code, rules.SCORE_ZH[code])


@given(st.text(min_size=1, max_size=8).filter(lambda s: s.strip()))
def test_a_masked_name_shows_at_most_its_first_and_last_character(name):
    masked = mask_name(name)
    name = name.strip()
    assert len(masked) == len(name) and masked[0] == (name[0] if len(name) > 1 else "*")
    assert set(masked[1:len(name) - 1 if len(name) > 2 else None]) <= {"*"}
