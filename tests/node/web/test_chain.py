"""The chain dashboard (同步) over HTTP, on a real chain: the town serves the window and the
sync routes on 127.0.0.1, village A syncs with it over HTTP (`uplink.sync_once`), and each
page shows what the services say: peers, seals and bytes, lag samples, cases per day,
quarantine, the last reconcile; admins only."""

from __future__ import annotations

import asyncio

import html
import re
from dataclasses import replace
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from support import accept, browser
from support.chain import make_chain, run_coroutine, settle, sync_all
from support.files_chain import set_parent
from support.forge import bad_case
from support.pages import add_clerk, window
from support.served import ServedNode
from support.signin import PASSWORD
from support.zh import english_words
from tests.node.web.conftest import window_node
from yimen.node import config, home
from yimen.node.cli.main import main
from yimen.node.replication import signing_key
from yimen.node.services import activity, audit, enrollment, reconcile, status
from yimen.node.services.uplink import LinkDown, sync_once, with_first_ancestor
from yimen.sync import seal as seals
from yimen.sync.batch import Batch
from yimen.sync.docs import Doc
from yimen.sync.seal import SealedChange

DEAD = "http://127.0.0.1:9/"  # the discard port: nothing listens there


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def text_of(page: str) -> str:
    """What a reader of the page reads (the charts' titles, descriptions and labels too)."""
    p = _Text()
    p.feed(page)
    return " ".join(p.parts)


@pytest.fixture
def chain(tmp_path, clock):
    """The chain of `support.chain` synced, on one settable clock, with an admin (a01) and
    a clerk who is none (c02) at the town and at village A."""
    nodes = make_chain(tmp_path, clock=clock)
    sync_all(nodes)
    for name in ("town", "village_a"):
        add_clerk(nodes[name], "a01", ["管理员"])
        add_clerk(nodes[name], "c02", ["社保"])
    yield nodes
    for n in nodes.values():
        n.close()


async def linked(aiohttp_client, chain):
    """The town's window (which serves village A's sync too) and village A's, as a01."""
    town, va = chain["town"], chain["village_a"]
    tw = await window(aiohttp_client, town, "a01")
    set_parent(va, str(tw.client.make_url("")))
    vw = await window(aiohttp_client, va, "a01")
    return tw, vw


