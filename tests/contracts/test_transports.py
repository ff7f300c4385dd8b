"""The transport contract: every way two nodes exchange (HTTP, bundle files, in memory)
keeps the same promises, checked by the same scenarios run against each harness
(`contracts.harness`; a new transport joins with one harness class in `HARNESSES`):

- first contact brings every document with the sender's exact versions, and the sender
  learns that its whole feed arrived;
- what the parent holds for the child comes down in the same exchange;
- after a link broken mid-transfer, the next exchange completes it and every seal is
  stored exactly once, with nothing pending or quarantined;
- an acknowledgement lost on the way back is learnt at the next hello (or in the next
  return bundle), and nothing is sent again beyond what was unacknowledged;
- a batch (file) delivered twice changes nothing but the duplicate count;
- a batch that starts past what the receiver holds is refused, names the position the
  receiver holds, and writes nothing;
- a forged seal among good ones is quarantined with its reason, the good ones go in and
  the exchange goes on; delivered again, it is a duplicate and writes nothing;
- a batch (file) delivered long after changes nothing but the duplicate count;
- a word on positions that cannot be true (past the end of the sender's feed) is noticed,
  said and recovered from: the sender restates its feed;
- a node restored from an older copy (parent or child) still delivers what it stores
  later, never reuses a seal number, and continues its receipt numbers after the chain's.
"""

from __future__ import annotations

from contextlib import closing

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.harness import HARNESSES, make_template, open_copy, open_pair
from support import dump, id_number
from support.chain import push
from yimen.sync.store import driver
from yimen.node import home
from yimen.node.replication import engine
from yimen.node.services import cases, enrollment
from yimen.sync import positions
from yimen.sync import seal as seals
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.errors import SyncError
from yimen.sync.seal import SealedChange

INFLATED = 2**62 - 1
SYNC_TABLES = ("docs", "changes", "feed", "pending", "quarantine", "unapplied")
STRANGER = "440608100209"  # a village of the same town that no node here knows


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("contract-template"))


@pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
async def link(request, template, tmp_path):
    child, parent = open_pair(template, tmp_path)
    harness = request.param(child, parent, tmp_path)
    await harness.start()
    yield harness
    await harness.close()
    child.close()
    parent.close()


# -- helpers ----------------------------------------------------------------------------------
def accept_cases(village, n: int, first: int = 1) -> list[str]:
    """`n` completed cases at the window, each sealed on its own (one seal per case)."""
    ids = []
    for i in range(first, first + n):
        app = cases.Application("T-IMM", id_number(i), "陈美玲", {"居民身份证": None}, {})
        ids.append(cases.accept(village, "c01", app)["case_id"])
        engine(village).seal_pending()
    return ids


def seals_by(node, author: str) -> list[tuple[str, int]]:
    """(author, seq) of the feed rows by `author`, in feed order (duplicates would show)."""
    return node.store.conn.execute(
        "SELECT author, seq FROM feed WHERE author = ? ORDER BY local_seq", (author,)).fetchall()


def change_rows(node, author: str) -> list[tuple]:
    return node.store.conn.execute(
        "SELECT doc_id, peer, counter_start, counter_end, kind, scope, author, seal_seq FROM changes"
        " WHERE author = ? ORDER BY doc_id, peer, counter_start", (author,)).fetchall()


def sync_tables(node) -> dict[str, list[tuple]]:
    conn = node.store.conn
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in SYNC_TABLES}


def seals_out(node, peer: str) -> int:
    return {r["peer"]: r["seals_out"] for r in node.store.peers.rows()}.get(peer, 0)


def assert_same_docs(here, there, doc_ids) -> None:
    for doc_id in doc_ids:
        mine, theirs = here.store.get(doc_id), there.store.get(doc_id)
        assert theirs is not None, doc_id
        assert theirs.value() == mine.value() and theirs.version() == mine.version(), doc_id


def save_copy(node, path) -> None:
    """The node's whole database into a file (SQLite's online backup)."""
    with closing(driver.connect(path, home.database_key(node.home))) as target:
        node.store.conn.backup(target)


