"""`yimen reconcile`: anti-entropy with the parent, for district admins.

Compares per-scope digests with the parent, fetches what is missing here, sends what is
missing there, checks again, and reports per scope (village, town, ...): documents here
only, there only, diverged, and how many of those the repair settled.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from yimen.node.home import Node
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.node.services.uplink import Link, LinkDown, ancestors_to_try
from yimen.sync import reconcile as ae
from yimen.sync.engine import Batch

CHUNK = 200


async def _differences(node: Node, link: Link) -> dict[str, dict[str, list[str]]]:
    await in_db(node, catch_up_all, node)
    mine = await in_db(node, ae.listing, node.store)
    answer = await link.call("/v1/reconcile", {"digests": ae.digests(mine)})
    theirs: dict[str, dict[str, bytes]] = answer["listing"]
    return {scope: ae.compare(mine.get(scope, {}), theirs.get(scope, {})) for scope in sorted(theirs)}


async def _fetch(node: Node, link: Link, docs: list[str]) -> None:
    for i in range(0, len(docs), CHUNK):
        answer = await link.call("/v1/seals", {"docs": docs[i:i + CHUNK]})
        batch = Batch(link.peer, 0, 0, [(b, s) for b, s in answer["seals"]])
        await in_db(node, engine(node).receive, link.peer, batch)


async def _send(node: Node, link: Link, docs: list[str]) -> None:
    for i in range(0, len(docs), CHUNK):
        seals = await in_db(node, ae.seals_for, node.store, docs[i:i + CHUNK], link.peer)
        if seals:
            await link.call("/v1/push", {"start": 0, "next": 0, "seals": seals})


async def reconcile(node: Node) -> list[dict[str, Any]]:
    """Reconcile with the parent (or the first ancestor that answers); one row per scope
    that differed."""
    targets = await in_db(node, ancestors_to_try, node)
    if not targets:
        raise LinkDown("未设置上级地址", "no parent address")
    async with aiohttp.ClientSession() as session:
        for peer, url in targets:
            link = Link(node, session, url, peer)
            try:
                before = await _differences(node, link)
            except (aiohttp.ClientError, OSError):
                continue
            fetch = sorted({d for diff in before.values() for d in diff["there_only"] + diff["diverged"]})
            send = sorted({d for diff in before.values() for d in diff["here_only"] + diff["diverged"]})
            await _fetch(node, link, fetch)
            await _send(node, link, send)
            after = await _differences(node, link)
            return _report(peer, before, after)
    raise LinkDown("无法连接任何上级", "no ancestor reachable")


def _report(peer: str, before: dict, after: dict) -> list[dict[str, Any]]:
    rows = []
    for scope, diff in before.items():
        left = after.get(scope, {"here_only": [], "there_only": [], "diverged": []})
        n_before = sum(len(v) for v in diff.values())
        if not n_before:
            continue
        rows.append({"peer": peer, "scope": scope, "here_only": len(diff["here_only"]),
                     "there_only": len(diff["there_only"]), "diverged": len(diff["diverged"]),
                     "repaired": n_before - sum(len(v) for v in left.values())})
    return rows
