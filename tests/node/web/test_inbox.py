"""The back office's inbox (待办): the cases waiting for this node's decisions, by the
clerk's departments, red and yellow first then the oldest; approving and rejecting from
the list; a step of several departments showing who has decided; every list read in the
audit trail."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from support import Clock, id_number
from support.chain import make_chain, sync_all
from support.pages import window
from support.signin import PASSWORD
from support.zh import english_words
from .conftest import window_node
from yimen.node import home
from yimen.node.services import audit, cases, clerks
from yimen.schema.idnumber import mask


def submitted(node, item: str = "T-DIBAO", seq: int = 7, name: str = "陈美玲") -> str:
    """A case accepted by c01 with every material and submitted: T-DIBAO waits for 民政
    at the village, T-LOCAL for 村委会 and 民政 (one step of two departments)."""
    provided = {"T-DIBAO": ("居民身份证", "收入证明"), "T-LOCAL": ("居民身份证", "户口簿")}[item]
    app = cases.Application(item, id_number(seq), name, {m: None for m in provided}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "submit", "c01")
    return cid


def actions(node, case_id: str) -> list[str]:
    return [e["action"] for e in cases.show(node, case_id)["history"]]


def section(page: str, department: str) -> str:
    """The part of the inbox page under `department`'s heading."""
    m = re.search(rf"<h2>{department} .*?</section>", page, re.S)
    assert m, department
    return m.group(0)


def visible(page: str) -> str:
    """The text of the page's <main>, without its tags and attributes."""
    return re.sub(r"<[^>]+>", " ", page.split("<main>", 1)[1].split("</main>", 1)[0])


@pytest.fixture
def clocked(window_nodes, tmp_path):
    clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))  # a Monday
    node = window_node(tmp_path / "clocked", clock=clock)
    window_nodes.append(node)
    return node, clock


async def test_the_inbox_shows_red_first_then_the_oldest_by_department(clocked, aiohttp_client):
    node, clock = clocked
    green = submitted(node, "T-DIBAO", 7)  # 20 working days
    clock.advance(days=1)
    red = submitted(node, "T-LOCAL", 8, "王小明")  # 3 working days
    clock.advance(days=7)
    w = await window(aiohttp_client, node, "c01")
    page = await w.get("/inbox")
    mz, cwh = section(page, "民政"), section(page, "村委会")
    assert red in cwh and green not in cwh
    assert mz.index(red) < mz.index(green)  # red before green, though accepted later
    assert "card-red" in cwh and f'href="/cases/{red}"' in mz and mask(id_number(8)) in mz and id_number(8) not in mz
    assert "没有等待本部门审批的办件" in section(page, "社保")  # a department held, nothing waiting
    seen = [e for e in audit.trail(node, case=green) if e["action"] == "case_inbox"]
    assert len(seen) == 1 and seen[0]["clerk"] == "c01" and red in seen[0]["detail"]


async def test_approve_from_the_inbox(window_home, aiohttp_client):
    cid = submitted(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/inbox")
    r = await w.client.post("/inbox/decide", data={"csrf_token": w.token, "case_id": cid, "department": "民政",
                                                   "action": "approve", "reason": ""}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/inbox"
    assert actions(window_home, cid)[-1] == "approve"
    page = await w.get("/inbox")
    assert cid not in page  # it waits for the town now
    assert cases.get_row(window_home, cid)["waiting_for"] == [{"level": "town", "department": "民政"}]


async def test_a_town_clerk_decides_what_a_village_sent_up(window_nodes, tmp_path, aiohttp_client):
    nodes = make_chain(tmp_path / "chain")
    window_nodes.extend(nodes.values())
    sync_all(nodes)
    village, town = nodes["village_a"], nodes["town"]
    cid = submitted(village)
    cases.act(village, cid, "approve", "c01")  # the village's step; the town's is next
    sync_all(nodes)
    clerks.set_password(town, "t01", PASSWORD)
    w = await window(aiohttp_client, town, "t01")
    page = await w.get("/inbox")
    assert cid in section(page, "民政") and "陈美玲" in page
    await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "approve", "reason": "同意"})
    assert cases.get_row(town, cid)["status"] == "approved"
    sync_all(nodes)
    assert cases.get_row(village, cid)["status"] == "approved"