def restore_copy(node, path) -> None:
    """The node's database back to a saved copy, in place (its server keeps running), and
    a new Loro peer id, as the restart after a restore would give it."""
    with closing(driver.connect(path, home.database_key(node.home))) as source:
        source.backup(node.store.conn)
    node.store.peer = new_peer_id()


def assert_clean(node) -> None:
    assert node.store.changes.pending_count() == 0
    assert node.store.quarantine.count() == 0, node.store.quarantine.rows()
    assert engine(node).backlog() == 0


# -- forgeries ---------------------------------------------------------------------------------
def forge_signature(village) -> tuple[str, tuple[str, int]]:
    """A case sealed by the village whose stored signature is then damaged: a valid seal
    body that no longer verifies. Returns the reason expected and the seal's (author, seq)."""
    accept_cases(village, 1, first=900)
    local_seq, seq, sig = village.store.conn.execute(
        "SELECT local_seq, seq, signature FROM feed WHERE author = ? ORDER BY local_seq DESC LIMIT 1",
        (village.node_id,)).fetchone()
    with village.store.transaction():
        village.store.conn.execute("UPDATE feed SET signature = ? WHERE local_seq = ?",
                                   (bytes([sig[0] ^ 1]) + sig[1:], local_seq))
    return f"bad signature on seal {village.node_id}#{seq}", (village.node_id, seq)


def forge_stranger(village) -> tuple[str, tuple[str, int]]:
    """A well-formed, well-signed seal by a node nobody enrolled, in the village's feed as
    if it had come from that node."""
    key = Ed25519PrivateKey.generate()
    doc = Doc.new(f"{STRANGER}-2026-000001", "case", STRANGER, new_peer_id())
    doc.update("case", {"case_id": doc.doc_id, "applicant_name": "冒名"})
    change = doc.commit()
    blob = doc.export_change(change)
    s = seals.make(key, STRANGER, 1, STRANGER, False,
                   [SealedChange(doc.doc_id, "case", change.peer, change.counter_start, change.counter_end, blob)])
    with village.store.transaction():
        village.store.feed.append(s, STRANGER, village.now())
    return f"seal from unknown node {STRANGER} (key {s.key_id.hex()})", (STRANGER, 1)


FORGERIES = {"bad_signature": forge_signature, "unknown_author": forge_stranger}


# -- scenarios --------------------------------------------------------------------------------
async def test_first_contact_brings_every_document_with_its_exact_version(link):
    village, town = link.child, link.parent
    assert engine(town).positions(village.node_id)[0] == 0  # the town never heard from it
    ids = accept_cases(village, 3)
    moved = await link.exchange()
    assert moved.pushed == 3 and moved.duplicates == 0 and moved.quarantined == []
    assert_same_docs(village, town, ids)
    head = engine(village).feed_head()
    assert engine(village).positions(town.node_id)[1] == head
    assert engine(town).positions(village.node_id)[0] == head
    assert seals_by(town, village.node_id) == seals_by(village, village.node_id)
    assert_clean(town)


async def test_what_the_parent_holds_comes_down_in_the_same_exchange(link):
    village, town = link.child, link.parent
    # The village's node record changes at the town (it enrolls again with an address).
    enrollment.admit(town, enrollment.request(village, "http://127.0.0.1:8950/"))
    accept_cases(village, 1)
    moved = await link.exchange()
    assert moved.pushed == 1 and moved.pulled >= 1 and moved.quarantined == []
    record = f"node:{village.node_id}"
    assert_same_docs(town, village, [record])
    assert village.store.get(record).value()["node"]["address"] == "http://127.0.0.1:8950/"
    assert engine(village).positions(town.node_id)[0] == engine(town).feed_head()
    assert_clean(village)


