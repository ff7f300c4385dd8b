"""The case search and the case page: the same rows and texts as `yimen case list` and
`yimen case show`, the actions this clerk's roles allow, each read in the audit trail."""

from __future__ import annotations

from datetime import datetime

import pytest

from support import Clock, accept, id_number
from support.chain import conflicted_case, make_chain
from support.pages import window
from support.signin import PASSWORD
from yimen.node import home
from yimen.node.services import audit, cases, casework, clerks
from yimen.schema.idnumber import mask


def dibao(node, seq: int = 7, name: str = "陈美玲") -> str:
    """A T-DIBAO case (民政) accepted by c01, waiting at the window (accepted)."""
    app = cases.Application("T-DIBAO", id_number(seq), name, {"居民身份证": None, "收入证明": None}, {})
    return cases.accept(node, "c01", app)["case_id"]


def actions(node, case_id: str) -> list[str]:
    return [e["action"] for e in cases.show(node, case_id)["history"]]


async def test_a_receipt_number_goes_straight_to_the_case(window_home, aiohttp_client):
    cid = dibao(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    r = await w.client.get(f"/cases?q={cid}", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/cases/{cid}"
    page = await w.get(f"/cases?q={cid}")
    assert "最低生活保障申请" in page and mask(id_number(7)) in page and id_number(7) not in page
    assert any(e["action"] == "case_show" for e in audit.trail(window_home, case=cid))


async def test_a_name_or_an_id_number_finds_the_applicants_cases(window_home, aiohttp_client):
    mine, other = dibao(window_home, 7, "陈美玲"), accept(window_home, 8)
    w = await window(aiohttp_client, window_home, "c02")
    by_name = await w.get("/cases?q=陈美玲")
    assert mine in by_name and other not in by_name and "共 1 条" in by_name
    by_id = await w.get(f"/cases?q={id_number(8)}")
    assert other in by_id and mine not in by_id
    everyone = await w.get("/cases")
    assert mine in everyone and other in everyone
    assert everyone.index(other) < everyone.index(mine)  # newest first
    assert any(e["action"] == "case_list" for e in audit.trail(window_home, case=mine))


async def test_a_bad_id_number_or_receipt_says_why(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get("/cases?q=440608199001011230", status=400)
    assert "身份证" in page and "Traceback" not in page and 'value="440608199001011230"' in page
    page = await w.get("/cases?q=440608100201-2026-999999", status=400)
    assert "没有受理编号为 440608100201-2026-999999 的办件" in page


async def test_an_unknown_case_page_is_not_found(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get("/cases/440608100201-2026-999999", status=404)
    assert "没有受理编号为 440608100201-2026-999999 的办件" in page


async def test_the_case_page_shows_history_and_takes_an_action(window_home, aiohttp_client):
    cid = dibao(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}")
    assert "办理过程" in page and "受理" in page and "c01" in page and 'value="submit"' in page
    page = await w.post(f"/cases/{cid}/act", {"action": "submit"})
    assert actions(window_home, cid)[-1] == "submit" and "审批中" in page


async def test_a_reason_is_required_and_kept(window_home, aiohttp_client):
    cid = dibao(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    await w.get(f"/cases/{cid}")
    before = actions(window_home, cid)
    try:
        cases.act(window_home, cid, "returned", "c01", "")
    except Exception as e:  # the service's own sentence
        sentence = e.zh
    page = await w.post(f"/cases/{cid}/act", {"action": "returned", "reason": "  "}, status=400)
    assert sentence in page and actions(window_home, cid) == before
    page = await w.post(f"/cases/{cid}/act", {"action": "returned", "reason": "材料不全"})
    assert actions(window_home, cid)[-1] == "returned" and "材料不全" in page


async def test_a_clerk_without_the_role_is_refused_and_nothing_changes(window_home, aiohttp_client):
    cid = dibao(window_home)
    w = await window(aiohttp_client, window_home, "c02")  # 社保 only; the item is 民政's
    page = await w.get(f"/cases/{cid}")
    assert 'value="submit"' not in page and "您暂无可办理的操作" in page
    before = actions(window_home, cid)
    page = await w.post(f"/cases/{cid}/act", {"action": "submit"}, status=403)
    assert "权限不足" in page and actions(window_home, cid) == before


async def test_english_pages_hold_no_chinese_words(window_home, aiohttp_client):
    cid = dibao(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases?lang=en")
    assert "Receipt" in page and "受理编号" not in page
    page = await w.get(f"/cases/{cid}?lang=en")
    assert "History" in page and "办理过程" not in page


def test_search_open_and_act_in_chromium(clerk_page, served):
    from support import browser
    cid = served.call(dibao, served.node, 9, "王小明")
    clerk_page.goto(f"{served.url}/cases")
    clerk_page.fill("input[name=q]", "王小明")
    clerk_page.press("input[name=q]", "Enter")
    clerk_page.wait_for_selector("table.cases")
    browser.screenshot(clerk_page, "cases")
    clerk_page.click(f"a[href='/cases/{cid}']")
    clerk_page.wait_for_selector("table.history")
    clerk_page.click("form:has(input[value=submit]) button")
    clerk_page.wait_for_url(f"{served.url}/cases/{cid}")
    assert "审批中" in clerk_page.inner_text("dl.fields")
    browser.screenshot(clerk_page, "case")


async def test_a_page_number_past_any_integer_is_an_empty_page(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/cases?page=" + "9" * 30)


async def test_an_unknown_status_or_card_in_the_address_says_so(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    assert "未知的办件状态：done" in await w.get("/cases?status=done", status=400)
    assert "未知的督办牌：purple" in await w.get("/cases?card=purple", status=400)
    assert "unknown card: purple" in await w.get("/cases?card=purple&lang=en", status=400)


@pytest.fixture
def conflicted(window_nodes, tmp_path):
    """Village A of a chain (c01 with the tests' password) and a case of it with a flagged event."""
    clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))
    nodes = make_chain(tmp_path, clock=clock)
    window_nodes.extend(nodes.values())
    cid = conflicted_case(nodes, clock)
    clerks.set_password(nodes["village_a"], "c01", PASSWORD)
    return nodes["village_a"], cid


async def test_a_conflict_is_reviewed_on_the_case_page(conflicted, aiohttp_client):
    village, cid = conflicted
    flagged = next(e for e in cases.show(village, cid)["history"] if e["conflict"])
    w = await window(aiohttp_client, village, "c01")
    page = await w.get(f"/cases/{cid}")
    assert "冲突核查" in page and f'name="event" value="{flagged["no"]}"' in page
    page = await w.post(f"/cases/{cid}/review", {"event": flagged["no"], "resolution": " "}, status=400)
    assert 'name="resolution"' in page and cases.show(village, cid)["conflicts_open"] == 1
    page = await w.post(f"/cases/{cid}/review", {"event": 1, "resolution": "看过了"}, status=400)
    assert "不是冲突事件" in page and "看过了" not in page.split("冲突核查")[0]
    await w.post(f"/cases/{cid}/review", {"event": flagged["no"], "resolution": "已与镇街核实"})
    shown = cases.show(village, cid)
    assert shown["conflicts_open"] == 0 and casework.may(village, "c01", shown)["may_review"] == []
    assert "已与镇街核实" in await w.get(f"/cases/{cid}")


async def test_only_cases_with_conflicts_to_review_are_listed_when_asked(conflicted, aiohttp_client):
    village, cid = conflicted
    calm = accept(village, 5)
    w = await window(aiohttp_client, village, "c01")
    page = await w.get("/cases?conflicts=1")
    assert cid in page and calm not in page and "共 1 条" in page
    assert calm in await w.get("/cases")