async def test_a_reject_needs_a_reason_and_keeps_what_was_typed(window_home, aiohttp_client):
    cid = submitted(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/inbox")
    before = actions(window_home, cid)
    with pytest.raises(Exception) as refused:  # the service's own sentence
        cases.act(window_home, cid, "reject", "c01", "   ", "民政")
    page = await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "reject", "reason": "   "},
                        status=400)
    assert refused.value.zh in page and 'value="   "' in page and 'aria-invalid="true"' in page
    assert actions(window_home, cid) == before
    await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "reject", "reason": "收入超标"})
    assert actions(window_home, cid)[-1] == "reject" and cases.get_row(window_home, cid)["status"] == "rejected"


async def test_a_decision_refused_by_the_case_keeps_the_reason(window_home, aiohttp_client):
    cid = submitted(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/inbox")
    cases.act(window_home, cid, "approve", "c01", department="民政")  # decided meanwhile, elsewhere
    page = await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "approve",
                                          "reason": "同意，材料齐全"}, status=400)
    assert 'role="alert"' in page and "Traceback" not in page
    assert actions(window_home, cid).count("approve") == 1


async def test_a_clerk_without_the_department_is_refused_and_nothing_changes(window_home, aiohttp_client):
    cid = submitted(window_home)
    w = await window(aiohttp_client, window_home, "c02")  # 社保 only; the step is 民政's
    page = await w.get("/inbox")
    assert cid not in page and "<h2>社保 " in page and "<h2>民政 " not in page
    before = actions(window_home, cid)
    page = await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "approve"}, status=403)
    assert "权限不足" in page and actions(window_home, cid) == before
    page = await w.get("/inbox?department=民政", status=403)
    assert "权限不足" in page


async def test_only_a_decision_is_taken_from_the_inbox(window_home, aiohttp_client):
    app = cases.Application("T-DIBAO", id_number(9), "李四", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(window_home, "c01", app)["case_id"]
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/inbox")
    await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "submit"}, status=400)
    assert actions(window_home, cid) == ["accept"]


async def test_a_step_of_two_departments_shows_who_has_decided(window_home, aiohttp_client):
    cid = submitted(window_home, "T-LOCAL")
    cases.act(window_home, cid, "approve", "c01", department="村委会")
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get("/inbox")
    mz = section(page, "民政")
    assert cid in mz and cid not in section(page, "村委会")
    assert re.search(r"村委会：已批准<br><small>测试c01 \d{4}-\d\d-\d\d \d\d:\d\d</small>", mz) and "民政：待决定" in mz
    await w.post("/inbox/decide", {"case_id": cid, "department": "民政", "action": "approve"})
    assert cases.get_row(window_home, cid)["status"] == "approved"


async def test_the_inbox_reads_in_one_language(window_home, aiohttp_client):
    cid = submitted(window_home, "T-LOCAL")
    cases.act(window_home, cid, "approve", "c01", department="村委会")
    w = await window(aiohttp_client, window_home, "c01")
    assert english_words(visible(await w.get("/inbox")), ["English"]) == []
    en = visible(await w.get("/inbox?lang=en"))
    assert "approved" in en and "Inbox" in en
    for data in ("民政", "社保", "村委会", "村级居住情况核实", "陈美玲", "测试c01"):  # the cases' data
        en = en.replace(data, " ")
    assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", en), en


def test_decide_from_the_inbox_in_chromium(clerk_page, served):
    from support import browser
    cid = served.call(submitted, served.node, "T-LOCAL", 21, "王小明")
    served.call(cases.act, served.node, cid, "approve", "c01", "", "村委会")
    clerk_page.goto(f"{served.url}/")
    clerk_page.click("nav.menu >> text=待办")
    clerk_page.wait_for_selector("table.inbox")
    row = clerk_page.locator(f"tr:has(a[href='/cases/{cid}'])")
    assert "村委会：已批准" in row.inner_text()
    row.locator("button[value=reject]").click()
    clerk_page.wait_for_selector(".error")
    assert clerk_page.input_value(f"tr:has(a[href='/cases/{cid}']) input[name=reason]") == ""
    browser.screenshot(clerk_page, "inbox")
    row = clerk_page.locator(f"tr:has(a[href='/cases/{cid}'])")
    row.locator("input[name=reason]").fill("同意")
    row.locator("button[value=approve]").click()
    clerk_page.wait_for_url(f"{served.url}/inbox")
    assert served.call(cases.get_row, served.node, cid)["status"] == "approved"
