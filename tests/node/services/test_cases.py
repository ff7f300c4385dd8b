from __future__ import annotations

import pytest

from support import MINI_CATALOG, dump, id_number
from yimen.node.services import caselist, cases, catalog
from yimen.node.errors import ItemNotActive, MaterialsIncomplete, RoleMissing, UnknownCase, UnknownItem
from yimen.schema.case import IllegalTransition
from yimen.schema.catalog import parse_catalog_json
from yimen.schema.errors import YimenError
from yimen.schema.idnumber import InvalidIdNumber


def app(item="T-DIBAO", provided=("居民身份证", "收入证明"), deferred=(), seq=1, name="陈美玲"):
    return cases.Application(item, id_number(seq), name, {m: None for m in provided},
                             {m: None for m in deferred})


def test_immediate_item_completes_in_one_action(node):
    row = cases.accept(node, "c01", app("T-IMM", ("居民身份证",)))
    assert row["status"] == "completed" and row["deadline"] is None
    assert [e["action"] for e in cases.show(node, row["case_id"])["history"]] == ["accept", "complete"]


def test_receipt_numbers_are_region_year_sequence(node):
    a = cases.accept(node, "c01", app())
    b = cases.accept(node, "c01", app(seq=2))
    assert a["case_id"] == "440608100201-2026-000001"
    assert b["case_id"] == "440608100201-2026-000002"


def test_promised_case_deadline_counts_working_days(node):
    row = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证", "户口簿")))
    assert row["accepted_date"] == "2026-11-16" and row["deadline"] == "2026-11-19"
    assert row["card"] == "green"


def test_village_only_case_runs_to_completion_with_parallel_step(node):
    cid = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证",), deferred=("户口簿",)))["case_id"]
    assert cases.act(node, cid, "submit", "c01")["status"] == "in_review"
    row = cases.act(node, cid, "approve", "c01", department="村委会")
    assert row["status"] == "in_review"  # the parallel reviewer 民政 has not decided
    assert cases.act(node, cid, "approve", "c01", department="民政")["status"] == "approved"
    with pytest.raises(IllegalTransition, match="deferred material outstanding"):
        cases.act(node, cid, "issue_result", "c01")
    cases.act(node, cid, "deliver", "c01", material="户口簿")
    assert cases.act(node, cid, "issue_result", "c01")["status"] == "result_issued"
    assert cases.act(node, cid, "complete", "c01")["status"] == "completed"


def test_town_step_cannot_be_decided_at_a_village(node):
    cid = cases.accept(node, "c01", app())["case_id"]
    cases.act(node, cid, "submit", "c01")
    assert cases.act(node, cid, "approve", "c01")["status"] == "in_review"
    before = dump(node)
    with pytest.raises(IllegalTransition, match="town level"):
        cases.act(node, cid, "approve", "c01")
    assert dump(node) == before


def test_supplement_pauses_and_supply_resumes(node):
    cid = cases.accept(node, "c01", app())["case_id"]
    cases.act(node, cid, "submit", "c01")
    assert cases.act(node, cid, "supplement", "c01", reason="收入证明不清晰")["status"] == "supplement"
    assert cases.act(node, cid, "supply", "c01")["status"] == "in_review"


def test_new_catalog_version_leaves_old_cases_on_theirs(node):
    cid = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证", "户口簿")))["case_id"]
    changed = parse_catalog_json(
        MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 5'), "2026-11-16")
    result = catalog.import_items(node, changed)
    assert result.updated == ["T-LOCAL"] and set(result.unchanged) == {"T-IMM", "T-DIBAO"}
    assert catalog.current(node, "T-LOCAL").version == 2
    assert cases.get_row(node, cid)["item_version"] == 1
    assert cases.get_row(node, cid)["deadline"] == "2026-11-19"
    new = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证", "户口簿"), seq=2))
    assert new["item_version"] == 2 and new["deadline"] == "2026-11-23"


BAD_ACCEPTS = [
    ("invalid ID number", lambda n: cases.accept(n, "c01", cases.Application(
        "T-DIBAO", id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1"), "陈", {"居民身份证": None, "收入证明": None}, {})), InvalidIdNumber),
    ("unknown item", lambda n: cases.accept(n, "c01", app("NOPE")), UnknownItem),
    ("mandatory material missing", lambda n: cases.accept(n, "c01", app(provided=("收入证明",))),
     MaterialsIncomplete),
    ("non-deferrable deferred", lambda n: cases.accept(n, "c01", app(provided=("收入证明",), deferred=("居民身份证",))),
     MaterialsIncomplete),
    ("clerk without the role", lambda n: cases.accept(n, "c02", app()), RoleMissing),
    ("unknown clerk", lambda n: cases.accept(n, "nobody", app()), YimenError),
    ("empty applicant name", lambda n: cases.accept(n, "c01", app(name=" ")), YimenError),
    ("unknown case", lambda n: cases.act(n, "440608100201-2026-999999", "submit", "c01"), UnknownCase),
    ("refusal without reason", lambda n: cases.not_accept(n, "c01", "T-DIBAO", id_number(), "陈", " "),
     IllegalTransition),
]


@pytest.mark.parametrize("what,call,error", BAD_ACCEPTS, ids=[b[0] for b in BAD_ACCEPTS])
def test_bad_input_changes_nothing(node, what, call, error):
    cases.accept(node, "c01", app(seq=9))
    before = dump(node)
    with pytest.raises(error):
        call(node)
    assert dump(node) == before


def test_illegal_transition_changes_nothing(node):
    cid = cases.accept(node, "c01", app())["case_id"]
    before = dump(node)
    with pytest.raises(IllegalTransition):
        cases.act(node, cid, "complete", "c01")
    assert dump(node) == before


def test_cancelled_item_accepts_no_new_cases(node):
    cancelled = parse_catalog_json(MINI_CATALOG.replace(
        '"time_limit_days": 20, "fee": 0,', '"time_limit_days": 20, "fee": 0, "status": "cancelled",'), "2026-11-16")
    catalog.import_items(node, cancelled)
    before = dump(node)
    with pytest.raises(ItemNotActive):
        cases.accept(node, "c01", app())
    assert dump(node) == before


def test_cards_follow_the_clock(node, clock):
    cid = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证", "户口簿")))["case_id"]  # deadline Thu 19th
    clock.advance(days=2)  # Wednesday: one working day left
    assert cases.get_row(node, cid)["card"] == "yellow"
    assert [r["case_id"] for r in caselist.list_cases(node, card="yellow")] == [cid]
    clock.advance(days=2)  # Friday: past the deadline
    assert cases.get_row(node, cid)["card"] == "red"
    assert [r["case_id"] for r in caselist.list_cases(node, card="red")] == [cid]
    assert caselist.list_cases(node, card="green") == []


def test_card_in_python_agrees_with_card_in_sql(node, clock):
    for i, item in enumerate(["T-LOCAL", "T-DIBAO", "T-IMM"] * 3):
        cases.accept(node, "c01", app(item, ("居民身份证", "户口簿") if item == "T-LOCAL" else
                                      ("居民身份证", "收入证明") if item == "T-DIBAO" else ("居民身份证",), seq=i))
        clock.advance(days=1)
    for _ in range(30):
        rows = caselist.list_cases(node)
        assert [r["card"] for r in rows] == [cases.card(node, r) for r in rows]
        clock.advance(hours=19)
