"""Verifying an e-certificate on the window's page: the same verdict as `yimen cert
verify`, from a pasted or scanned YM1 text, with no link."""

from __future__ import annotations

from support import id_number
from support.pages import window
from yimen.node.services import credentials
from yimen.personal_space import credential

CERT = "440608100201-D2026-000001"
SPACE = {"doc_type": "marriage_certificate", "title": "结婚证", "citizen_id": id_number(3), "citizen_name": "李四",
         "issuer": "440608100201", "issuer_name": "示范村", "issued_on": "2026-11-16", "valid_until": "",
         "case_id": "440608100201-2026-000001"}


def ym1(node) -> str:
    return credential.to_text(credentials.issue(node, CERT, SPACE))


async def test_a_pasted_certificate_gets_the_services_verdict(window_home, aiohttp_client):
    text = ym1(window_home)
    expected = credentials.verify(window_home, text).as_dict("zh")
    w = await window(aiohttp_client, window_home, "c02")
    await w.get("/verify")
    page = await w.post("/verify", {"text": text})
    assert expected["reason"] in page and "李四" in page and CERT in page
    assert ("有效" if expected["valid"] else "无效") in page
    assert text in page  # kept in the field


async def test_garbage_is_an_invalid_verdict_with_its_reason(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c02")
    await w.get("/verify")
    page = await w.post("/verify", {"text": "YM1:not-a-certificate"})
    expected = credentials.verify(window_home, "YM1:not-a-certificate").as_dict("zh")["reason"]
    assert "无效" in page and expected in page and "Traceback" not in page
    en = await w.post("/verify?lang=en", {"text": "YM1:not-a-certificate"})
    assert "INVALID" in en and credentials.verify(window_home, "YM1:not-a-certificate").as_dict("en")["reason"] in en


async def test_the_bearers_card_is_checked_when_given(window_home, aiohttp_client):
    text = ym1(window_home)
    w = await window(aiohttp_client, window_home, "c02")
    await w.get("/verify")
    page = await w.post("/verify", {"text": text, "holder": id_number(4)})
    assert "所出示身份证号与持证人不符" in page


async def test_verifying_needs_a_signed_in_clerk(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home)
    r = await w.client.get("/verify", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/signin")


def test_a_scanner_types_into_the_field_in_chromium(clerk_page, served):
    from support import browser
    text = served.call(ym1, served.node)
    clerk_page.goto(f"{served.url}/verify")
    clerk_page.focus("textarea[name=text]")
    clerk_page.keyboard.type(text)  # a USB scanner is a keyboard
    clerk_page.keyboard.press("Tab")
    clerk_page.keyboard.press("Tab")
    clerk_page.keyboard.press("Enter")
    clerk_page.wait_for_selector(".verdict")
    assert CERT in clerk_page.inner_text(".verdict")
    browser.screenshot(clerk_page, "verify")
