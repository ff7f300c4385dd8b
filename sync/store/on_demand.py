"""Space seals held on demand, and purging documents.

A node that is neither the home of a space document nor one of its ancestors holds it only
under a citizen's live consent: its seal (one document per seal, byte for byte as its home
signed it) came outside the stream, on a request (`yimen.node.services.space_delivery`).
Such a seal is kept here, not in the feed: the feed is append-only and relayed, while a
seal held on demand is never relayed up and is dropped when the consent ends (`purge`).
A hub that got a seal on demand hands it on, from here, to the node below it that asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection

from yimen.sync.store.repos import _Repo

if TYPE_CHECKING:
    from yimen.sync.seal import Seal

PART = 500  # ids bound at a time


class OnDemand(_Repo):
    """Seals held on demand by (author, seq), each naming its one document."""

    def add(self, s: Seal, doc_id: str, received_from: str | None, at: str) -> bool:
        """Keep one seal; False if it was held already."""
        return self._write(
            "INSERT OR IGNORE INTO on_demand(author, seq, doc_id, body, signature, received_from, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (s.author, s.seq, doc_id, s.body, s.signature, received_from, at)
        ).rowcount == 1

    def has(self, author: str, seq: int) -> bool:
        return self._one("SELECT 1 FROM on_demand WHERE author = ? AND seq = ?", author, seq) is not None

    def seal(self, author: str, seq: int) -> tuple[str, bytes, bytes] | None:
        """(doc_id, body, signature) of one seal held on demand."""
        row = self.conn.execute("SELECT doc_id, body, signature FROM on_demand WHERE author = ? AND seq = ?",
                                (author, seq)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def doc_ids(self) -> list[str]:
        """The documents held on demand here."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT doc_id FROM on_demand ORDER BY doc_id")]

    def keys(self, limit: int) -> list[tuple[str, int]]:
        """(author, seq) of the seals held on demand, at most `limit` of them."""
        return [(a, s) for a, s in self.conn.execute(
            "SELECT author, seq FROM on_demand ORDER BY author, seq LIMIT ?", (limit,))]

    def count(self) -> int:
        return self._one("SELECT count(*) FROM on_demand")


def purge(store, doc_ids: Collection[str]) -> int:
    """Drop documents from this node, sync side: their document rows, their change index
    and pending rows and their seals held on demand (inside the caller's transaction; the
    caller drops their projections and files). Returns how many documents were held."""
    store.require_tx()
    ids = list(dict.fromkeys(doc_ids))
    held = 0
    for i in range(0, len(ids), PART):
        part = ids[i:i + PART]
        marks = ", ".join("?" * len(part))
        held += store.conn.execute(f"DELETE FROM docs WHERE doc_id IN ({marks})", part).rowcount
        for table in ("changes", "pending", "on_demand"):
            store.conn.execute(f"DELETE FROM {table} WHERE doc_id IN ({marks})", part)
    return held


__all__ = ["OnDemand", "purge"]