async def test_a_transfer_cut_midway_completes_and_every_seal_arrives_once(link):
    village, town = link.child, link.parent
    link.batch_bytes = 2048  # a few seals a batch
    ids = accept_cases(village, 20)
    mine = seals_by(village, village.node_id)
    stored = await link.cut_after(2)
    held = seals_by(town, village.node_id)
    assert 0 < stored == len(held) < len(mine) and held == mine[:stored]

    moved = await link.exchange()
    assert moved.pushed == len(mine) - stored
    assert moved.duplicates == (0 if link.two_way else stored)  # only the unacknowledged again
    assert seals_by(town, village.node_id) == mine  # complete, in order, each once
    assert change_rows(town, village.node_id) == change_rows(village, village.node_id)
    assert_same_docs(village, town, ids)
    assert engine(village).positions(town.node_id)[1] == engine(village).feed_head()
    assert_clean(town)


async def test_a_lost_acknowledgement_is_learnt_and_nothing_acknowledged_is_sent_again(link):
    village, town = link.child, link.parent
    accept_cases(village, 3)
    before = engine(village).positions(town.node_id)[1]
    lost = await link.lose_answer()
    assert lost == 3 and len(seals_by(town, village.node_id)) == 3  # stored at the town
    assert engine(village).positions(town.node_id)[1] == before  # but the village never heard

    ids = accept_cases(village, 1, first=4)
    out = seals_out(village, town.node_id)
    moved = await link.exchange()
    resent = 0 if link.two_way else lost  # a hello tells; a bundle repeats what was unacknowledged
    assert moved.pushed == 1 and moved.duplicates == resent
    assert seals_out(village, town.node_id) - out == 1 + resent
    assert engine(village).positions(town.node_id)[1] == engine(village).feed_head()
    assert seals_by(town, village.node_id) == seals_by(village, village.node_id)
    assert_same_docs(village, town, ids)
    assert_clean(town)


async def test_the_same_batch_delivered_twice_changes_nothing_but_the_duplicate_count(link):
    village, town = link.child, link.parent
    accept_cases(village, 3)
    first = await link.exchange()
    assert first.pushed == 3
    tables, positions = sync_tables(town), engine(town).positions(village.node_id)
    again = await link.replay()
    assert again.pushed == 0 and again.duplicates == 3 and again.quarantined == []
    assert sync_tables(town) == tables
    assert engine(town).positions(village.node_id) == positions


async def test_a_batch_past_what_the_parent_holds_is_refused_and_writes_nothing(link):
    village, town = link.child, link.parent
    accept_cases(village, 2)
    await link.exchange()
    accept_cases(village, 2, first=3)
    held = engine(town).positions(village.node_id)[0]
    before = dump(town)
    with pytest.raises(SyncError) as refused:
        await link.send_from(held + 1)
    assert refused.value.code == "out_of_order" and refused.value.recv_upto == held  # where to resend from
    assert dump(town) == before
    moved = await link.exchange()  # the link goes on from what the town holds
    assert moved.pushed == 2 and moved.duplicates == 0
    assert seals_by(town, village.node_id) == seals_by(village, village.node_id)


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_seal_is_quarantined_and_the_good_ones_go_in(link, forgery):
    village, town = link.child, link.parent
    good = accept_cases(village, 2)
    reason, forged = FORGERIES[forgery](village)
    good += accept_cases(village, 2, first=3)
    moved = await link.exchange()
    assert moved.pushed == 4 and moved.quarantined == [reason]
    rows = town.store.quarantine.rows()
    assert [(r["reason"], r["received_from"], (r["author"], r["seq"])) for r in rows] == \
        [(reason, village.node_id, forged)]
    assert_same_docs(village, town, good)
    assert forged not in seals_by(town, forged[0])
    # the exchange went on: everything after the forged seal arrived and was acknowledged
    assert engine(village).positions(town.node_id)[1] == engine(village).feed_head()
    assert engine(town).positions(village.node_id)[0] == engine(village).feed_head()
    again = await link.exchange()
    assert again.pushed == 0 and again.quarantined == [] and town.store.quarantine.count() == 1



