"""What a clerk reads of the supervision clock: a provisional deadline says so, a case
waiting for a supplement shows its paused days and no running card."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import id_number, in_supplement
from support.signin import sign_in
from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.services import cases, catalog, reports
from yimen.schema.catalog import parse_catalog_json

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data" / "catalog_sample.json"
MZ_001 = {"申请人居民身份证": None, "户口簿": None, "申请表": None, "家庭成员收入证明": None, "本人银行卡或存折": None}


@pytest.fixture
def provisional(node, clock) -> str:
    """MZ-001 accepted on 2026-12-02: its 30 working days run into 2027."""
    catalog.import_items(node, parse_catalog_json(SAMPLE.read_text("utf-8"), "2026-01-01"))
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=home.CHINA_TZ)
    return cases.accept(node, "c01", cases.Application("MZ-001", id_number(), "陈美玲", MZ_001, {}))["case_id"]


@pytest.fixture(autouse=True)
def _signed_in(node) -> None:
    sign_in(node, "c01")


def run(node, *args: str) -> str:
    result = CliRunner().invoke(main, ["--home", str(node.home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_provisional_deadline_says_so_in_show_list_and_json(node, provisional) -> None:
    assert "2027-01-13（暂定）" in run(node, "case", "show", provisional)
    assert "2027-01-13 (provisional)" in run(node, "--lang", "en", "case", "show", provisional)
    assert "2027-01-13（暂定）" in run(node, "case", "list")
    assert "2027-01-13 (provisional)" in run(node, "--lang", "en", "case", "list")
    assert json.loads(run(node, "case", "show", provisional, "--json"))["deadline_provisional"] == 1


def test_report_overdue_keeps_the_provisional_mark(node, provisional) -> None:
    rows = reports.overdue(node, today=date(2027, 1, 20))
    assert [(r["case_id"], r["card"], r["deadline_provisional"]) for r in rows] == [(provisional, "red", 1)]


def test_show_gives_the_paused_days_and_the_paused_card(node, clock) -> None:
    cid = in_supplement(node, clock)
    shown = run(node, "case", "show", cid)
    assert "暂停计时" in shown and "自 2026-11-18 起暂停中" in shown
    assert "paused since 2026-11-18" in run(node, "--lang", "en", "case", "show", cid)
    assert cid in run(node, "case", "list", "--card", "paused")
    assert reports.overdue(node, today=date(2027, 1, 20)) == []
