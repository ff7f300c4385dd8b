"""一事一评 over HTTP and in Chromium: the link on the case page, the page turned toward the
citizen (no menu, nothing personal but the item and the masked name), its thank-you, the
refusals as sentences with what was typed kept, and the admins' board of follow-ups and
satisfaction."""

from __future__ import annotations

import re

from support import accept, id_number
from support.pages import window
from support.zh import english_words
from yimen.node.services import audit, cases, ratings

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def shown_text(page: str) -> str:
    """What a reader sees of a page (its tags taken out)."""
    return re.sub(r"<[^>]+>", " ", page)


def chinese_in(page: str, *data: str) -> list[str]:
    """The Chinese characters in a page's main part, once the values of `data` (names,
    items: the data's own language) are taken out."""
    text = shown_text(page.partition("<main>")[2])
    for value in data:
        text = text.replace(value, "")
    return CJK.findall(text)


def returned(node, seq: int = 7, name: str = "陈美玲") -> str:
    """A T-DIBAO case (民政) accepted and returned by c01: ratable."""
    app = cases.Application("T-DIBAO", id_number(seq), name, {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "returned", "c01", reason="材料不全")
    return cid


async def test_the_case_page_asks_for_a_rating_only_when_ratable(window_home, aiohttp_client):
    open_case = cases.accept(window_home, "c01", cases.Application(
        "T-DIBAO", id_number(3), "王五", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cid = returned(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    assert "请群众评价" not in await w.get(f"/cases/{open_case}")
    page = await w.get(f"/cases/{cid}")
    assert f'href="/cases/{cid}/rate"' in page and "请群众评价" in page
    ratings.rate(window_home, cid, "basic", "", "c01")
    page = await w.get(f"/cases/{cid}")
    assert "请群众评价" not in page and "基本满意" in page


async def test_the_citizen_rates_on_a_page_with_no_menu_and_no_personal_data(window_home, aiohttp_client):
    cid = returned(window_home, 7, "陈美玲")
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/rate")
    assert 'class="menu"' not in page and "退出" not in page and "测试c01" not in page
    assert "最低生活保障申请" in page and "陈*玲" in page and "陈美玲" not in page and id_number(7) not in page
    assert page.count('name="score"') == 3 and not english_words(shown_text(page))
    assert "rate_page" in [e["action"] for e in audit.trail(window_home, case=cid)]
    thanks = await w.post(f"/cases/{cid}/rate", {"score": "satisfied", "reason": "办事快"})
    assert "感谢您的评价" in thanks and "陈" not in thanks and not english_words(shown_text(thanks))
    assert (ratings.get(window_home, cid)["score"], ratings.get(window_home, cid)["reason"]) == ("satisfied", "办事快")
    again = await w.post(f"/cases/{cid}/rate", {"score": "unsatisfied", "reason": "再评"}, status=400)
    assert "已评价过" in again and ratings.get(window_home, cid)["score"] == "satisfied"


async def test_a_refused_rating_keeps_what_was_typed(window_home, aiohttp_client):
    cid = returned(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    await w.get(f"/cases/{cid}/rate")
    page = await w.post(f"/cases/{cid}/rate", {"score": "unsatisfied", "reason": "  "}, status=400)
    assert "请说明原因" in page and 'name="score"' in page
    page = await w.post(f"/cases/{cid}/rate", {"score": "excellent", "reason": "窗口很热情"}, status=400)
    assert "评价须为" in page and "窗口很热情" in page and "Traceback" not in page
    assert ratings.find(window_home, cid) is None


async def test_only_a_ratable_case_and_a_clerk_of_its_department(window_home, aiohttp_client):
    open_case = cases.accept(window_home, "c01", cases.Application(
        "T-DIBAO", id_number(3), "王五", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cid = returned(window_home)
    w = await window(aiohttp_client, window_home, "c02")  # 社保 only; the items are 民政's
    assert "已受理" in await w.get(f"/cases/{open_case}/rate", status=400)
    await w.get(f"/cases/{cid}/rate")
    page = await w.post(f"/cases/{cid}/rate", {"score": "satisfied"}, status=403)
    assert "权限不足" in page and ratings.find(window_home, cid) is None
    await w.get("/cases/440608100201-2026-999999/rate", status=404)
    await w.get(f"/cases/{open_case}/rate/thanks", status=400)


async def test_the_board_is_for_admins_and_records_follow_ups(window_home, aiohttp_client):
    unhappy, happy = returned(window_home, 7), accept(window_home, 8)
    ratings.rate(window_home, unhappy, "不满意", "等了很久", "c01")
    ratings.rate(window_home, happy, "满意", "", "c01")
    clerk = await window(aiohttp_client, window_home, "c01")
    assert "权限不足" in await clerk.get("/ratings", status=403)
    assert 'href="/ratings"' not in await clerk.get("/")
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get("/ratings")
    assert 'href="/ratings"' in page and unhappy in page and "等了很久" in page and happy not in page
    assert "社保参保证明打印" in page and "最低生活保障申请" in page and "50%" in page and "100%" in page
    assert not english_words(shown_text(page), ["English"])
    page = await w.post(f"/ratings/{unhappy}/follow-up", {"text": " "}, status=400)
    assert "请填写回访或整改情况" in page
    long = "改" * 2001
    page = await w.post(f"/ratings/{unhappy}/follow-up", {"text": long}, status=400)
    assert "不能超过 2000 个字" in page and long in page
    page = await w.post(f"/ratings/{unhappy}/follow-up", {"text": "已电话回访，增设取号机"})
    assert f"已记录 {unhappy} 的回访整改" in page and "没有待回访的评价" in page
    assert ratings.get(window_home, unhappy)["follow_up_text"] == "已电话回访，增设取号机"
    assert "rating_board" in [e["action"] for e in audit.trail(window_home, case=unhappy)]


async def test_english_pages_hold_no_chinese(window_home, aiohttp_client):
    cid = returned(window_home)
    ratings.rate(window_home, accept(window_home, 8), "unsatisfied", "slow", "c01")
    w = await window(aiohttp_client, window_home, "a01")
    board = await w.get("/ratings?lang=en")
    assert "Satisfaction by item" in board and not chinese_in(board, "社保参保证明打印", "测试c01")
    c = await window(aiohttp_client, window_home, "c01")
    page = await c.get(f"/cases/{cid}/rate?lang=en")
    assert "Please rate our service" in page and "fairly satisfied" in page
    assert not chinese_in(page, "最低生活保障申请", "陈*玲")


def test_rate_and_follow_up_in_chromium(clerk_page, served, page):
    from support import browser
    cid = served.call(returned, served.node, 9, "王小明")
    clerk_page.goto(f"{served.url}/cases/{cid}/rate/screen")
    assert clerk_page.locator("img.qr").bounding_box()["width"] > 100
    browser.screenshot(clerk_page, "rate-screen")
    clerk_page.goto(f"{served.url}/cases/{cid}")
    clerk_page.click("#rating a.button")
    clerk_page.wait_for_url(f"{served.url}/cases/{cid}/rate")
    assert clerk_page.locator("nav.menu").count() == 0 and "王*明" in clerk_page.inner_text("main")
    clerk_page.fill("textarea[name=reason]", "排队时间太长")
    browser.screenshot(clerk_page, "rate-page")
    clerk_page.click("button[value=unsatisfied]")
    clerk_page.wait_for_url(f"{served.url}/cases/{cid}/rate/thanks")
    assert "感谢您的评价" in clerk_page.inner_text("main")
    browser.screenshot(clerk_page, "rate-thanks")
    clerk_page.click(".rate-back a")
    assert "排队时间太长" in clerk_page.inner_text("#rating")
    clerk_page.context.clear_cookies()
    from support.signin import PASSWORD
    browser.sign_in(clerk_page, served.url, "a01", PASSWORD)
    clerk_page.goto(f"{served.url}/ratings")
    assert "排队时间太长" in clerk_page.inner_text("table.follow-ups")
    browser.screenshot(clerk_page, "ratings-board")
    clerk_page.fill(f"form[action='/ratings/{cid}/follow-up'] textarea", "已电话回访，增开一个窗口")
    clerk_page.click(f"form[action='/ratings/{cid}/follow-up'] button")
    clerk_page.wait_for_url(f"{served.url}/ratings?done={cid}")
    assert "没有待回访的评价" in clerk_page.inner_text("#open")


async def test_a_second_screen_rates_through_a_signed_link_with_no_sign_in(window_nodes, aiohttp_client, tmp_path,
                                                                           clock):
    from .conftest import window_node
    node = window_node(tmp_path / "v", clock=clock)
    window_nodes.append(node)
    cid = returned(node)
    w = await window(aiohttp_client, node, "c01")
    assert f'href="/cases/{cid}/rate/screen"' in await w.get(f"/cases/{cid}")
    link = await w.get(f"/cases/{cid}/rate/screen")
    url = re.search(r"<code>(http[^<]+)</code>", link).group(1)
    path = url.split("://", 1)[1].partition("/")[2]
    assert 'src="data:image/svg+xml' in link and "/r/" in url
    tablet = await window(aiohttp_client, node)  # no sign-in
    page = await tablet.get(f"/{path}")
    assert "陈*玲" in page and "陈美玲" not in page and 'nav class="menu"' not in page
    page = await tablet.post(f"/{path}", {"score": "unsatisfied", "reason": " "}, status=400)
    assert ratings.find(node, cid) is None and f'action="/{path}"' in page
    page = await tablet.post(f"/{path}", {"score": "satisfied"})
    assert "感谢您的评价" in page and "返回办件" not in page
    row = ratings.get(node, cid)
    assert row["score"] == "satisfied"
    assert "已评价过" in await tablet.post(f"/{path}", {"score": "basic"}, status=400)
    await tablet.get(f"/{path[:-3]}xyz", status=404)  # not our signature
    assert "此评价链接无效或已过期" in await tablet.get("/r/" + "A" * 500, status=404)


async def test_a_second_screens_link_ends_after_its_minutes(window_nodes, aiohttp_client, tmp_path, clock):
    from .conftest import window_node
    from yimen.node.web.pages.ratings import SCREEN_MINUTES
    node = window_node(tmp_path / "v", clock=clock)
    window_nodes.append(node)
    cid = returned(node)
    w = await window(aiohttp_client, node, "c01")
    link = await w.get(f"/cases/{cid}/rate/screen")
    path = re.search(r"<code>https?://[^/]+(/r/[^<]+)</code>", link).group(1)
    clock.advance(minutes=SCREEN_MINUTES + 1)
    tablet = await window(aiohttp_client, node)
    await tablet.get(path, status=404)
    assert ratings.find(node, cid) is None
