"""My Space end to end over real HTTP (seven aiohttp servers on 127.0.0.1: city, district,
town with villages A and B, town 2 with village C). A result completed at village A, and a
scan kept there, are reused at village C of another town once the citizen consents there;
the scan's file arrives at C through a link that is cut on the way; A's e-certificate
verifies at C with no link, and fails once A has revoked it and C has synced; after the
withdrawal C purges the documents and their file."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from support import id_number
from support.chain import settle
from support.files_chain import CuttingProxy
from support.space_chain import converge, held, purges, served_space_chain
from yimen.node.services import cases, credentials, space, space_fetch, space_files, uplink
from yimen.personal_space import credential
from yimen.personal_space.documents import CHUNK_SIZE, Consent, read_space_doc

CITIZEN = id_number(31)


@pytest.fixture
async def chain(tmp_path):
    async with served_space_chain(tmp_path) as served:
        yield served


def complete_at_a(node, scan) -> tuple[str, str]:
    """T-LOCAL (its result is a residence proof) accepted with the ID card's scan kept in
    the citizen's space, decided and completed: (the result's document, the scan's)."""
    app = cases.Application("T-LOCAL", CITIZEN, "陈美玲", {"居民身份证": cases.file_sha256(scan), "户口簿": None}, {})
    row = cases.accept(node, "c01", app, keep={"居民身份证": scan})
    cid = row["case_id"]
    cases.act(node, cid, "submit", "c01")
    for department in ("村委会", "民政"):
        cases.act(node, cid, "approve", "c01", department=department)
    cases.act(node, cid, "issue_result", "c01")
    cases.act(node, cid, "complete", "c01")
    docs = dict(node.store.conn.execute("SELECT source, doc_id FROM space_docs"))
    return docs["result"], docs["scan"]


async def test_a_result_of_village_a_is_reused_at_village_c_verified_offline_and_purged(chain, tmp_path, monkeypatch):
    nodes, servers = chain
    a, c = nodes["village_a"], nodes["village_c"]
    scan = tmp_path / "身份证.jpg"
    scan.write_bytes(os.urandom(2 * CHUNK_SIZE + 4321))
    result, kept = complete_at_a(a, scan)
    await converge(nodes, 2)  # the documents go up, then (behind them, lazily) the scan's file
    assert {result, kept} <= held(nodes["district"]) and not {result, kept} & held(c)
    assert nodes["district"].store.chunks.total() == a.store.chunks.total()

    # C's clerk records the citizen's consent; C reaches town 2 only through a link cut mid-file
    given = space.write_consent(c, Consent(
        node=c.node_id, citizen_id=CITIZEN, citizen_name="陈美玲", types=("id_card", "residence_proof"),
        purpose="申请最低生活保障", granted_at=c.now(),
        expires_at=(c.clock() + timedelta(days=7)).isoformat(timespec="seconds"), clerk_id="c01", clerk_name="李敏"))
    proxy = CuttingProxy(servers["town2"].port, cut_after=CHUNK_SIZE + CHUNK_SIZE // 2)
    url = await proxy.start()
    original = uplink.ancestors_to_try
    monkeypatch.setattr(uplink, "ancestors_to_try", lambda node: [(nodes["town2"].node_id, url)]
                        if node is c else original(node))
    for _ in range(3):  # town 2's rounds bring the documents and the file from the district
        for name in ("village_c", "town2"):
            await uplink.sync_once(nodes[name])
            await settle(nodes["town2"], nodes["district"])
    got = await space_fetch.fetch_now(c)
    await proxy.close()
    monkeypatch.undo()  # C reaches town 2 directly again
    assert {result, kept} <= held(c) and proxy.cuts == 1 and got["files"]["missing"] == 0
    ref = next(iter(read_space_doc(c.store.get(kept).value()).files))
    assert space_files.missing(c, ref) == [] and proxy.down <= ref.size + CHUNK_SIZE + 64 * 1024

    # at C's window the citizen brings nothing already issued
    row = cases.accept(c, "c01", cases.Application("T-DIBAO", CITIZEN, "陈美玲", {}, {"收入证明": None}))
    assert row["reused"]["居民身份证"]["doc_id"] == kept

    # A's e-certificate verifies at C from C's own trust list; revoked at A, it fails once C synced
    text = credential.to_text(read_space_doc(c.store.get(result).value()).credential)
    assert credentials.verify(c, text).valid
    credentials.revoke(a, result, "结果有误")
    await converge(nodes, 1)
    verdict = credentials.verify(c, text)
    assert not verdict.valid and "revoked" in verdict.reason[1]

    # withdrawn at C: C purges documents and file at once, town 2 in its next round; A's side keeps them
    space.withdraw_consent(c, given, "c01", "已办结")
    assert not {result, kept} & held(c) and c.store.chunks.held(ref.chunks) == set()
    assert {doc for doc, reason in purges(c)} == {result, kept}
    await uplink.sync_once(c)
    await settle(nodes["town2"])
    assert not {result, kept} & held(nodes["town2"])
    for name in ("village_a", "town", "district", "city"):
        assert {result, kept} <= held(nodes[name]), name

