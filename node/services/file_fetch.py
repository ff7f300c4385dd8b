"""Fetching the files this node wants from its ancestors now, not a round at a time
(`yimen space fetch`: the documents a consent brought, with their files). A pass fetches
chunk by chunk from the first ancestor that answers; a cut link ends the pass with every
whole chunk kept, and the next pass asks again what is missing. It ends when a pass
brings nothing more (everything is here, or the ancestors do not hold the rest yet), or
after `retries` passes in a row that failed with nothing fetched."""

from __future__ import annotations

from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.services import Progress, no_progress
from yimen.node.services.file_transfer import FileStats, chunk_link, fetch_down, wanted
from yimen.node.services.uplink import LinkDown, with_first_ancestor
from yimen.personal_space.transfer import Budget
from yimen.sync.errors import SyncError
from yimen.sync.transports.http import LINK_ERRORS, HttpTransport

STAGE = "fetch_files"


async def fetch_files(node: Node, progress: Progress = no_progress, retries: int = 5) -> dict[str, int | list[str]]:
    """Fetch every chunk this node wants that an ancestor may give, reporting
    `(STAGE, chunks done, chunks wanted)` per chunk. Returns the counts: fetched, bytes,
    `missing` (still wanted), `not_here` (an ancestor may give them but holds them not yet),
    `cuts` (passes ended by a broken link) and `errors`."""
    total = len(await in_db(node, wanted, node))
    done = {"fetched": 0, "bytes": 0, "cuts": 0}
    errors: list[str] = []
    progress(STAGE, 0, total)
    failures = 0
    not_here = 0
    while failures < retries:
        stats = FileStats()

        async def attempt(transport: HttpTransport) -> None:
            base = done["fetched"]
            await fetch_down(node, chunk_link(node, transport), Budget(1 << 62, float("inf")), stats,
                             lambda n: progress(STAGE, base + n, total))
        try:
            await with_first_ancestor(node, attempt)
            failed = False
        except (*LINK_ERRORS, LinkDown, SyncError) as e:
            errors.append(str(e))
            failed = True
        done["fetched"] += stats.fetched
        done["bytes"] += stats.bytes_down
        not_here = stats.not_here
        if failed:
            done["cuts"] += 1
            failures = 0 if stats.fetched else failures + 1
            continue
        if not stats.fetched:
            break
    missing = len(await in_db(node, wanted, node))
    return {**done, "missing": missing, "not_here": not_here, "errors": errors[-5:]}
