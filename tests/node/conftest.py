"""Fixtures: a fresh village node on a temp dir with a small catalog, clerks and a clock
that tests move by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from yimen.node import catalog, clerks, home
from yimen.schema.catalog import parse_catalog_json
from yimen.schema.idnumber import check_digit

VILLAGE = "440608100201"
TOWN = "440608100000"

MINI_CATALOG = """{"items": [
 {"code": "T-IMM", "name": "社保参保证明打印", "department": "社保", "legal_basis": "《社会保险法》",
  "accept_level": "village", "steps": [], "time_limit_days": 0, "fee": 0,
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]},
 {"code": "T-LOCAL", "name": "村级居住情况核实", "department": "村委会", "legal_basis": "《村民委员会组织法》",
  "accept_level": "village", "time_limit_days": 3, "fee": 0,
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


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))  # a Monday


@pytest.fixture
def fresh_node(tmp_path: Path, clock: Clock):
    node = home.init(tmp_path / "village", VILLAGE, "示范村党群服务中心", clock=clock)
    yield node
    node.close()


@pytest.fixture
def node(fresh_node):
    """A village node with the mini catalog and two clerks: c01 (民政, 社保, 村委会) and
    c02 (社保 only)."""
    catalog.import_items(fresh_node, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(fresh_node, "c01", "李敏", ["民政", "社保", "村委会"])
    clerks.add(fresh_node, "c02", "王芳", ["社保"])
    return fresh_node


def dump(node) -> list[str]:
    """Every row of every table: compared before and after a refused request."""
    return list(node.store.conn.iterdump())
