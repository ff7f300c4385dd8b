"""The supervision board (督办, admins only): counts by status and by card, the cases past
or near their limit, late deferred materials and the week's refusals, each linked to its
case; each table or the whole board as CSV and .xlsx (the CLI's writers), every read or
export in the audit trail as the CLI's reports are."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from urllib.parse import unquote

import openpyxl
import pytest

from support import Clock, id_number
from support.pages import window
from support.zh import english_words
from yimen.node import home
from yimen.node.services import audit, cases

from .conftest import window_node

DIBAO = {"居民身份证": None, "收入证明": None}


def _accept(node, item: str, seq: int, provided: dict, deferred: dict | None = None) -> str:
    app = cases.Application(item, id_number(seq), f"申请人{seq}", provided, deferred or {})
    return cases.accept(node, "c01", app)["case_id"]


@pytest.fixture
def known(window_nodes, tmp_path):
    """A village's cases on Friday 2026-11-20, accepted on Monday the 16th: one completed at
    the window, one in review past its 3 working days (red), one accepted (green), one
    accepted with a deferred material promised for the 18th (green, the material late),
    one returned and one sent back for a supplement (paused), the two refusals of the week."""
    clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))
    node = window_node(tmp_path / "board", clock=clock)
    window_nodes.append(node)
    ids = {"completed": _accept(node, "T-IMM", 1, {"居民身份证": None}),
           "red": _accept(node, "T-LOCAL", 2, {"居民身份证": None, "户口簿": None}),
           "green": _accept(node, "T-DIBAO", 3, DIBAO),
           "late": _accept(node, "T-DIBAO", 4, {"居民身份证": None}, {"收入证明": "2026-11-18"}),
           "returned": _accept(node, "T-DIBAO", 5, DIBAO),
           "supplement": _accept(node, "T-DIBAO", 6, DIBAO)}
    cases.act(node, ids["red"], "submit", "c01")
    cases.act(node, ids["returned"], "returned", "c01", "申请人户籍不在本村")
    cases.act(node, ids["supplement"], "submit", "c01")
    cases.act(node, ids["supplement"], "supplement", "c01", "收入证明缺少盖章")
    clock.advance(days=4)
    return node, ids


def stat(page: str, where: str, value_text: str) -> int:
    """The number on the board's tile for `value_text` in the block of class `where`."""
    block = re.search(rf'<div class="stats {where}">(.*?)</div>', page, re.S).group(1)
    return int(re.search(rf"{value_text}(?:</span>)?<b>(\d+)</b>", block).group(1))


def section(page: str, name: str) -> str:
    return re.search(rf'<section class="panel" id="{name}">.*?</section>', page, re.S).group(0)


def actions_of(node, action: str) -> list[dict]:
    rows = node.store.conn.execute("SELECT clerk, detail FROM audit_log WHERE action = ? ORDER BY seq", (action,))
    return [{"clerk": c, **json.loads(d)} for c, d in rows]


