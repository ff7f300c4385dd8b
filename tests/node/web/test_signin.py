"""Signing in to the pages, sessions, CSRF, error pages and the pages' headers (over
HTTP; the browser's own test is test_browser_window.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.pages import Window, window
from support.signin import PASSWORD
from yimen.node.server.app import create_app
from yimen.node.services import clerks, sessions
from yimen.node.web.app import PARTS
from yimen.node.web.render import CSP

from .conftest import window_node


async def test_a_page_sends_the_browser_to_sign_in_and_back(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home)
    r = await w.client.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] in ("/signin?next=%2F", "/signin?next=/")
    text = await w.get(r.headers["Location"])
    assert "窗口人员登录" in text and 'value="/"' in text
    home = await w.post("/signin", {"clerk_id": "c01", "password": PASSWORD, "next": "/"})
    assert "您好，测试c01" in home and "退出" in home


async def test_a_wrong_password_keeps_the_id_typed_and_says_one_sentence(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home)
    await w.get("/signin")
    text = await w.post("/signin", {"clerk_id": "c01", "password": "wrong-password"}, status=401)
    assert "工号或密码不正确" in text and 'value="c01"' in text and "Traceback" not in text


async def test_next_never_leaves_the_node(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home)
    await w.get("/signin")
    r = await w.client.post("/signin", data={"clerk_id": "c01", "password": PASSWORD, "next": "//evil.example/x",
                                             "csrf_token": w.token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/"


async def test_a_form_without_the_token_does_nothing(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    text = await w.post("/signout", token=False, status=403)
    assert "表单已过期或来源不明" in text
    assert "您好" in await w.get("/")  # still signed in
    await w.post("/signout", {"csrf_token": "forged." + w.token[7:]}, status=403)
    r = await w.client.post("/signout", data={"csrf_token": w.token}, headers={"Origin": "http://evil.example"})
    assert r.status == 403


async def test_a_token_of_one_browser_is_no_good_in_another(window_home, aiohttp_client):
    app = create_app(window_home)
    a, b = Window(await aiohttp_client(app)), Window(await aiohttp_client(app))
    await a.sign_in("c01")
    await b.sign_in("c02")
    await b.post("/signout", {"csrf_token": a.token}, status=403)


async def test_sign_out_ends_the_session_in_the_database(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    assert window_home.store.conn.execute("SELECT count(*) FROM clerk_sessions").fetchone()[0] == 1
    text = await w.post("/signout")
    assert "窗口人员登录" in text
    assert window_home.store.conn.execute("SELECT count(*) FROM clerk_sessions").fetchone()[0] == 0
    r = await w.client.get("/", allow_redirects=False)
    assert r.status == 303


async def test_an_idle_session_ends(window_nodes, aiohttp_client, tmp_path, clock):
    node = window_node(tmp_path / "v", clock=clock)
    window_nodes.append(node)
    w = await window(aiohttp_client, node, "c01")
    clock.advance(hours=node.config.session_idle_hours, minutes=1)
    r = await w.client.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/signin")


async def test_a_cookie_of_one_node_is_nothing_at_another(window_nodes, aiohttp_client, tmp_path):
    village, town = window_node(tmp_path / "v"), window_node(tmp_path / "t", "440608100000", "示范镇")
    window_nodes.extend([village, town])
    w = await window(aiohttp_client, village, "c01")
    other = await aiohttp_client(create_app(town))
    for morsel in w.client.session.cookie_jar:  # the village's cookies, sent to the town
        other.session.cookie_jar.update_cookies({morsel.key: morsel.value})
    r = await other.get("/", allow_redirects=False)
    assert r.status == 303


async def test_pages_in_english_and_back(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    en = await w.get("/?lang=en")
    assert "Hello, " in en and "您好" not in en and "退出" not in en
    assert "Sign out" in await w.get("/")  # the choice is kept
    assert "您好" in await w.get("/?lang=zh")


async def test_errors_are_pages_with_the_page_headers(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    r = await w.client.get("/no/such/page")
    text = await r.text()
    assert r.status == 404 and "没有这个页面" in text and r.content_type == "text/html"
    assert r.headers["Content-Security-Policy"] == CSP and r.headers["Cache-Control"] == "no-store"
    api = await w.client.get("/v1/no-such-route")
    assert api.status == 404 and api.content_type == "application/json"  # the sync routes keep JSON


async def test_a_failing_page_is_one_sentence_and_a_log_entry(window_home, aiohttp_client, monkeypatch, caplog):
    from yimen.node.web.pages import home as home_page
    w = await window(aiohttp_client, window_home, "c01")

    async def broken(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(home_page, "render", broken)
    r = await w.client.get("/")
    text = await r.text()
    assert r.status == 500 and "出现意外错误" in text and "boom" not in text and "Traceback" not in text
    assert any("failed (error id" in rec.getMessage() for rec in caplog.records)


def test_every_part_is_listed_once():
    assert len(PARTS) == len(set(PARTS)) and PARTS[0] == "signin"


async def test_the_script_stays_small():
    import gzip
    from yimen.node.web.app import STATIC
    total = sum(len(gzip.compress(p.read_bytes())) for p in STATIC.glob("*.js"))
    assert total <= 50 * 1024, total


def test_sessions_are_the_clis(window_home):
    token = sessions.sign_in(window_home, "c01", PASSWORD)
    assert sessions.resolve(window_home, token) == "c01"


async def test_a_body_that_is_no_form_is_one_sentence(window_home, aiohttp_client):
    w = await window(aiohttp_client, window_home, "c01")
    r = await w.client.post("/signout", data=b"\x00\xff" * 10,
                            headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status == 400 and "提交的表单无法读取" in await r.text()
    assert "您好" in await w.get("/")  # still signed in: nothing was done


async def test_a_one_time_link_signs_in_once(window_nodes, aiohttp_client, tmp_path, clock):
    window_home = window_node(tmp_path / "v", clock=clock)
    window_nodes.append(window_home)
    link = sessions.make_link(window_home, "c01", "a01", minutes=30)
    w = await window(aiohttp_client, window_home)
    path = f"/signin/link/{link['token']}"
    page = await w.get(path)  # asks first: a GET never uses the link
    assert "以 测试c01（c01）身份登录" in page and sessions.link_clerk(window_home, link["token"]) == "c01"
    page = await w.post(path)
    assert "您好，测试c01" in page
    logged = window_home.store.conn.execute("SELECT action, clerk FROM audit_log ORDER BY seq DESC LIMIT 2").fetchall()
    assert logged == [("sign_in", "c01"), ("signin_link", "a01")]
    other = await window(aiohttp_client, window_home)
    page = await other.get(path, status=400)
    assert "此登录链接无效、已用过或已过期" in page
    await other.post(path, status=400)  # a replay: refused, and in the audit trail
    assert window_home.store.conn.execute("SELECT action, clerk FROM audit_log ORDER BY seq DESC LIMIT 1"
                                          ).fetchone() == ("sign_in_failed", None)
    late = sessions.make_link(window_home, "c02", "a01", minutes=1)
    clock.advance(minutes=2)
    await other.get(f"/signin/link/{late['token']}", status=400)
    await other.post(f"/signin/link/{late['token']}", status=400)
    assert "您好" not in await other.get("/signin")


def test_a_link_needs_an_active_clerk_and_a_sane_lifetime(window_home):
    for clerk_id, minutes in (("nobody", 60), ("c01", 0), ("c01", 24 * 60 + 1)):
        with pytest.raises(sessions.LinkRefused):
            sessions.make_link(window_home, clerk_id, "a01", minutes)
    link = sessions.make_link(window_home, "c02", "a01")
    clerks.set_active(window_home, "c02", False, by="a01")
    with pytest.raises(sessions.LinkRefused):
        sessions.sign_in_by_link(window_home, link["token"])
