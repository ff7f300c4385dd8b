"""`yimen space fetch`: what this window's consents allow, now rather than a round at a
time. A sync round first (a consent just given here goes up with it, and the round's own
steps already ask for documents and files), then the documents the consents cover from the
nearest ancestor holding them, waiting up to `wait_s` while a hub fetches them itself, then
their files chunk by chunk (`file_fetch`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.services import Progress, file_fetch, no_progress, space_delivery, uplink
from yimen.schema import region


def held_on_demand(node: Node) -> int:
    """Space documents held here whose home is outside this node's subtree (they came under
    a consent)."""
    return node.store.conn.execute("SELECT count(*) FROM space_docs WHERE substr(home, 1, ?) != ?",
                                   (len(p := region.prefix(node.node_id)), p)).fetchone()[0]


async def fetch_now(node: Node, progress: Progress = no_progress, wait_s: float = 0.0) -> dict[str, Any]:
    """Returns the consents asked under, documents received, consents no longer live, and
    the file counts of `file_fetch.fetch_files`."""
    before = await in_db(node, held_on_demand, node)
    await uplink.sync_once(node)
    docs = await space_delivery.request_documents(node)
    deadline = time.monotonic() + wait_s
    while (docs["consents"] and await in_db(node, held_on_demand, node) == before
           and time.monotonic() < deadline):
        await asyncio.sleep(1)
        docs = await space_delivery.request_documents(node)
    files = await file_fetch.fetch_files(node, progress)
    return {"consents": docs["consents"], "documents": await in_db(node, held_on_demand, node) - before,
            "not_live": docs["not_live"], "files": files}
