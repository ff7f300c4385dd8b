"""The accept form (受理): what `yimen case accept` and `yimen case not-accept` do, from
the window: the item picked by code, name or pinyin initials among the clerk's
departments' items, the ID number checked as typed, materials handed in (a scan), taken
from My Space or deferred against a signed commitment, a duplicate confirmed, a refusal
with its reason; every refusal of the form keeps what was typed."""

from __future__ import annotations

import hashlib
import io
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from support import dump, id_number
from support.pages import window
from support.space import document
from support.zh import english_words
from yimen.node.services import audit, cases
from yimen.node.web.pages.accept import _file_name
from yimen.schema.errors import YimenError
from yimen.schema.idnumber import validate_id_number

BAD_ID = id_number(7)[:-1] + ("0" if id_number(7)[-1] != "0" else "1")  # a wrong check character
SCAN = b"%PDF-1.4 a scan of the card"


async def send(w, code: str, data: dict, token: bool = True):
    """POST the accept form as a browser would (multipart, the page's token); the answer,
    not followed."""
    body = {**({"csrf_token": w.token} if token else {}), **data}
    return await w.client.post(f"/accept/{code}", data=body, allow_redirects=False)


def dibao_form(seq: int = 7, **extra) -> dict:
    """The T-DIBAO form filled: the ID card handed in, the income proof handed in."""
    return {"id_number": id_number(seq), "name": "陈美玲", "phone": "13800138000",
            "how0": "provided", "how1": "provided", **extra}


def case_of(r) -> str:
    m = re.fullmatch(r"/cases/([0-9-]+)/paper/(receipt|refusal)", r.headers["Location"])
    assert m, r.headers["Location"]
    return m.group(1)


def text_of(page: str) -> str:
    """What the clerk reads: the page without tags, scripts' names and attributes."""
    body = page.split("<main>", 1)[1].split("</main>", 1)[0]
    return re.sub(r"<[^>]+>", " ", body)