async def test_a_forged_seal_delivered_again_is_not_quarantined_again(link):
    """A replay, or a bundle exported again before its acknowledgement came back, brings a
    refused seal again: it is a duplicate, and adds no quarantine row."""
    village, town = link.child, link.parent
    accept_cases(village, 1)
    reason, _ = forge_signature(village)
    first = await link.exchange()
    assert first.pushed == 1 and first.quarantined == [reason]
    tables = sync_tables(town)
    again = await link.replay()
    assert again.pushed == 0 and again.quarantined == [] and again.duplicates == 2
    assert sync_tables(town) == tables


async def test_an_old_batch_delivered_late_changes_nothing_but_the_duplicate_count(link):
    village, town = link.child, link.parent
    accept_cases(village, 1)
    await link.exchange()
    # something comes down, so the child's acknowledgement of the parent's feed moves on
    enrollment.admit(town, enrollment.request(village, "http://127.0.0.1:8950/"))
    accept_cases(village, 1, first=2)
    await link.exchange()
    accept_cases(village, 1, first=3)
    await link.exchange()
    tables, positions = sync_tables(town), engine(town).positions(village.node_id)
    again = await link.replay(0)  # the first batch (file), long after
    assert again.pushed == 0 and again.duplicates == 1
    assert sync_tables(town) == tables
    assert engine(town).positions(village.node_id) == positions


async def test_a_parent_restored_from_an_older_copy_still_sends_what_it_stores_later(
        link, template, tmp_path):
    village, town = link.child, link.parent
    district = open_copy(template, "district", tmp_path)
    try:
        copy = tmp_path / "town-copy.db"
        save_copy(town, copy)
        enrollment.admit(town, enrollment.request(village, "http://127.0.0.1:8950/"))
        await link.pull()
        held = engine(village).positions(town.node_id)[0]
        restore_copy(town, copy)  # the town goes back to its older copy
        # the district changes the town's node record, which the village may see
        enrollment.admit(district, enrollment.request(town, "http://127.0.0.1:8951/"))
        push(district, town)
        assert engine(town).feed_head() <= held
        moved = await link.pull()
        assert moved.pulled == 1
        assert_same_docs(town, village, [f"node:{town.node_id}"])
    finally:
        district.close()


async def test_a_parent_restored_from_an_older_copy_does_not_reuse_seal_numbers(link, tmp_path):
    village, town = link.child, link.parent
    copy = tmp_path / "town-copy.db"
    save_copy(town, copy)
    enrollment.admit(town, enrollment.request(village, "http://127.0.0.1:8950/"))
    await link.pull()
    restore_copy(town, copy)  # the town goes back to its older copy, then edits the record again
    enrollment.admit(town, enrollment.request(village, "http://127.0.0.1:8952/"))
    record = f"node:{village.node_id}"
    doc_id, peer, start, seq = town.store.conn.execute(
        "SELECT doc_id, peer, counter_start, seal_seq FROM changes WHERE doc_id = ? AND author = ?"
        " ORDER BY seal_seq DESC LIMIT 1", (record, town.node_id)).fetchone()
    assert (town.node_id, seq) not in seals_by(village, town.node_id)  # a new seal has a new number
    await link.pull()
    assert village.store.conn.execute(
        "SELECT 1 FROM changes WHERE doc_id = ? AND peer = ? AND counter_start = ?", (doc_id, peer, start)).fetchone()


async def test_a_position_past_the_end_of_the_childs_feed_is_noticed_and_recovered_from(link):
    """A stolen village key tells the town the village's feed goes on to 2**62 - 1. The
    village notices the impossible acknowledgement, says so and restates its feed: what it
    sealed meanwhile arrives in the same exchange, and the positions are right again by
    the next (a bundle's restatement travels in the next file)."""
    village, town = link.child, link.parent
    accept_cases(village, 1)
    await link.exchange()
    await link.claim(INFLATED)
    assert engine(town).positions(village.node_id)[0] == INFLATED
    ids = accept_cases(village, 2, first=2)  # sealed before the next hello
    moved = await link.exchange()
    assert moved.pushed == 2 and len(moved.notices) == 1, moved
    assert "past the end of our feed" in moved.notices[0]
    assert_same_docs(village, town, ids)
    assert positions.notice(village.store)["last_notice"]["peer"] == town.node_id
    await link.exchange()
    head = engine(village).feed_head()
    assert engine(town).positions(village.node_id)[0] == head
    assert engine(village).positions(town.node_id)[1] == head
    assert positions.notice(village.store)["restating_to"] == []
    ids += accept_cases(village, 1, first=4)
    last = await link.exchange()
    assert (last.pushed, last.duplicates, last.notices) == (1, 0, [])
    assert seals_by(town, village.node_id) == seals_by(village, village.node_id)
    assert_same_docs(village, town, ids)


