"""The admin's pages: clerks, enrollment, revocation and the audit trail, each change made
through the same service as the CLI's in the admin's name (its audit entry says so), a
refusal shown as the service's sentence beside what was typed, and every page closed to
a clerk who is no admin."""

from __future__ import annotations

import html
import json
import re

import pytest

from support import TOWN, VILLAGE, id_number
from support.pages import window
from support.signin import PASSWORD
from support.zh import english_words
from tests.node.web.conftest import window_node
from tests.node.web.test_cases import dibao
from tests.node.web.test_every_page import LATIN_NAMES, visible
from yimen.node import home
from yimen.node.services import audit, clerks, enrollment, sessions, trust

FRAME_ZH = ("窗口人员", "岗位", "审计", "吊销", "邀请", "证书", "密钥", "状态", "查询")  # data (names, roles) may be Chinese
PAGES = ("/admin", "/admin/clerks", "/admin/clerks/c01", "/admin/enrollment", "/admin/revoke", "/admin/audit",
         "/admin/audit/verify")


def last(node, action: str) -> dict:
    return audit.search(node, audit.Filter(action=action), limit=1, newest_first=True)[0]


def sentence(fn, *args, **kw) -> str:
    """The zh sentence the service refuses with."""
    with pytest.raises(Exception) as e:
        fn(*args, **kw)
    return e.value.zh


