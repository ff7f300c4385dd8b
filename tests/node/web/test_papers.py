"""The printed papers (受理回执, 一次性告知书, 不予受理通知书, 办理结果证明) and the citizen's
progress page: what each says, which fit a case's state, the audit entries, the forged token."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from hypothesis import given, strategies as st

from support import id_number
from support.pages import window
from support.zh import english_words
from yimen.node.services import audit, cases, papers
from yimen.node.web import auth
from yimen.node.web.pages import papers as pages
from yimen.personal_space.credential_qr import qr_data_uri
from yimen.schema.idnumber import mask, mask_name

NAME, MASKED, PHONE = "陈美玲", "陈*玲", "13800138000"
QR = re.compile(r'<img src="(data:image/svg\+xml[^"]+)"')


def deferred(node, seq: int = 7, name: str = NAME) -> str:
    """A T-DIBAO case accepted by c01 with 收入证明 deferred (the notice fits it too)."""
    app = cases.Application("T-DIBAO", id_number(seq), name, {"居民身份证": None}, {"收入证明": None}, PHONE)
    return cases.accept(node, "c01", app)["case_id"]


def plain(node, seq: int = 8) -> str:
    """A T-DIBAO case with every material handed in: only the receipt fits."""
    app = cases.Application("T-DIBAO", id_number(seq), NAME, {"居民身份证": None, "收入证明": None}, {})
    return cases.accept(node, "c01", app)["case_id"]


def refused(node, seq: int = 9) -> str:
    return cases.not_accept(node, "c01", "T-DIBAO", id_number(seq), NAME, "申请人户籍不在本村")["case_id"]


def completed(node, seq: int = 10) -> str:
    """A T-LOCAL case (its result is a residence proof) taken to completion by c01."""
    app = cases.Application("T-LOCAL", id_number(seq), NAME, {"居民身份证": None, "户口簿": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "submit", "c01")
    cases.act(node, cid, "approve", "c01", department="村委会")
    cases.act(node, cid, "approve", "c01", department="民政")
    cases.act(node, cid, "issue_result", "c01")
    cases.act(node, cid, "complete", "c01")
    return cid


def visible(page: str) -> str:
    """The text a reader sees in a page's main part (no tags, no attributes)."""
    return html.unescape(re.sub(r"<[^>]*>", " ", page.split("<main>")[1]))


def printed(node, cid: str) -> list[str]:
    return [e["detail"] for e in audit.trail(node, case=cid) if e["action"] == "printed_paper"]


async def test_the_receipt_names_the_case_masks_the_applicant_and_links_its_progress(window_home, aiohttp_client):
    cid = deferred(window_home)
    row = cases.get_row(window_home, cid)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/paper/receipt")
    assert "受理回执" in page and cid in page and window_home.config.name in page
    assert MASKED in page and NAME not in page and id_number(7) not in page and mask(id_number(7)) in page
    y, m, d = row["deadline"].split("-")
    assert f"{y}年{int(m)}月{int(d)}日" in page and "收入证明" in page and "容缺待补交" in page
    assert "测试c01" in page and "盖章" in page and 'data-print' in page and "print.js" in page
    qr = QR.search(page)
    assert qr and "<svg" in unquote(qr.group(1))
    assert printed(window_home, cid) and '"receipt"' in printed(window_home, cid)[-1]
    assert not english_words(visible(page), [cid])


async def test_the_notice_names_what_is_missing_with_its_reason_and_date(window_home, aiohttp_client):
    cid = deferred(window_home)
    due = cases.get_row(window_home, cid)["deadline"]
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/paper/notice")
    assert "一次性告知书" in page and "收入证明" in page and "容缺受理" in page
    y, m, d = due.split("-")
    assert f"{y}年{int(m)}月{int(d)}日" in page and MASKED in page and "暂停计算" not in page  # a deferral stops no clock
    other = plain(window_home)
    cases.act(window_home, other, "supplement", "c01", reason="收入证明未加盖单位公章")
    page = await w.get(f"/cases/{other}/paper/notice")
    assert "收入证明未加盖单位公章" in page and "暂停计算办理时限" in page