async def test_a_child_restored_from_an_older_copy_delivers_new_work_under_new_numbers(link, tmp_path):
    """The village goes back to an older copy of itself, after the town got more from it:
    at the next exchange it learns so from the town (which holds a seal of the village's
    that the village lacks), continues its seal and receipt numbers after the town's, and
    restates its feed; the cases it accepts afterwards reach the town, under numbers of
    their own."""
    village, town = link.child, link.parent
    accept_cases(village, 1)
    await link.exchange()
    copy = tmp_path / "village-copy.db"
    save_copy(village, copy)
    lost = accept_cases(village, 2, first=2)
    await link.exchange()
    restore_copy(village, copy)  # the two cases are gone from the village, not from the town

    moved = await link.exchange()
    assert len(moved.notices) == 1 and "restored from an older copy" in moved.notices[0], moved
    ids = accept_cases(village, 3, first=4)
    assert not set(ids) & set(lost)  # receipt numbers continue after the town's
    await link.exchange()
    await link.exchange()  # (a bundle's restatement travels in the next file)
    assert_same_docs(village, town, ids)
    assert {r[0] for r in town.store.conn.execute("SELECT case_id FROM cases")} >= set(ids) | set(lost)
    mine = seals_by(village, village.node_id)
    assert len(set(mine)) == len(mine) and set(mine) <= set(seals_by(town, village.node_id))
    head = engine(village).feed_head()
    assert engine(town).positions(village.node_id)[0] == head == engine(village).positions(town.node_id)[1]
    assert_clean(town)


async def test_own_changes_sealed_under_a_reused_number_are_sealed_again(link, tmp_path):
    """With a clock that does not keep seal numbers apart (here: none at all), a restored
    village signs a decision under a seal number the town holds for another seal, so the
    town drops it as a duplicate; once the village learns the town's numbers it seals that
    change again, and it arrives (in the same exchange, or the next for a bundle)."""
    village, town = link.child, link.parent
    engine(village).seal_floor = lambda: 0
    cid = cases.accept(village, "c01", cases.Application(
        "T-DIBAO", id_number(1), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    await link.exchange()
    copy = tmp_path / "village-copy.db"
    save_copy(village, copy)
    accept_cases(village, 2, first=2)
    await link.exchange()
    restore_copy(village, copy)
    cases.act(village, cid, "submit", "c01")
    engine(village).seal_pending()
    reused = seals_by(village, village.node_id)[-1]
    assert reused in seals_by(town, village.node_id)  # the town holds another seal under it
    await link.exchange()
    await link.exchange()
    assert_same_docs(village, town, [cid])
    assert town.store.get(cid).value()["history"][-1]["action"] == "submit"


async def test_an_address_that_is_not_a_yimen_node_counts_as_a_link_down(tmp_path):
    """A proxy's error page (HTML 502) is not a node's answer: the HTTP transport raises a
    link error, so the uplink tries the next ancestor instead of giving up."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from yimen.sync.transports.http import LINK_ERRORS, HttpTransport

    async def proxy_error(request):
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
    app = web.Application()
    app.router.add_post("/v1/hello", proxy_error)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            link = HttpTransport(session, str(server.make_url("")), "440608100", "440608100201",
                                 Ed25519PrivateKey.generate())
            with pytest.raises(LINK_ERRORS):
                await link.hello()
    finally:
        await server.close()
