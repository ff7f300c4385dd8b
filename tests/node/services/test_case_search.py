"""Finding cases: pages that say how many there are in all, and an applicant's cases by
exact name, exact ID number (normalized like `accept`) or the last digits of the number."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from support import accept_cases, id_number
from yimen.node.services import caselist, cases
from yimen.schema.idnumber import InvalidIdNumber, parse_id_tail


def _ids(rows) -> list[str]:
    return [r["case_id"] for r in rows]


def test_pages_are_stable_newest_first_and_count_the_whole_list(node):
    made = accept_cases(node, 7)
    pages = [_ids(caselist.list_cases(node, limit=3, page=p)) for p in (1, 2, 3, 4)]
    assert pages == [made[6:3:-1], made[3:0:-1], made[:1], []]
    assert caselist.count_cases(node) == 7 and caselist.count_cases(node, status="completed") == 7
    assert _ids(caselist.iter_cases(node, None)) == made[::-1]


def test_find_an_applicant_by_exact_name(node):
    accept_cases(node, 3)
    assert [r["applicant_name"] for r in caselist.list_cases(node, name=" 申请人2 ")] == ["申请人2"]
    assert caselist.list_cases(node, name="申请人") == []  # exact, not a substring


def test_find_by_id_number_18_or_15_digits(node):
    app = cases.Application("T-IMM", id_number(5, birth="19650101"), "老张", {"居民身份证": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    accept_cases(node, 3)
    legacy = id_number(5, birth="19650101")[:6] + "650101" + "005"
    assert _ids(caselist.list_cases(node, id_number=id_number(5, birth="19650101"))) == [cid]
    assert _ids(caselist.list_cases(node, id_number=legacy)) == [cid]
    with pytest.raises(InvalidIdNumber):
        caselist.list_cases(node, id_number="123")


def test_find_by_the_last_digits_of_the_id_number(node):
    made = accept_cases(node, 12)
    tail = id_number(11)[-4:]
    assert _ids(caselist.list_cases(node, id_tail=tail)) == [made[10]]
    assert _ids(caselist.list_cases(node, id_tail=id_number(11)[-9:])) == [made[10]]
    assert caselist.count_cases(node, id_tail=id_number(11)[-9:]) == 1
    with pytest.raises(InvalidIdNumber, match="4"):
        caselist.list_cases(node, id_tail="123")


def test_applicant_searches_read_an_index(node):
    where, params = caselist._case_filter(node, None, id_tail="1235")
    plan = " ".join(r[-1] for r in node.store.conn.execute(f"EXPLAIN QUERY PLAN SELECT case_id FROM cases{where}",
                                                           params))
    assert "cases_applicant_tail" in plan
    where, params = caselist._case_filter(node, None, name="陈美玲")
    plan = " ".join(r[-1] for r in node.store.conn.execute(f"EXPLAIN QUERY PLAN SELECT case_id FROM cases{where}",
                                                           params))
    assert "cases_applicant_name" in plan


@given(st.text(alphabet="0123456789", min_size=3, max_size=17), st.sampled_from(["", "X", "x"]))
def test_an_id_tail_is_4_to_18_digits_the_last_may_be_x(digits, x):
    text = digits + x
    if 4 <= len(text) <= 18:
        assert parse_id_tail(f" {text} ") == digits + x.upper()
    else:
        with pytest.raises(InvalidIdNumber):
            parse_id_tail(text)


@given(st.text(min_size=1, max_size=20).filter(lambda t: not t.strip().rstrip("xX").isdigit()
                                                or not t.strip().rstrip("xX").isascii()))
def test_anything_else_is_no_id_tail(text):
    stripped = text.strip()
    if stripped[:-1].isdigit() and stripped[:-1].isascii() and stripped[-1:] in "xX" and 4 <= len(stripped) <= 18:
        return  # digits with a final X
    with pytest.raises(InvalidIdNumber):
        parse_id_tail(text)