# -- who may ----------------------------------------------------------------------------------------
async def test_a_clerk_who_is_no_admin_is_refused_every_admin_page(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    assert 'href="/admin"' not in await w.get("/")
    for path in PAGES:
        page = await w.get(path, status=403)
        assert "权限不足" in page and "不是管理员" in page, path
    before = len(clerks.all_clerks(window_home))
    await w.post("/admin/clerks", {"clerk_id": "c09", "name": "赵六", "roles": "民政"}, status=403)
    await w.post("/admin/clerks/c02/deactivate", status=403)
    await w.post("/admin/revoke/key", {"target": VILLAGE, "reason": "x", "confirm": "yes"}, status=403)
    assert len(clerks.all_clerks(window_home)) == before and clerks.get(window_home, "c02")["active"]


async def test_every_form_needs_the_pages_token(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks")
    await w.post("/admin/clerks", {"clerk_id": "c09", "name": "赵六", "roles": "民政"}, token=False, status=403)
    await w.post("/admin/clerks/c02/deactivate", {"csrf_token": "forged." + w.token[7:]}, status=403)
    await w.post("/admin/enrollment/invite", {"region": VILLAGE + "9", "hours": "72"}, token=False, status=403)
    await w.post("/admin/revoke/key", {"target": VILLAGE, "reason": "x", "confirm": "yes"}, token=False, status=403)
    assert [c["clerk_id"] for c in clerks.all_clerks(window_home)] == ["a01", "c01", "c02"]
    assert clerks.get(window_home, "c02")["active"]


async def test_the_admin_sees_the_menu_entry_and_every_page(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    assert 'href="/admin"' in await w.get("/")
    assert 'href="/admin" aria-current="page"' in await w.get("/admin/audit")
    for path in PAGES:
        page = await w.get(path)
        assert english_words(visible(page), LATIN_NAMES) == [], path
        en = visible(await w.get(path + "?lang=en"))
        assert not [word for word in FRAME_ZH if word in en], (path, en)
        await w.get(path + "?lang=zh")


# -- clerks -----------------------------------------------------------------------------------------
async def test_add_a_clerk_with_a_password_and_sign_in(window_home, aiohttp_client, window_nodes):
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get("/admin/clerks")
    assert "测试c01" in page and "民政" in page and "在岗" in page
    r = await w.client.post("/admin/clerks", data={"clerk_id": "c09", "name": "赵六", "roles": ["民政", "医保"],
                                                    "password": "Zhao-Liu-2026", "csrf_token": w.token},
                            allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin/clerks?done=added&clerk=c09"
    page = await w.get(r.headers["Location"])
    assert "已添加窗口人员 c09" in page and "赵六" in page
    assert clerks.get(window_home, "c09")["roles"] == ["医保", "民政"]
    assert (last(window_home, "clerk_add")["clerk"], json.loads(last(window_home, "clerk_add")["detail"])) == (
        "a01", {"clerk_id": "c09"})
    sessions.sign_in(window_home, "c09", "Zhao-Liu-2026")


async def test_a_made_password_is_shown_once_and_works(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks")
    page = await w.post("/admin/clerks", {"clerk_id": "c10", "name": "钱七", "roles": "社保"})
    made = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert "仅显示这一次" in page and len(made) == 12
    sessions.sign_in(window_home, "c10", made)
    assert made not in await w.get("/admin/clerks")


async def test_a_refused_clerk_keeps_what_was_typed(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks")
    weak = sentence(clerks.check_password, "short", "c11", "孙八")
    page = await w.post("/admin/clerks", {"clerk_id": "c11", "name": "孙八", "roles": ["民政", "残联"],
                                          "password": "short"}, status=400)
    assert weak in page and 'value="c11"' in page and 'value="孙八"' in page
    assert re.search(r'value="残联" checked', page) and not re.search(r'value="社保" checked', page)
    page = await w.post("/admin/clerks", {"clerk_id": "c01", "name": "又一个", "roles": "民政"}, status=400)
    assert "工号 c01 已存在" in page
    page = await w.post("/admin/clerks", {"clerk_id": "c12", "name": "周九"}, status=400)
    assert "未知角色" in page and 'value="周九"' in page
    assert "c11" not in [c["clerk_id"] for c in clerks.all_clerks(window_home)]


async def test_roles_password_unlock_and_deactivation(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks/c02")
    page = await w.post("/admin/clerks/c02/roles", {"roles": ["社保", "医保"]})
    assert "已调整 c02 的岗位" in page and sorted(clerks.get(window_home, "c02")["roles"]) == sorted(["社保", "医保"])
    for _ in range(5):
        with pytest.raises(sessions.SignInFailed):
            sessions.sign_in(window_home, "c02", "wrong-password")
    assert "已锁定至" in await w.get("/admin/clerks/c02")
    page = await w.post("/admin/clerks/c02/unlock")
    assert "已解锁 c02" in page and not clerks.locked(window_home, clerks.get(window_home, "c02"))
    page = await w.post("/admin/clerks/c02/password", {"password": "New-Window-Pass-9"})
    assert "已为 c02 设置新密码" in page
    sessions.sign_in(window_home, "c02", "New-Window-Pass-9")
    page = await w.post("/admin/clerks/c02/deactivate")
    assert "已停用窗口人员 c02" in page and not clerks.get(window_home, "c02")["active"]
    page = await w.post("/admin/clerks/c02/activate")
    assert "已启用窗口人员 c02" in page and clerks.get(window_home, "c02")["active"]
    assert [e["action"] for e in audit.search(window_home, audit.Filter(clerk="a01"))][-5:] == [
        "clerk_roles", "clerk_unlock", "clerk_password", "clerk_deactivate", "clerk_activate"]


async def test_the_last_admin_stays_and_the_roles_ticked_are_kept(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks/a01")
    last_admin = sentence(clerks.set_active, window_home, "a01", False)
    page = await w.post("/admin/clerks/a01/deactivate", status=400)
    assert last_admin in page and clerks.get(window_home, "a01")["active"]
    page = await w.post("/admin/clerks/a01/roles", {"roles": ["民政"]}, status=400)
    assert last_admin in page and re.search(r'value="民政" checked', page)
    assert not re.search(r'value="管理员" checked', page)
    page = await w.post("/admin/clerks/c01/roles", {}, status=400)
    assert "至少须保留一个岗位" in page
    assert clerks.get(window_home, "a01")["roles"] == ["管理员"]
    page = await w.post("/admin/clerks/a01/password", {"password": "New-Admin-Pass-1"})  # the own sign-in stays
    assert "已为 a01 设置新密码" in page and "退出" in await w.get("/admin/clerks")


async def test_a_one_time_sign_in_link_is_shown_once_and_signs_in(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/clerks/c02")
    page = await w.post("/admin/clerks/c02/link", {"minutes": "5000"}, status=400)
    assert sentence(sessions.make_link, window_home, "c02", "a01", 5000) in page and 'value="5000"' in page
    page = await w.post("/admin/clerks/c02/link", {"minutes": "30"})
    url = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert "/signin/link/" in url and 'class="qr"' in page and last(window_home, "signin_link")["clerk"] == "a01"
    assert sessions.link_clerk(window_home, url.rsplit("/", 1)[1]) == "c02"
    assert url not in await w.get("/admin/clerks/c02")


async def test_an_unknown_clerk_or_change_is_a_clear_page(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get("/admin/clerks/nobody", status=404)
    assert "没有工号为 nobody 的窗口人员" in page
    page = await w.post("/admin/clerks/nobody/unlock", status=404)
    assert "没有工号为 nobody 的窗口人员" in page
    assert "已添加" not in await w.get("/admin/clerks?done=added&clerk=假冒的人")
    await w.post("/admin/clerks/c01/explode", status=404)


# -- enrollment and revocation ------------------------------------------------------------------------
@pytest.fixture
def town_and_village(tmp_path, window_nodes):
    town = window_node(tmp_path / "town", TOWN, "荷城街道党群服务中心")
    village = home.init(tmp_path / "village2", VILLAGE, "示范村")
    window_nodes.extend([town, village])
    return town, village


async def test_an_invitation_code_is_shown_once_with_its_qr(town_and_village, aiohttp_client):
    town, _ = town_and_village
    w = await window(aiohttp_client, town, "a01")
    await w.get("/admin/enrollment")
    page = await w.post("/admin/enrollment/invite", {"region": VILLAGE, "hours": "24"})
    code = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert code.endswith("." + town.keys.tls_fingerprint) and 'class="qr"' in page
    assert last(town, "invite")["clerk"] == "a01"
    assert code not in await w.get("/admin/enrollment")


async def test_a_refused_invitation_says_why_and_keeps_the_region(town_and_village, aiohttp_client):
    town, _ = town_and_village
    w = await window(aiohttp_client, town, "a01")
    await w.get("/admin/enrollment")
    page = await w.post("/admin/enrollment/invite", {"region": "440608200201", "hours": "72"}, status=400)
    assert "不是本节点" in page and 'value="440608200201"' in page
    page = await w.post("/admin/enrollment/invite", {"region": VILLAGE, "hours": "abc"}, status=400)
    assert "邀请码的有效时间须为" in page and 'value="abc"' in page


async def test_admit_a_pasted_request_then_revoke_its_key(town_and_village, aiohttp_client):
    town, village = town_and_village
    w = await window(aiohttp_client, town, "a01")
    await w.get("/admin/enrollment")
    page = await w.post("/admin/enrollment/admit", {"kind": "enroll", "request": "{not json"}, status=400)
    assert "这不是注册申请" in page and "{not json" in page
    request = enrollment.dumps(enrollment.request(village))
    page = await w.post("/admin/enrollment/admit", {"kind": "enroll", "request": request})
    answer = html.unescape(re.search(r"<textarea[^>]*readonly[^>]*>(.*?)</textarea>", page, re.S).group(1))
    assert enrollment.apply_answer(village, json.loads(answer)) == [town.node_id]
    assert 'download="enroll-answer.json"' in page and last(town, "admit")["clerk"] == "a01"
    chain = await w.get("/admin/enrollment")
    assert "根（自签）" in chain and VILLAGE in chain

    await w.get("/admin/revoke")
    page = await w.post("/admin/revoke/key", {"target": VILLAGE, "reason": "笔记本电脑被盗"}, status=400)
    assert "请勾选确认框" in page and 'value="笔记本电脑被盗"' in page and trust.known_keys(town)[-1]["state"] == "valid"
    page = await w.post("/admin/revoke/key", {"target": VILLAGE, "reason": " ", "confirm": "yes"}, status=400)
    assert sentence(trust.revoke, town, VILLAGE, " ") in page and f'value="{VILLAGE}"' in page
    page = await w.post("/admin/revoke/key", {"target": VILLAGE, "reason": "笔记本电脑被盗", "confirm": "yes"})
    assert f"已吊销 {VILLAGE} 的密钥" in page and "已吊销" in page
    assert {k["node"]: k["state"] for k in trust.known_keys(town)}[VILLAGE] == "revoked"
    assert last(town, "revoke")["clerk"] == "a01"


async def test_this_node_enrolls_offline_from_its_page(town_and_village, aiohttp_client, window_nodes, tmp_path):
    town, _ = town_and_village
    village = window_node(tmp_path / "village3", VILLAGE, "示范村")
    window_nodes.append(village)
    w = await window(aiohttp_client, village, "a01")
    await w.get("/admin/enrollment")
    page = await w.post("/admin/enrollment/request", {"address": "https://10.0.0.6:8711"})
    own = json.loads(html.unescape(re.search(r"<textarea[^>]*readonly[^>]*>(.*?)</textarea>", page, re.S).group(1)))
    assert own == enrollment.request(village, "https://10.0.0.6:8711") and 'download="enroll-request.json"' in page
    answer = enrollment.dumps(enrollment.admit(town, own))
    page = await w.post("/admin/enrollment/answer", {"answer": answer[:40]}, status=400)
    assert "这不是注册答复" in page and answer[:40] in html.unescape(page)
    page = await w.post("/admin/enrollment/answer", {"answer": answer})
    assert f"注册完成，已获得上级公钥：{town.node_id}" in page and last(village, "enroll")["clerk"] == "a01"
    assert "本节点已有证书" in page and enrollment.own_certificate(village) is not None


async def test_a_childs_key_rotation_is_certified_from_its_pasted_request(town_and_village, aiohttp_client):
    town, village = town_and_village
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    w = await window(aiohttp_client, town, "a01")
    await w.get("/admin/enrollment")
    page = await w.post("/admin/enrollment/admit", {"kind": "rotate", "request": enrollment.dumps(
        enrollment.request(village))}, status=400)
    assert "密钥更换申请格式错误" in page and 'value="rotate" checked' in page
    old = village.keys.public_key
    page = await w.post("/admin/enrollment/admit", {"kind": "rotate", "request": enrollment.dumps(
        trust.rotation_request(village))})
    answer = html.unescape(re.search(r"<textarea[^>]*readonly[^>]*>(.*?)</textarea>", page, re.S).group(1))
    assert 'download="rotate-answer.json"' in page and last(town, "key_certify")["clerk"] == "a01"
    trust.apply_rotation(village, json.loads(answer))
    assert village.keys.retiring is None and village.keys.public_key != old


async def test_an_e_certificate_is_revoked_by_its_issuer_only(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    await w.get("/admin/revoke")
    theirs = "440608100202-D2026-000001"  # another village's
    page = await w.post("/admin/revoke/cert", {"target": theirs, "reason": "信息有误", "confirm": "yes"}, status=400)
    assert f"电子证照 {theirs} 由 440608100202 签发" in page and f'value="{theirs}"' in page and 'value="信息有误"' in page
    ours = "440608100201-D2026-000099"
    page = await w.post("/admin/revoke/cert", {"target": ours, "reason": "信息有误", "confirm": "yes"})
    assert f"已吊销电子证照 {ours}" in page and last(window_home, "cert_revoke")["clerk"] == "a01"
    page = await w.post("/admin/revoke/cert", {"target": ours, "reason": "又一次", "confirm": "yes"})
    assert f"电子证照 {ours} 早已吊销" in page


# -- the audit trail ----------------------------------------------------------------------------------
async def test_the_audit_trail_by_case_person_clerk_action_and_days(window_home, aiohttp_client):
    cid = dibao(window_home)
    other = dibao(window_home, 8, "王小明")
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get(f"/admin/audit?case={cid}")
    assert "受理" in page and cid in page and other not in page and "共 1 条" in page
    page = await w.get(f"/admin/audit?id_number={id_number(8)}")
    assert other in page and cid not in page and id_number(8) in page  # the number typed, kept in the form
    page = await w.get("/admin/audit?clerk=c01&action=accept")
    assert "共 2 条" in page
    today = window_home.now()[:10]
    assert "共 0 条" not in await w.get(f"/admin/audit?since={today}&until={today}")
    assert "没有符合条件的审计记录" in await w.get("/admin/audit?until=2000-01-01")
    shown = last(window_home, "audit_show")
    assert shown["clerk"] == "a01" and json.loads(shown["detail"])["filters"] == {"until": "2000-01-01"}


async def test_bad_audit_filters_are_one_sentence(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get("/admin/audit?since=2026-13-01&clerk=c01", status=400)
    assert "日期“2026-13-01”无效" in page and 'value="c01"' in page
    page = await w.get("/admin/audit?id_number=123", status=400)
    assert "身份证" in page and 'value="123"' in page
    await w.get("/admin/audit?page=" + "9" * 30)


async def test_fifty_a_page_newest_first(window_home, aiohttp_client):
    for n in range(60):
        audit.record(window_home, "case_list", "c01", page=n)
    w = await window(aiohttp_client, window_home, "a01")
    first = await w.get("/admin/audit?action=case_list")
    assert "共 60 条，第 1/2 页" in first and first.count("<tr>") == 51 and "page=2" in first
    second = await w.get("/admin/audit?action=case_list&page=2")
    assert second.count("<tr>") == 11
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', first)]
    assert seqs == sorted(seqs, reverse=True)


async def test_the_verdict_of_the_audit_log(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "a01")
    page = await w.get("/admin/audit/verify")
    assert "审计日志完好" in page
    window_home.store.conn.execute("DROP TRIGGER audit_log_no_update")
    window_home.store.conn.execute("UPDATE audit_log SET clerk = 'c99' WHERE seq = 2")
    page = await w.get("/admin/audit/verify")
    assert "审计日志第 2 条" in page and "已被改动" in page and "Traceback" not in page


# -- in a browser ---------------------------------------------------------------------------------------
def test_admin_clerks_and_audit_in_chromium(page, served):
    from support import browser
    from support.browser import sign_in
    sign_in(page, served.url, "a01", PASSWORD)
    page.click("nav.menu >> text=管理")
    page.wait_for_url(f"{served.url}/admin/clerks")
    page.fill("input[name=clerk_id]", "c20")
    page.fill("input[name=name]", "李敏")
    page.check("input[name=roles][value=民政]")
    page.check("input[name=roles][value=医保]")
    page.click("#add button[type=submit]")
    page.wait_for_selector("code.secret")
    assert "c20" in page.inner_text("table.clerks")
    browser.screenshot(page, "admin-clerks")
    page.click("a[href='/admin/clerks/c20']")
    page.click("form[action$='/deactivate'] button")
    page.wait_for_url(f"{served.url}/admin/clerks/c20?done=deactivate")
    assert "已停用窗口人员 c20" in page.inner_text("main")
    page.click("nav.tabs >> text=审计记录")
    page.select_option("select[name=action]", "clerk_deactivate")
    page.click("form[action='/admin/audit'] button[type=submit]")
    page.wait_for_selector("table.audit")
    assert "停用窗口人员" in page.inner_text("table.audit")
    page.click("text=校验审计日志")
    page.wait_for_selector("p.notice")
    assert "审计日志完好" in page.inner_text("p.notice")
    browser.screenshot(page, "admin-audit")