async def test_the_pick_lists_the_clerks_items_and_finds_by_initials(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c02")  # 社保 only
    page = await w.get("/accept")
    assert "T-IMM" in page and "T-DIBAO" not in page and "T-LOCAL" not in page and "autofocus" in page
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get("/accept")
    assert all(c in page for c in ("T-IMM", "T-DIBAO", "T-LOCAL"))
    r = await w.client.get("/accept?q=dbsq", allow_redirects=False)  # 最低生活保障申请, said 低保申请
    assert r.status == 303 and r.headers["Location"] == "/accept/T-DIBAO"
    r = await w.client.get("/accept?q=ZDSH", allow_redirects=False)
    assert r.headers["Location"] == "/accept/T-DIBAO"
    fragment = await w.get("/accept?q=s", headers={"HX-Request": "true"})  # htmx: the list alone
    assert "<html" not in fragment and 'id="items"' in fragment and "T-IMM" in fragment
    page = await w.get("/accept?q=zzzz")
    assert "没有找到“zzzz”" in page


async def test_the_guide_and_the_form(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get("/accept/T-DIBAO")
    for shown in ("《社会救助暂行办法》", "20 个工作日", "不收费", "村居级·民政 → 镇街级·民政", "居民身份证", "收入证明",
                  "可容缺", 'name="id_number"', "申请人已签署承诺书", 'value="refuse"'):
        assert shown in page, shown
    assert re.search(r'<input name="id_number"[^>]*autofocus', page)
    assert page.index('value="accept"') < page.index('value="lookup"') < page.index('value="refuse"')  # Enter accepts
    page = await w.get("/accept/T-IMM")
    assert "即办件" in page and 'value="deferred"' not in page  # nothing of an immediate item is deferred
    page = await w.get("/accept/NOPE", status=404)
    assert "目录中没有事项 NOPE" in page


async def test_an_ordinary_item_with_a_scan_kept_and_a_deferral(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    scan = io.BytesIO(SCAN)
    scan.name = "身份证.pdf"
    r = await send(w, "T-DIBAO", dibao_form(how1="deferred", scan0=scan, commitment="1", keep="1"))
    assert r.status == 303, await r.text()
    cid = case_of(r)
    assert r.headers["Location"] == f"/cases/{cid}/paper/receipt"
    d = cases.show(window_home, cid)
    assert d["status"] == "accepted" and d["applicant_name"] == "陈美玲"
    assert d["materials"]["居民身份证"]["status"] == "provided"
    assert d["materials"]["收入证明"]["status"] == "deferred" and d["materials"]["收入证明"]["due"] == d["deadline"]
    stored = window_home.store.get(cid).value()
    assert stored["materials"]["居民身份证"]["sha256"] == hashlib.sha256(SCAN).hexdigest()
    assert stored["case"]["applicant_phone"] == "13800138000"
    assert [e["action"] for e in audit.trail(window_home, case=cid)] == ["accept"]
    kept = window_home.store.conn.execute("SELECT doc_type, source FROM space_docs").fetchall()
    assert kept == [("id_card", "scan")]
    assert "陈美玲" in await w.get(f"/cases/{cid}")  # the case page (the receipt is another part's)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=400), st.sampled_from(["..", "../..", "C:\\扫描\\身份证.pdf", "a\x00b"])))
def test_any_uploaded_file_name_can_name_a_file_here(tmp_path, name):
    safe = _file_name(name)
    assert safe and "/" not in safe and safe not in (".", "..")
    (tmp_path / f"0-{safe}").write_bytes(b"")  # the form prefixes the material's number


async def test_a_deferral_needs_the_signed_commitment_and_keeps_what_was_typed(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    before = dump(window_home)
    r = await send(w, "T-DIBAO", dibao_form(how1="deferred", due1="2026-12-03"))
    page = await r.text()
    assert r.status == 400 and "容缺受理须申请人签署承诺书：收入证明" in page
    assert 'value="陈美玲"' in page and f'value="{id_number(7)}"' in page and 'value="2026-12-03"' in page
    assert re.search(r'name="how1" value="deferred" checked', page)
    assert dump(window_home) == before


async def test_a_scanners_enter_after_the_id_number_sends_nothing_harmful(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    before = dump(window_home)
    r = await send(w, "T-DIBAO", {"id_number": id_number(7)})  # a browser that does not check the form
    page = await r.text()
    assert r.status == 400 and "申请人姓名不能为空" in page and dump(window_home) == before
    assert re.search(r'<input name="name"[^>]*autofocus', page) and "身份证号有效" in page


async def test_a_mandatory_material_not_ticked_is_named(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    r = await send(w, "T-DIBAO", dibao_form(how0=""))
    assert r.status == 400 and "缺少必需材料：居民身份证" in await r.text()


async def test_an_immediate_item_is_completed_at_once(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c02")
    await w.get("/accept/T-IMM")
    r = await send(w, "T-IMM", {"id_number": id_number(3), "name": "王小明", "how0": "provided"})
    assert r.status == 303
    d = cases.show(window_home, case_of(r))
    assert d["status"] == "completed" and [e["action"] for e in d["history"]] == ["accept", "complete"]


async def test_a_material_is_taken_from_my_space(window_home, aiohttp_client):
    doc_id = document(window_home, id_number(7), "income_proof")
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    fragment = await w.get(f"/accept/check-id?id_number={id_number(7)}&code=T-DIBAO")
    assert "身份证号有效：出生日期 1990-01-01，男" in fragment
    assert 'id="offer1" hx-swap-oob="true"' in fragment and doc_id in fragment
    assert re.search(r'name="how1" value="space" checked', fragment)
    assert any(e["action"] == "space_offers" for e in audit.trail(window_home, id_number=id_number(7)))
    # without script: "read My Space" shows the same offer, with what was typed
    page = await (await send(w, "T-DIBAO", {"id_number": id_number(7), "name": "陈美玲", "do": "lookup"})).text()
    assert doc_id in page and 'value="陈美玲"' in page
    r = await send(w, "T-DIBAO", dibao_form(how1="space"))
    assert r.status == 303
    m = cases.show(window_home, case_of(r))["materials"]["收入证明"]
    assert m["status"] == "reused" and m["doc_id"] == doc_id


async def test_a_duplicate_is_confirmed_with_everything_kept(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    first = case_of(await send(w, "T-DIBAO", dibao_form()))
    scan = io.BytesIO(SCAN)
    scan.name = "身份证.pdf"
    r = await send(w, "T-DIBAO", dibao_form(phone="13900139000", scan0=scan))
    page = await r.text()
    assert r.status == 400 and f'href="/cases/{first}"' in page and 'name="duplicate_ok"' in page
    assert "已选择的扫描件未能保留" in page  # a browser cannot be given a file back
    assert 'value="13900139000"' in page and "--duplicate-ok" not in page
    r = await send(w, "T-DIBAO", dibao_form(duplicate_ok="1"))
    assert r.status == 303 and case_of(r) != first


async def test_not_accepted_needs_a_reason(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    before = dump(window_home)
    r = await send(w, "T-DIBAO", {"id_number": id_number(7), "name": "陈美玲", "reason": "  ", "do": "refuse"})
    page = await r.text()
    assert r.status == 400 and "不予受理须填写理由" in page and 'value="陈美玲"' in page
    assert dump(window_home) == before
    r = await send(w, "T-DIBAO", {"id_number": id_number(7), "name": "陈美玲", "reason": "不属于本村户籍",
                                  "do": "refuse"})
    assert r.status == 303 and r.headers["Location"].endswith("/paper/refusal")
    d = cases.show(window_home, case_of(r))
    assert d["status"] == "not_accepted" and d["history"][0]["reason"] == "不属于本村户籍"


async def test_a_bad_id_number_says_exactly_why(window_home, aiohttp_client):
    try:
        validate_id_number(BAD_ID)
    except YimenError as e:
        reason = e.zh
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    fragment = await w.get(f"/accept/check-id?id_number={BAD_ID}")
    assert reason in fragment and 'class="hint bad"' in fragment and "<html" not in fragment
    assert "输入有 5 位" in await w.get("/accept/check-id?id_number=44060")
    before = dump(window_home)
    r = await send(w, "T-DIBAO", dibao_form(id_number=BAD_ID))
    page = await r.text()
    assert r.status == 400 and page.count(reason) == 2  # the form's sentence and the field's own
    assert f'value="{BAD_ID}"' in page and 'aria-invalid="true"' in page
    assert dump(window_home) == before


async def test_a_clerk_without_the_departments_role_is_refused(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c02")  # 社保 only; T-DIBAO is 民政's
    page = await w.get("/accept/T-DIBAO", status=403)
    assert "权限不足" in page
    await w.get("/accept")
    before = dump(window_home)
    for data in (dibao_form(), {"id_number": id_number(7), "name": "陈美玲", "reason": "不符", "do": "refuse"}):
        r = await send(w, "T-DIBAO", data)
        assert r.status == 403 and "权限不足" in await r.text()
    assert "权限不足" in await w.get(f"/accept/check-id?id_number={id_number(7)}&code=T-DIBAO", status=403)
    assert dump(window_home) == before


async def test_a_form_without_its_token_does_nothing(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    await w.get("/accept/T-DIBAO")
    before = dump(window_home)
    r = await send(w, "T-DIBAO", dibao_form(), token=False)
    assert r.status == 403 and "未执行任何操作" in await r.text()
    assert dump(window_home) == before


async def test_the_pages_speak_one_language(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    for path, kept in (("/accept?q=dbs", ["dbs"]), ("/accept/T-DIBAO", [])):
        page = await w.get(path)
        assert english_words(text_of(page), kept + ["T-DIBAO", "T-IMM", "T-LOCAL"]) == [], path
    page = await w.get("/accept/T-DIBAO?lang=en")
    assert "Guide" in page and "办事指南" not in page and "申请人已签署承诺书" not in page


async def test_the_case_page_asks_a_reason_for_a_refusal(window_home, aiohttp_client):
    app = cases.Application("T-DIBAO", id_number(7), "陈美玲", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(window_home, "c01", app)["case_id"]
    w = await window(aiohttp_client, window_home, "c01")
    page = await w.get(f"/cases/{cid}")
    for action in ("supplement", "returned"):
        form = page.split(f'value="{action}"', 1)[1].split("</form>", 1)[0]
        assert re.search(r'name="reason"[^>]*required', form), action


async def test_the_menu_has_accept(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")  # an admin of no department sees it, and an empty list
    assert 'href="/accept"' in await w.get("/")
    assert "您所在的部门在本节点没有可受理的事项" in await w.get("/accept")



def test_pick_and_accept_with_the_keyboard_in_chromium(clerk_page, served):
    from playwright.sync_api import expect
    from support import browser
    page, applicant = clerk_page, id_number(21)

    def focused(name: str) -> None:
        expect(page.locator(f"[name={name}]").first).to_be_focused()
    doc_id = served.call(document, served.node, applicant, "income_proof")
    page.goto(f"{served.url}/accept")
    focused("q")
    page.keyboard.type("dbsq")
    expect(page.locator("#items tbody tr")).to_have_count(1)
    assert "最低生活保障申请" in page.inner_text("#items")
    browser.screenshot(page, "accept-pick")
    page.keyboard.press("Enter")  # one item found: its form
    page.wait_for_url(f"{served.url}/accept/T-DIBAO")
    focused("id_number")
    page.keyboard.type(applicant)  # as a scanner types: the number, then Enter
    page.keyboard.press("Enter")
    expect(page.locator("#id-check.good")).to_contain_text("出生日期 1990-01-01")
    expect(page.locator("#offer1 input[value=space]")).to_be_checked()  # My Space holds the income proof
    assert page.url == f"{served.url}/accept/T-DIBAO" and doc_id in page.inner_text("#offer1")
    focused("name")  # nothing was sent half-filled: the browser asks for the name
    page.keyboard.type("赵丽")
    page.keyboard.press("Tab")
    page.keyboard.type("13800138000")
    page.keyboard.press("Tab")
    focused("how0")
    page.keyboard.press("Space")  # the ID card: handed in
    browser.screenshot(page, "accept-form")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # from the phone field: the form's first button, 受理
    page.wait_for_url(re.compile(r".*/cases/[0-9-]+/paper/receipt$"))
    cid = page.url.rsplit("/", 3)[-3]
    d = served.call(cases.show, served.node, cid)
    assert d["applicant_name"] == "赵丽" and d["materials"]["收入证明"]["status"] == "reused"
    assert d["materials"]["居民身份证"]["status"] == "provided"


def test_accept_with_script_disabled_in_chromium(chromium_browser, served):
    """Without script the search is a GET form and My Space is read by a button (the
    second step), keeping what was typed."""
    from support import browser
    from support.signin import PASSWORD
    applicant = id_number(22)
    doc_id = served.call(document, served.node, applicant, "income_proof")
    context = chromium_browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        p = context.new_page()
        browser.sign_in(p, served.url, "c01", PASSWORD)
        p.goto(f"{served.url}/accept")
        p.fill("input[name=q]", "低保")
        p.press("input[name=q]", "Enter")
        p.wait_for_url(f"{served.url}/accept/T-DIBAO")
        p.fill("input[name=id_number]", applicant)
        p.fill("input[name=name]", "孙强")
        p.click("button[value=lookup]")
        p.wait_for_selector("#offer1 input[value=space]:checked")
        assert doc_id in p.inner_text("#offer1") and p.input_value("input[name=name]") == "孙强"
        p.check("input[name=how0][value=provided]")
        p.click("button[value=accept]")
        p.wait_for_url(re.compile(r".*/cases/[0-9-]+/paper/receipt$"))
        d = served.call(cases.show, served.node, p.url.rsplit("/", 3)[-3])
        assert d["applicant_name"] == "孙强" and d["materials"]["收入证明"]["doc_id"] == doc_id
    finally:
        context.close()