async def test_the_board_counts_and_lists_a_known_set_of_cases(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    page = await w.get("/board")
    want_status = {"已办结": 1, "审批中": 1, "已受理": 2, "已退件": 1, "待补正": 1, "不予批准": 0}
    assert {k: stat(page, "statuses", k) for k in want_status} == want_status
    assert {k: stat(page, "cards", k) for k in ("红牌", "黄牌", "绿", "暂停计时")} == {"红牌": 1, "黄牌": 0, "绿": 2, "暂停计时": 1}
    overdue = section(page, "overdue")
    assert f'href="/cases/{ids["red"]}"' in overdue and ids["green"] not in overdue
    assert re.search(rf'{ids["red"]}</a>.*?<td>2026-11-19</td>', overdue, re.S)  # its deadline
    late = overdue.split("容缺材料逾期", 1)[1]
    assert ids["late"] in late and "2026-11-18" in late and ids["red"] not in late
    refusals = section(page, "refusals")
    assert "申请人户籍不在本村" in refusals and "收入证明缺少盖章" in refusals and ids["returned"] in refusals
    assert "2026-11-16 至 2026-11-22：共 2 件" in refusals
    seen = actions_of(node, "report_overdue")
    assert seen[-1]["clerk"] == "a01" and seen[-1]["format"] == "page" and set(seen[-1]["cases"]) == {ids["red"], ids["late"]}
    assert actions_of(node, "report_refusals")[-1]["count"] == 2


async def test_a_past_week_and_a_bad_week(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    page = await w.get("/board?week=2026-11-09")
    assert "2026-11-09 至 2026-11-15：共 0 件" in page and "申请人户籍不在本村" not in page
    page = await w.get("/board?week=2026-13-40", status=400)
    assert "2026-13-40" in page and "不是有效日期" in page and "Traceback" not in page


async def test_the_whole_board_as_an_xlsx(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    r = await w.client.get("/board/export.xlsx")
    assert r.status == 200 and r.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = r.headers["Content-Disposition"]
    assert f'filename="board-{node.node_id}-2026-11-20.xlsx"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == f"督办看板-{node.node_id}-2026-11-20.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(await r.read()))
    assert book.sheetnames == ["件数", "督办", "拒件"]
    counts = {(b, v): n for b, v, n in book["件数"].iter_rows(min_row=2, values_only=True)}
    assert counts[("按状态", "已受理")] == 2 and counts[("按督办牌", "红牌")] == 1
    overdue = list(book["督办"].iter_rows(values_only=True))
    assert overdue[0][:3] == ("类别", "督办", "受理编号")
    assert [(row[0], row[2]) for row in overdue[1:]] == [("办件", ids["red"]), ("容缺材料", ids["late"])]
    reasons = {row[-1] for row in book["拒件"].iter_rows(min_row=2, values_only=True)}
    assert reasons == {"申请人户籍不在本村", "收入证明缺少盖章"}
    assert actions_of(node, "report_overdue")[-1]["format"] == "xlsx"
    assert actions_of(node, "report_refusals")[-1]["format"] == "xlsx"


async def test_each_table_and_the_board_as_csv(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    r = await w.client.get("/board/refusals.csv?lang=en")
    assert r.status == 200 and r.content_type == "text/csv" and r.charset == "utf-8"
    assert f'filename="refusals-{node.node_id}-2026-11-20.csv"' in r.headers["Content-Disposition"]
    body = await r.read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [(x["kind"], x["case_id"], x["reason"]) for x in rows] == [
        ("returned", ids["returned"], "申请人户籍不在本村"), ("supplement", ids["supplement"], "收入证明缺少盖章")]
    assert actions_of(node, "report_refusals")[-1]["format"] == "csv"
    assert not actions_of(node, "report_overdue")  # only the table asked for was read
    r = await w.client.get("/board/export.csv")
    lines = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"), newline="")))
    titles = [lines[0][0]] + [lines[i + 1][0] for i, line in enumerate(lines) if not line]
    assert titles == ["件数", "督办", "拒件"]
    assert ["按状态", "已办结", "1"] in lines and any(ids["late"] in line for line in lines)


async def test_only_an_admin_sees_the_board(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "c01")
    home_page = await w.get("/")
    assert 'href="/board"' not in home_page and 'href="/inbox"' in home_page
    for path in ("/board", "/board/export.xlsx", "/board/overdue.csv"):
        assert "权限不足" in await w.get(path, status=403)
    assert not actions_of(node, "report_overdue")
    admin = await window(aiohttp_client, node, "a01")
    assert 'href="/board"' in await admin.get("/")
    await admin.get("/board/nothing.csv", status=404)
    await admin.get("/board/export.pdf", status=404)


async def test_the_board_reads_in_one_language(known, aiohttp_client):
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    main = (await w.get("/board")).split("<main>", 1)[1].split("</main>", 1)[0]
    assert english_words(re.sub(r"<[^>]+>", " ", main)) == []
    en = re.sub(r"<[^>]+>", " ", (await w.get("/board?lang=en")).split("<main>", 1)[1].split("</main>", 1)[0])
    for data in ("村级居住情况核实", "最低生活保障申请", "申请人户籍不在本村", "收入证明缺少盖章", "收入证明", "测试c01") + tuple(
            f"申请人{i}" for i in range(1, 7)):
        en = en.replace(data, " ")
    assert "Refusals of the week" in en and not re.search(r"[\u3000-\u9fff\uff00-\uffef]", en), en


def test_the_board_in_chromium(page, served):
    from support import browser
    from support.signin import PASSWORD

    def some_cases(node):
        _accept(node, "T-DIBAO", 31, DIBAO)
        cid = _accept(node, "T-DIBAO", 32, DIBAO)
        cases.act(node, cid, "returned", "c01", "申请人户籍不在本村")
    served.call(some_cases, served.node)
    browser.sign_in(page, served.url, "a01", PASSWORD)
    page.click("nav.menu >> text=督办")
    page.wait_for_selector("#refusals table.refusals")
    assert "申请人户籍不在本村" in page.inner_text("#refusals")
    browser.screenshot(page, "board")
    with page.expect_download() as d:
        page.click("#refusals a[href^='/board/refusals.csv']")
    assert d.value.suggested_filename.startswith("拒件-")
    page.goto(f"{served.url}/board?lang=en")
    assert "Refusals of the week" in page.inner_text("main")
    browser.screenshot(page, "board-en")


async def test_the_page_says_when_it_lists_only_the_most_urgent(known, aiohttp_client, monkeypatch):
    from yimen.node.web.pages import board
    node, ids = known
    w = await window(aiohttp_client, node, "a01")
    note = "每类只列出最紧急的"
    monkeypatch.setattr(board, "SHOWN", 1)  # one late case, one late material: all of them
    page = await w.get("/board")
    assert note not in page and ids["red"] in section(page, "overdue") and ids["late"] in section(page, "overdue")
    monkeypatch.setattr(board, "SHOWN", 0)
    page = await w.get("/board")
    assert note in page and ids["red"] not in section(page, "overdue")
