"""The window in a real browser (headless Chromium): signing in, the language switch, an
error page, and the page asking nothing of any other host (the `page` fixture checks)."""

from __future__ import annotations

from support import browser
from support.signin import PASSWORD


def test_sign_in_and_out_in_chromium(page, served):
    page.goto(f"{served.url}/")
    assert "/signin" in page.url
    page.fill("input[name=clerk_id]", "c01")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "工号或密码不正确"
    assert page.input_value("input[name=clerk_id]") == "c01"
    browser.screenshot(page, "signin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/")
    assert "您好，测试c01" in page.inner_text("main")
    browser.screenshot(page, "home")
    page.click("text=退出")
    page.wait_for_url(f"{served.url}/signin")


def test_english_pages_have_no_chinese_frame(clerk_page, served):
    clerk_page.goto(f"{served.url}/?lang=en")
    header = clerk_page.inner_text("header")
    assert "Sign out" in header and "退出" not in header
    clerk_page.goto(f"{served.url}/nowhere")
    assert "no such page" in clerk_page.inner_text("main")


def test_every_menu_page_reads_with_script_disabled(chromium_browser, served):
    """Script is an enhancement: with it off, each page a clerk's or an admin's menu lists
    opens (200, a heading, no error box) and a search form still works."""
    context = chromium_browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        p = context.new_page()
        for clerk_id in ("c01", "a01"):
            context.clear_cookies()
            browser.sign_in(p, served.url, clerk_id, PASSWORD)
            links = [a.get_attribute("href") for a in p.query_selector_all("nav.menu a")]
            assert links and links[0] == "/"
            for href in links:
                r = p.goto(f"{served.url}{href}")
                assert r.status == 200, (clerk_id, href, r.status)
                assert p.query_selector("main h1") and not p.query_selector("main .error"), (clerk_id, href)
        p.goto(f"{served.url}/cases")
        p.fill("input[name=q]", "没有这个人")
        p.press("input[name=q]", "Enter")
        p.wait_for_url("**/cases?q=*")
        assert "没有符合条件的办件" in p.inner_text("main")
    finally:
        context.close()