def rows(page: str, table: str) -> list[list[str]]:
    """The body rows of the table of class `table`, as the cells' texts."""
    body = re.search(rf'<table class="{table}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


async def test_peers_seals_bytes_lag_and_cases_per_day_are_real(chain, clock, aiohttp_client):
    town, va = chain["town"], chain["village_a"]
    tw, vw = await linked(aiohttp_client, chain)
    accept(va, 1), accept(va, 2)
    first = await sync_once(va)
    assert first.pushed >= 1 and first.bytes_out > 0
    clock.advance(minutes=10)
    accept(va, 3)  # while the town cannot be reached: the change waits
    set_parent(va, DEAD)
    with pytest.raises(LinkDown):
        await sync_once(va)
    clock.advance(minutes=5)
    set_parent(va, str(tw.client.make_url("")))
    await sync_once(va)
    await settle(town)

    page = await vw.get("/chain")
    [peer] = rows(page, "peers")
    assert peer[0] == town.node_id and peer[2] == "0"  # every seal acknowledged after the last round
    assert int(peer[5]) == status.peer_rows(va)[0]["seals_out"] >= 2 and int(peer[7]) > 0
    samples = rows(page, "samples")  # newest first: 0 again, 10 minutes behind while down, 0 at first
    assert [(s[1], s[2]) for s in samples] == [(town.node_id, "0 秒"), (town.node_id, "10 分钟"),
                                                (town.node_id, "0 秒")]
    assert [s[0][-5:] for s in samples] == ["09:15", "09:10", "09:00"]
    assert '<svg class="chart"' in page and "<polyline" in page and "最大延迟 10 分钟" in page

    page = await tw.get("/chain")
    by_peer = {r[0]: r for r in rows(page, "peers")}
    assert int(by_peer[va.node_id][4]) >= 2 and int(by_peer[va.node_id][6]) > 0  # seals and bytes in
    per_day = dict(rows(page, "per-day"))
    assert per_day["2026-11-16"] == "3" and per_day["2026-10-18"] == "0" and len(per_day) == 30
    assert page.count('<rect x=') >= 30 and "近 30 天每日受理办件数" in page


async def test_a_round_samples_at_most_once_a_minute(chain, clock, aiohttp_client):
    va = chain["village_a"]
    await linked(aiohttp_client, chain)
    await sync_once(va)
    await sync_once(va)
    clock.advance(seconds=activity.SAMPLE_EVERY_S)
    await sync_once(va)
    assert [len(v) for v in activity.lag_samples(va).values()] == [2]
    clock.advance(days=activity.KEEP_DAYS + 1)
    await sync_once(va)
    assert [len(v) for v in activity.lag_samples(va, days=30).values()] == [1]  # the old ones pruned


async def test_a_document_that_cannot_be_listed_shows_in_quarantine(chain, aiohttp_client):
    town, va = chain["town"], chain["village_a"]
    tw, _ = await linked(aiohttp_client, chain)
    bad = bad_case(va, "applicant_name", ["陈", "美玲"])
    await sync_once(va)
    await settle(town)
    page = await tw.get("/chain")
    assert [bad, "办件", va.node_id, status.UNLISTED_ZH] in rows(page, "unlisted")
    page = await tw.get("/chain?lang=en")
    [row] = [r for r in rows(page, "unlisted") if r[0] == bad]
    assert row[1] == "case" and row[3] == status.unlisted(town)[0]["reason"] != ""
    assert [e["clerk"] for e in audit.trail(town, case=bad) if e["action"] == "quarantine_view"] == ["a01", "a01"]


async def test_a_refused_seal_shows_in_quarantine_by_peer_and_reason(chain, aiohttp_client):

    town, va, vb = chain["town"], chain["village_a"], chain["village_b"]
    tw, _ = await linked(aiohttp_client, chain)
    doc = Doc.new(f"{vb.node_id}-2026-900001", "case", vb.node_id, va.store.peer)  # B's case, by A
    doc.update("case", {"case_id": doc.doc_id, "item_code": "T-IMM", "item_version": 1})
    ch = doc.commit()
    change = SealedChange(doc.doc_id, "case", ch.peer, ch.counter_start, ch.counter_end, doc.export_change(ch))
    forged = seals.make(signing_key(va), va.node_id, 9_000, vb.node_id, False, [change])
    ack = await with_first_ancestor(va, lambda link: link.push(Batch.repair(va.node_id, [(forged.body, forged.signature)])))
    assert len(ack.quarantined) == 1, ack
    [summary] = status.quarantine_summary(town, "zh")
    page = await tw.get("/chain")
    assert [va.node_id, summary["reason"], "1"] == rows(page, "quarantine")[0][:3]
    assert "隔离" in page and english_words(summary["reason"]) == []
    page = await tw.get("/chain?lang=en")
    assert rows(page, "quarantine")[0][1] == status.quarantine_summary(town, "en")[0]["reason"]


async def test_reconcile_now_runs_and_its_outcome_stays(chain, aiohttp_client):
    va = chain["village_a"]
    _, vw = await linked(aiohttp_client, chain)
    page = await vw.get("/chain")
    assert "尚未核对过" in page and "立即核对" in page
    page = await vw.post("/chain/reconcile")
    assert "与上级完全一致" in page and reconcile.last(va)["rows"] == []
    set_parent(va, DEAD)
    page = await vw.post("/chain/reconcile")
    assert "无法连接任何上级" in page and reconcile.last(va, "en")["error"].startswith("no ancestor reachable")


async def test_a_second_click_while_reconciling_runs_nothing_more(chain, aiohttp_client, monkeypatch):
    _, vw = await linked(aiohttp_client, chain)
    await vw.get("/chain")
    runs, release = [], asyncio.Event()

    async def slow(node):
        runs.append(node)
        await release.wait()
        return []
    monkeypatch.setattr(reconcile, "reconcile", slow)
    first = asyncio.create_task(vw.post("/chain/reconcile"))
    for _ in range(500):
        if runs:
            break
        await asyncio.sleep(0.01)
    await vw.post("/chain/reconcile")  # answered at once: the first one's outcome will show
    release.set()
    await first
    assert len(runs) == 1


async def test_only_an_admin_sees_the_dashboard(chain, aiohttp_client):
    town = chain["town"]
    w = await window(aiohttp_client, town, "c02")
    home = await w.get("/")
    assert 'href="/chain"' not in home
    page = await w.get("/chain", status=403)
    assert "权限不足" in page and "同步延迟" not in page
    await w.post("/chain/reconcile", status=403)
    assert reconcile.last(town) is None
    admin = await window(aiohttp_client, town, "a01")
    assert 'href="/chain"' in await admin.get("/")


async def test_each_language_holds_only_its_own_words(chain, aiohttp_client):
    tw, vw = await linked(aiohttp_client, chain)
    bad_case(chain["village_a"], "applicant_id", {"n": 1})
    await sync_once(chain["village_a"])
    await settle(chain["town"])
    await vw.post("/chain/reconcile")
    for w in (tw, vw):
        zh = text_of(await w.get("/chain?lang=zh"))
        assert english_words(zh, ["English"]) == [], english_words(zh, ["English"])
        en = text_of(await w.get("/chain?lang=en"))
        for name in ("中文", "测试a01", *(n.config.name for n in chain.values())):  # names stay as they are
            en = en.replace(name, "")
        assert re.findall(r"\S*[\u4e00-\u9fff]+\S*", en) == []


def test_sync_once_from_the_command_line_leaves_its_outcome_and_a_sample(tmp_path, clock):


    with home.init(tmp_path / "village", "440608100201", "示范村", clock=clock) as v:
        config.save(v.home, replace(v.config, parent_url=DEAD))
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "village"), "sync", "--once"], env={"YIMEN_LANG": None})
    assert result.exit_code == 1, result.output
    with home.open_node(tmp_path / "village") as v:
        assert status.sync_outcome(v, "zh")["last_error"].startswith("无法连接任何上级")
        assert list(activity.lag_samples(v)) == ["440608100000"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """For the browser test (instead of the window's shared node): a village on a settable
    clock with 30 days of cases, synced over HTTP with its town (served too) every 20
    minutes of its last six hours, the town unreachable for two of them."""


    root = tmp_path_factory.mktemp("chain-served")
    clock = home.SettableClock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ) - timedelta(days=29))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YIMEN_PASSWORD_PROFILE", "cheapest")
        village = window_node(root / "village", clock=clock)
    town = home.init(root / "town", "440608100000", "荷城街道", clock=clock)
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    parent = ServedNode(town, materialize=True).start()
    seq = 0
    for day in range(30):  # a few cases a day, more on the last
        if day:
            clock.advance(days=1)
        for _ in range((day * 7) % 5 + day % 3):
            seq += 1
            accept(village, seq)
    clock.now -= timedelta(hours=6)
    for step in range(19):
        set_parent(village, DEAD if 6 <= step < 12 else parent.url)
        if step % 4 == 1:
            seq += 1
            accept(village, seq)
        try:  # as the sync loop does, with its outcome recorded
            run_coroutine(sync_once(village))  # (Playwright's loop runs in this thread)
            status.record_sync(village, None)
        except LinkDown as e:
            status.record_sync(village, e)
        clock.advance(minutes=20)
    set_parent(village, parent.url)
    s = ServedNode(village, materialize=True).start()
    yield s
    s.stop()
    parent.stop()
    village.close()
    town.close()


def test_the_dashboard_in_chromium(page, served):
    browser.sign_in(page, served.url, "a01", PASSWORD)
    page.click("nav.menu a[href='/chain']")
    page.wait_for_selector("svg.chart")
    assert page.get_attribute("#lag svg", "role") == "img"
    assert "同步延迟" in page.text_content("#lag svg > title")
    page.click("#reconcile button[type=submit]")
    page.wait_for_url(f"{served.url}/chain#reconcile")
    assert "最近一次核对" in page.inner_text("#reconcile")
    browser.screenshot(page, "chain-dashboard")
    page.goto(f"{served.url}/chain?lang=en")
    page.click("#lag summary")  # the chart's numbers, as a table (no script needed)
    assert page.is_visible("table.samples") and "2 h" in page.inner_text("table.samples")
    browser.screenshot(page, "chain-dashboard-en")


def test_every_kind_of_document_has_its_chinese_name():
    from yimen.node.texts import KIND_ZH
    from yimen.sync.docs import KINDS
    assert set(KINDS) <= set(KIND_ZH)
