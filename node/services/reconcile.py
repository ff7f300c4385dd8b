"""`yimen reconcile`: anti-entropy with the parent, for district admins.

Compares per-scope digests with the parent, fetches what is missing here, sends what is
missing there (repair batches through the same session steps as sync), checks again, and
reports per scope (village, town, ...): documents here only, there only, diverged, and how
many of those the repair settled. The last outcome is kept in `meta` for the admin's
dashboard (`last`).
"""

from __future__ import annotations

import json
from typing import Any

from yimen.node.home import Node
from yimen.node.services import status
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.node.services.uplink import with_first_ancestor
from yimen.schema.errors import YimenError
from yimen.sync import digests as ae
from yimen.sync.engine import Batch
from yimen.sync.session import Inbound
from yimen.sync.transports.http import HttpTransport

CHUNK = 200
LAST = "reconcile:last"  # the last outcome, in `meta` so that the dashboard of another process sees it


async def _differences(node: Node, link: HttpTransport) -> dict[str, dict[str, list[str]]]:
    await in_db(node, catch_up_all, node)
    mine = await in_db(node, ae.listing, node.store)
    answer = await link.call("/v1/reconcile", {"digests": ae.digests(mine)})
    theirs = ae.check_listing(answer.get("listing"))
    return {scope: ae.compare(mine.get(scope, {}), theirs.get(scope, {})) for scope in sorted(theirs)}


async def _fetch(node: Node, link: HttpTransport, docs: list[str]) -> None:
    inbound = Inbound(engine(node), link.peer)
    for i in range(0, len(docs), CHUNK):
        answer = await link.call("/v1/seals", {"docs": docs[i:i + CHUNK]})
        await in_db(node, inbound.take, Batch.repair(link.peer, ae.check_seals(answer.get("seals"))))


async def _send(node: Node, link: HttpTransport, docs: list[str]) -> None:
    for i in range(0, len(docs), CHUNK):
        seals = await in_db(node, ae.seals_for, node.store, docs[i:i + CHUNK], link.peer)
        if seals:
            await link.push(Batch.repair(node.node_id, seals))


async def reconcile(node: Node) -> list[dict[str, Any]]:
    """Reconcile with the parent (or the first ancestor that answers); one row per scope
    that differed. The outcome is recorded (see `last`), a failure's too."""
    async def attempt(link: HttpTransport) -> list[dict[str, Any]]:
        before = await _differences(node, link)
        fetch = sorted({d for diff in before.values() for d in diff["there_only"] + diff["diverged"]})
        send = sorted({d for diff in before.values() for d in diff["here_only"] + diff["diverged"]})
        await _fetch(node, link, fetch)
        await _send(node, link, send)
        return _report(link.peer, before, await _differences(node, link))
    try:
        rows = await with_first_ancestor(node, attempt)
    except YimenError as e:
        await in_db(node, _record, node, {"error": {"zh": e.zh, "en": e.en}})
        raise
    await in_db(node, _record, node, {"rows": rows})
    return rows


def _record(node: Node, outcome: dict[str, Any]) -> None:
    with node.store.transaction():
        node.store.set_meta(LAST, json.dumps({"at": node.now(), **outcome}, ensure_ascii=False))


def last(node: Node, lang: str = "en") -> dict[str, Any] | None:
    """The last reconcile's outcome (None if none ran): `at` (node time), and `rows` (as
    `reconcile` returns them; empty: identical) or `error` (in `lang`)."""
    raw = node.store.meta(LAST)
    if not raw:
        return None
    outcome = json.loads(raw)
    error = outcome.get("error")
    return {"at": status.local_time(node, outcome["at"]), "rows": outcome.get("rows", []),
            "error": error and (error["zh"] if lang == "zh" else error["en"])}


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
