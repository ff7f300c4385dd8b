"""The supervision clock on a node's lists: deadlines counted with the library's calendar (and
the override file), provisional past the years it covers, standing still during a supplement."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from support import MINI_CATALOG, VILLAGE, id_number
from yimen.node import home, projections
from yimen.node.services import caselist, cases, catalog, clerks
from yimen.schema.catalog import parse_catalog_json

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data" / "catalog_sample.json"
MZ_001 = {"申请人居民身份证": None, "户口簿": None, "申请表": None, "家庭成员收入证明": None, "本人银行卡或存折": None}


def _mz_001(node, clock) -> dict:
    catalog.import_items(node, parse_catalog_json(SAMPLE.read_text("utf-8"), "2026-01-01"))
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=home.CHINA_TZ)
    return cases.accept(node, "c01", cases.Application("MZ-001", id_number(), "陈美玲", MZ_001, {}))


def test_a_deadline_in_a_year_no_source_covers_is_provisional(node, clock) -> None:
    row = _mz_001(node, clock)
    assert row["deadline"] == "2027-01-13" and row["deadline_provisional"] == 1


def test_the_override_file_covers_next_year(tmp_path, clock) -> None:
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"years": [2027], "holidays": {"2027-01-01": "元旦"}}), "utf-8")
    node = home.init(tmp_path / "v", VILLAGE, "示范村", clock=clock)
    node.close()
    cfg = json.loads((tmp_path / "v" / "node.json").read_text("utf-8"))
    (tmp_path / "v" / "node.json").write_text(json.dumps({**cfg, "calendar_file": str(extra)}), "utf-8")
    with home.open_node(tmp_path / "v", clock=clock) as node:
        clerks.add(node, "c01", "李敏", ["民政", "村委会"])
        row = _mz_001(node, clock)
    # New Year's Day is a holiday: one working day later than Monday-to-Friday counting
    assert row["deadline"] == "2027-01-14" and row["deadline_provisional"] == 0


def test_a_changed_calendar_recounts_the_lists_at_the_next_open(node, clock, tmp_path) -> None:
    cid = _mz_001(node, clock)["case_id"]
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"years": [2027], "holidays": {"2027-01-01": "元旦"}}), "utf-8")
    cfg = json.loads((node.home / "node.json").read_text("utf-8"))
    (node.home / "node.json").write_text(json.dumps({**cfg, "calendar_file": str(extra)}), "utf-8")
    with home.open_node(node.home, clock=clock) as again:
        row = cases.get_row(again, cid)
        assert (row["deadline"], row["deadline_provisional"]) == ("2027-01-14", 0)
        assert not projections.recount(again.store, again.calendar)  # once per change


def _dibao(node) -> str:
    app = cases.Application("T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "submit", "c01")
    return cid


def test_the_clock_stands_still_while_the_case_waits_for_a_supplement(node, clock) -> None:
    cid = _dibao(node)
    assert cases.get_row(node, cid)["deadline"] == "2026-12-14"
    clock.advance(days=2)  # Wednesday 18th
    row = cases.act(node, cid, "supplement", "c01", reason="收入证明不清晰")
    assert row["paused_since"] == "2026-11-18" and row["card"] == "paused"
    assert cases.get_row(node, cid, today=date(2026, 12, 20))["card"] == "paused"  # not red
    assert caselist.list_cases(node, card="red", today=date(2026, 12, 20)) == []
    clock.advance(days=5)  # Monday 23rd
    row = cases.act(node, cid, "supply", "c01")
    assert (row["deadline"], row["paused_days"], row["paused_since"]) == ("2026-12-17", 3, None)
    # the card follows the deadline the pause moved: red on the 15th without it
    assert cases.get_row(node, cid, today=date(2026, 12, 15))["card"] == "green"
    assert cases.get_row(node, cid, today=date(2026, 12, 16))["card"] == "yellow"
    assert cases.get_row(node, cid, today=date(2026, 12, 18))["card"] == "red"
    shown = cases.show(node, cid)
    assert shown["paused_days"] == 3 and shown["deadline"] == "2026-12-17"
    before = projections.dump(node.store)
    projections.rebuild(node.store, node.calendar)
    assert projections.dump(node.store) == before


def test_show_counts_the_days_of_a_pause_still_open(node, clock) -> None:
    cid = _dibao(node)
    clock.advance(days=2)
    cases.act(node, cid, "supplement", "c01", reason="缺签字")
    clock.advance(days=5)  # Monday 23rd: Thursday, Friday and Monday stood still so far
    assert cases.show(node, cid)["paused_days"] == 3


def test_an_item_may_keep_its_clock_running(node, clock) -> None:
    running = MINI_CATALOG.replace('"time_limit_days": 20,', '"time_limit_days": 20, "clock_pauses_on_supplement": false,')
    catalog.import_items(node, parse_catalog_json(running, "2026-01-01"))
    cid = _dibao(node)
    clock.advance(days=2)
    assert cases.act(node, cid, "supplement", "c01", reason="缺")["card"] == "green"
    clock.advance(days=5)
    row = cases.act(node, cid, "supply", "c01")
    assert (row["deadline"], row["paused_days"]) == ("2026-12-14", 0)
