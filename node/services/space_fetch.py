"""`yimen space fetch`: what this window's consents allow, now rather than a round at a
time. A sync round first (a consent just given here goes up with it, and the round's own
steps already ask for documents and files), then the documents the consents cover from the
nearest ancestor holding them, waiting up to `wait_s` while a consent given here still
covers no document held here (a hub may be fetching them itself), then their files chunk
by chunk (`file_fetch`)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.services import Progress, file_fetch, no_progress, space_delivery, uplink
from yimen.personal_space.documents import live
from yimen.schema import region


def uncovered(node: Node) -> int:
    """Live consents given at this window that cover no document held here yet."""
    now = node.now()
    rows = node.store.conn.execute(
        "SELECT c.types, c.expires_at, c.withdrawn_at, (SELECT group_concat(d.doc_type) FROM space_docs d"
        " WHERE d.subject = c.subject) FROM space_consents c WHERE c.node = ?", (node.node_id,))
    return sum(1 for types, expires, withdrawn, held in rows if live(expires, withdrawn or "", now)
               and not set(json.loads(types)) & set((held or "").split(",")))


def held_on_demand(node: Node) -> int:
    """Space documents held here whose home is outside this node's subtree (they came under
    a consent)."""
    return node.store.conn.execute("SELECT count(*) FROM space_docs WHERE substr(home, 1, ?) != ?",
                                   (len(p := region.prefix(node.node_id)), p)).fetchone()[0]


async def fetch_now(node: Node, progress: Progress = no_progress, wait_s: float = 0.0) -> dict[str, Any]:
    """Returns the consents asked under, documents held under consents (and how many of
    them are new), consents no longer live, and the file counts of `file_fetch.fetch_files`."""
    before = await in_db(node, held_on_demand, node)
    await uplink.sync_once(node)
    docs = await space_delivery.request_documents(node)
    deadline = time.monotonic() + wait_s
    while docs["consents"] and await in_db(node, uncovered, node) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        docs = await space_delivery.request_documents(node)
    files = await file_fetch.fetch_files(node, progress)
    held = await in_db(node, held_on_demand, node)
    return {"consents": docs["consents"], "documents": held, "new_documents": held - before,
            "not_live": docs["not_live"], "files": files}
