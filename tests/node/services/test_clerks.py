"""Clerks change roles and leave: a deactivated clerk cannot act, and the cases they
handled keep their id, with their name beside it in lists and reports."""

from __future__ import annotations

import pytest

from support import accept, dump, id_number
from yimen.node.services import caselist, cases, clerks, reports
from yimen.node.services.clerks import ClerkInactive
from yimen.node.errors import RoleMissing, UnknownClerk
from yimen.schema.errors import SchemaError


def test_roles_are_added_and_removed_and_a_clerk_keeps_one(node):
    assert clerks.set_roles(node, "c02", ["民政", "残联"], ["社保"])["roles"] == sorted(["民政", "残联"])
    cases.accept(node, "c02", cases.Application("T-DIBAO", id_number(), "陈", {"居民身份证": None, "收入证明": None}, {}))
    before = dump(node)
    for add, remove in (([], ["民政", "残联"]), (["不存在"], []), ([], [])):
        with pytest.raises(SchemaError):
            clerks.set_roles(node, "c02", add, remove)
    with pytest.raises(UnknownClerk):
        clerks.set_roles(node, "c99", ["民政"], [])
    assert dump(node) == before
    clerks.set_roles(node, "c02", [], ["民政"])
    with pytest.raises(RoleMissing):
        cases.accept(node, "c02", cases.Application("T-DIBAO", id_number(2), "陈", {"居民身份证": None,
                                                                                  "收入证明": None}, {}))


def test_a_deactivated_clerk_cannot_act_and_keeps_their_name_in_lists(node, clock):
    cid = cases.accept(node, "c01", cases.Application("T-DIBAO", id_number(), "陈", {"居民身份证": None,
                                                                                   "收入证明": None}, {}))["case_id"]
    cases.act(node, cid, "supplement", "c01", reason="收入材料不全")
    assert clerks.set_active(node, "c01", False)["active"] is False
    before = dump(node)
    with pytest.raises(ClerkInactive, match="c01"):
        accept(node)
    with pytest.raises(ClerkInactive):
        cases.act(node, cid, "supply", "c01")
    with pytest.raises(ClerkInactive):
        cases.not_accept(node, "c01", "T-DIBAO", id_number(3), "王", "不属于本村")
    assert dump(node) == before
    assert [(r["accepted_by"], r["accepted_by_name"]) for r in caselist.list_cases(node)] == [("c01", "李敏")]
    assert [(r["actor"], r["actor_name"]) for r in reports.refusals(node)["rows"]] == [("c01", "李敏")]
    listed = {c["clerk_id"]: c for c in clerks.all_clerks(node)}
    assert listed["c01"]["active"] is False and listed["c01"]["deactivated_at"].startswith("2026-11-16")
    clerks.set_active(node, "c01", True)
    assert cases.act(node, cid, "supply", "c01")["status"] == "accepted"


def test_a_clerk_of_another_node_is_not_named_after_ours(node):
    """Clerks are local: the c01 of a village is not the town's c01."""
    cid = accept(node)
    node.store.conn.execute("UPDATE cases SET node = '440608100202' WHERE case_id = ?", (cid,))
    assert [(r["accepted_by"], r["accepted_by_name"]) for r in caselist.list_cases(node)] == [("c01", None)]
