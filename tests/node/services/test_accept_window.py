"""What the window's accept form relies on in the services: the signed commitment a
deferral needs (容缺承诺书), a refusal's applicant named, the item a clerk may accept, and
the space's offers looked up before accepting, read in the audit trail."""

from __future__ import annotations

import pytest

from support import id_number
from support.space import document
from yimen.node.errors import MaterialsIncomplete, RoleMissing
from yimen.node.services import audit, cases, catalog, clerks, space_reuse
from yimen.schema.errors import SchemaError


def test_a_deferral_needs_the_signed_commitment(node):
    app = cases.Application("T-DIBAO", id_number(7), "陈美玲", {"居民身份证": None}, {"收入证明": None},
                            commitment_signed=False)
    with pytest.raises(MaterialsIncomplete) as e:
        cases.accept(node, "c01", app)
    assert e.value.zh == "容缺受理须申请人签署承诺书：收入证明"
    nothing_deferred = cases.Application("T-DIBAO", id_number(7), "陈美玲", {"居民身份证": None, "收入证明": None}, {},
                                         commitment_signed=False)
    assert cases.accept(node, "c01", nothing_deferred)["status"] == "accepted"


def test_a_refusal_names_its_applicant(node):
    with pytest.raises(SchemaError) as e:
        cases.not_accept(node, "c01", "T-DIBAO", id_number(7), " ", "不属于本村户籍")
    assert e.value.zh == "申请人姓名不能为空"


def test_the_item_a_clerk_may_accept(node):
    assert catalog.acceptable_item(node, clerks.get(node, "c01"), "T-DIBAO").code == "T-DIBAO"
    with pytest.raises(RoleMissing):
        catalog.acceptable_item(node, clerks.get(node, "c02"), "T-DIBAO")


def test_the_offers_before_accepting_are_audited_when_found(node):
    item = catalog.acceptable_item(node, clerks.get(node, "c01"), "T-DIBAO")
    assert space_reuse.offered(node, "c01", id_number(7), item) == {}
    assert audit.trail(node, id_number=id_number(7)) == []
    doc_id = document(node, id_number(7), "income_proof")
    found = space_reuse.offered(node, "c01", id_number(7), item)
    assert found["收入证明"]["doc_id"] == doc_id and set(found) == {"收入证明"}
    assert audit.trail(node, id_number=id_number(7))[-1]["action"] == "space_offers"
