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