async def test_the_refusal_gives_the_reason_and_the_right_to_appeal(window_home, aiohttp_client):
    cid = refused(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/paper/refusal")
    assert "不予受理通知书" in page and "申请人户籍不在本村" in page and "行政复议" in page and "行政诉讼" in page
    assert MASKED in page and id_number(9) not in page
    returned = plain(window_home)
    cases.act(window_home, returned, "returned", "c01", reason="材料系伪造")
    page = await w.get(f"/cases/{returned}/paper/refusal")
    assert "退件通知书" in page and "材料系伪造" in page


async def test_the_result_carries_the_certificate_the_verify_page_accepts(window_home, aiohttp_client):
    from yimen.node.services import credentials, space_reuse
    cid = completed(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/paper/result")
    doc_id = space_reuse.deposited(window_home, cid)
    text = credentials.show(window_home, doc_id)["text"]
    assert "办理结果证明" in page and doc_id in page and "居住" in page and QR.search(page)
    expected = credentials.verify(window_home, text)  # a node with no parent trusts no key yet
    assert expected.claims.case_id == cid
    await w.get("/verify")
    verdict = await w.post("/verify", {"text": text})
    assert expected.as_dict("zh")["reason"] in verdict and cid in verdict and doc_id in verdict


async def test_a_paper_that_does_not_fit_the_case_says_so(window_home, aiohttp_client):
    cid, never = plain(window_home), refused(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    for path, status, words in [(f"/cases/{cid}/paper/refusal", 400, "不能打印不予受理通知书"),
                                (f"/cases/{cid}/paper/notice", 400, "不能打印一次性告知书"),
                                (f"/cases/{cid}/paper/result", 400, "不能打印办理结果证明"),
                                (f"/cases/{never}/paper/receipt", 400, "不能打印受理回执"),
                                (f"/cases/{cid}/paper/invoice", 404, "没有这种文书"),
                                ("/cases/440608100201-2026-999999/paper/receipt", 404, "没有受理编号")]:
        page = await w.get(path, status=status)
        assert words in page and "Traceback" not in page
    assert not printed(window_home, cid)
    page = await w.get(f"/cases/{cid}/paper/notice?lang=en", status=400)
    assert "no notice of what is missing to print" in page


async def test_the_case_page_links_the_papers_that_fit(window_home, aiohttp_client):
    cid, done = deferred(window_home), refused(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}")
    assert f"/cases/{cid}/paper/receipt" in page and f"/cases/{cid}/paper/notice" in page
    assert f"/cases/{cid}/paper/refusal" not in page
    page = await w.get(f"/cases/{done}")
    assert f"/cases/{done}/paper/refusal" in page and f"/cases/{done}/paper/receipt" not in page


async def test_english_papers_and_progress_hold_no_chinese_frame(window_home, aiohttp_client):
    cid = deferred(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    for kind, title in [("receipt", "Acceptance receipt"), ("notice", "Notice of what is missing")]:
        page = await w.get(f"/cases/{cid}/paper/{kind}?lang=en")
        assert title in page and "(seal)" in page
        assert not [z for z in ("受理回执", "盖章", "申请人", "承诺", "打印", "编号") if z in visible(page)]
    page = await w.get(token_path(window_home, cid) + "?lang=en")
    assert "Case progress" in page and "Steps done" in page and "办理过程" not in page


async def test_papers_need_a_signed_in_clerk(window_home, aiohttp_client):
    cid = plain(window_home)
    w = await window(aiohttp_client, window_home)
    r = await w.client.get(f"/cases/{cid}/paper/receipt", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/signin")


async def test_the_progress_page_shows_steps_masked_and_is_audited(window_home, aiohttp_client):
    cid = deferred(window_home)
    cases.act(window_home, cid, "submit", "c01")
    w = await window(aiohttp_client, window_home, "c01")
    path = token_path(window_home, cid)
    anon = await window(aiohttp_client, window_home)
    page = await anon.get(path)
    assert "办件进度查询" in page and cid in page and "最低生活保障申请" in page and "审批中" in page
    assert MASKED in page and NAME not in page and id_number(7) not in page and mask(id_number(7)) not in page
    assert PHONE not in page and PHONE[-4:] not in page
    assert "测试c01" not in page and "c01" not in page.split("<main>")[1]
    assert "受理" in page and "提交后台" in page and "村居级" in page and "民政" in page and "待村居·民政审批" in page
    assert 'class="menu"' not in page
    views = [e for e in audit.trail(window_home, case=cid) if e["action"] == "progress_viewed"]
    assert len(views) == 1 and views[0]["clerk"] is None
    assert 'class="menu"' not in await w.get(path)  # a clerk's browser sees no menu either


async def test_a_forged_or_mangled_token_is_not_found(window_home, aiohttp_client):
    cid = plain(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    good = token_path(window_home, cid).removeprefix("/p/")
    other = plain(window_home, 11)
    anon = await window(aiohttp_client, window_home)
    for token in (cid, f"{other}.{good.rsplit('.', 1)[1]}", flip(good, len(good) - 1), flip(good, len(good) - 10),
                  good + "x" * 200, "x" * 129, "受理", "%ED%A0%80"):
        page = await anon.get(f"/p/{token}", status=404)
        assert "没有找到这个办件" in page and other not in page
    assert not [e for e in audit.trail(window_home, case=other) if e["action"] == "progress_viewed"]


def flip(token: str, i: int) -> str:
    """`token` with its character `i` changed."""
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def token_path(node, cid: str) -> str:
    return "/p/" + pages.signer(auth.cookie_key(node)).sign(cid).decode()


async def test_the_receipts_qr_holds_the_progress_address_it_was_served_on(window_home, aiohttp_client):
    cid = plain(window_home)
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}/paper/receipt")
    url = str(w.client.make_url(token_path(window_home, cid)))
    assert url.startswith("http://127.0.0.1:") and QR.search(page).group(1) == qr_data_uri(url)
    assert len(token_path(window_home, cid)) <= 3 + pages.MAX_TOKEN


@given(st.text(min_size=1, max_size=12).filter(lambda s: s.strip()))
def test_a_masked_name_never_shows_the_whole_name(name):
    text, masked = name.strip(), mask_name(name)
    kept = sum(a == b != "*" for a, b in zip(text, masked))
    assert len(masked) == len(text) and kept <= min(2, len(text) - 1) and masked[1:-1].strip("*") == ""


def test_print_the_receipt_and_follow_its_qr_in_chromium(clerk_page, served, tmp_path):
    """The receipt printed to PDF holds its receipt number; its QR, read from the page's
    picture, opens the progress page; the refusal, and the result whose QR holds the
    e-certificate's text."""
    import io
    import pypdf
    import zxingcpp
    from PIL import Image
    from support import browser
    cid = served.call(deferred, served.node, 21, "王小明")
    clerk_page.goto(f"{served.url}/cases/{cid}/paper/notice")
    browser.screenshot(clerk_page, "paper-notice")
    clerk_page.goto(f"{served.url}/cases/{cid}")
    clerk_page.click(f"a[href='/cases/{cid}/paper/receipt']")
    clerk_page.wait_for_selector("article.paper-receipt")
    browser.screenshot(clerk_page, "paper-receipt")
    printout = browser.SHOTS / "paper-receipt.pdf"  # beside the screenshots, for the eye
    pdf = pypdf.PdfReader(io.BytesIO(clerk_page.pdf(path=str(printout), format="A4", print_background=True)))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert len(pdf.pages) == 1 and cid in text and "受理回执" in text and "打印" not in text
    picture = Image.open(io.BytesIO(clerk_page.locator("figure.qr img").screenshot()))
    url = zxingcpp.read_barcodes(picture.convert("L"))[0].text
    assert url.startswith(f"{served.url}/p/")
    other = served.call(refused, served.node, 22)
    clerk_page.goto(f"{served.url}/cases/{other}/paper/refusal")
    browser.screenshot(clerk_page, "paper-refusal")
    done = served.call(completed, served.node, 23)
    clerk_page.goto(f"{served.url}/cases/{done}/paper/result")
    browser.screenshot(clerk_page, "paper-result")
    picture = Image.open(io.BytesIO(clerk_page.locator("figure.qr img").screenshot()))
    assert zxingcpp.read_barcodes(picture.convert("L"))[0].text.startswith("YM1:")
    clerk_page.context.clear_cookies()
    clerk_page.goto(url)
    shown = clerk_page.inner_text("main")
    assert "王*明" in shown and "等待窗口提交审批" in shown and not clerk_page.locator("nav.menu").count()
    browser.screenshot(clerk_page, "progress")


KEY = bytes(range(32))


@given(st.text(min_size=1, max_size=40), st.text(max_size=140))
def test_only_the_token_made_for_a_case_names_it(case_id, other):
    s = pages.signer(KEY)
    token = s.sign(case_id).decode()
    assert pages.case_of(s, token) == case_id
    assert pages.case_of(s, other) in (None, case_id) and (other == token or pages.case_of(s, other) is None)
    assert pages.case_of(s, flip(token, len(token) - 1)) is None
    assert pages.case_of(pages.signer(bytes(32)), token) is None
    assert pages.case_of(s, token + "\ud800") is None
