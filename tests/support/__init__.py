"""Shared test helpers: the small catalog, ID numbers, a settable clock, cases accepted at
a window and a full database dump (fixtures that use them live in tests/conftest.py)."""

from __future__ import annotations


from yimen.sync.store import driver
from yimen.node import home
from yimen.node.services import cases
from yimen.schema.idnumber import check_digit

VILLAGE = "440608100201"
TOWN = "440608100000"

MINI_CATALOG = """{"items": [
 {"code": "T-IMM", "name": "社保参保证明打印", "department": "社保", "legal_basis": "《社会保险法》",
  "accept_level": "village", "steps": [], "time_limit_days": 0, "fee": 0,
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]},
 {"code": "T-LOCAL", "name": "村级居住情况核实", "department": "村委会", "legal_basis": "《村民委员会组织法》",
  "accept_level": "village", "time_limit_days": 3, "fee": 0, "result_type": "residence_proof",
  "steps": [[{"level": "village", "department": "村委会"}, {"level": "village", "department": "民政"}]],
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"},
                {"name": "户口簿", "requirement": "deferrable", "doc_type": "household_register"},
                {"name": "相片", "requirement": "optional", "doc_type": "photo"}]},
 {"code": "T-DIBAO", "name": "最低生活保障申请", "department": "民政", "legal_basis": "《社会救助暂行办法》",
  "accept_level": "village", "time_limit_days": 20, "fee": 0,
  "steps": [[{"level": "village", "department": "民政"}], [{"level": "town", "department": "民政"}]],
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"},
                {"name": "收入证明", "requirement": "deferrable", "doc_type": "income_proof"}]}
]}"""


def id_number(seq: int = 1, birth: str = "19900101", region: str = "440608") -> str:
    body = f"{region}{birth}{seq % 1000:03d}"
    return body + check_digit(body)


Clock = home.SettableClock



def dump(node) -> list[str]:
    """Every row of every table: compared before and after a refused request."""
    return list(driver.iterdump(node.store.conn))


def accept(node, seq: int = 1) -> str:
    """A T-IMM case (no steps: completed at the window) accepted by clerk c01 at `node`
    for applicant `id_number(seq)`, 申请人{seq}; returns its receipt number."""
    app = cases.Application("T-IMM", id_number(seq), f"申请人{seq}", {"居民身份证": None}, {})
    return cases.accept(node, "c01", app)["case_id"]


def accept_cases(node, n: int, first: int = 1) -> list[str]:
    """`n` cases as `accept` makes them, for applicants `first` to `first + n - 1`."""
    return [accept(node, seq) for seq in range(first, first + n)]


def listed(node) -> set[str]:
    """The case ids `node`'s projections list."""
    return {r[0] for r in node.store.conn.execute("SELECT case_id FROM cases")}


def in_supplement(node, clock, days: int = 2) -> str:
    """A T-DIBAO case accepted, submitted and, `days` later, sent back for a supplement (补正)."""
    from yimen.node.services import cases
    app = cases.Application("T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "submit", "c01")
    clock.advance(days=days)
    cases.act(node, cid, "supplement", "c01", reason="缺")
    return cid
