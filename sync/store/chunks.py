"""File chunks, content-addressed: a chunk is stored under the SHA-256 of its bytes, once
however many documents list it (deduplicated), inside the encrypted database like
everything else (encrypted at rest with no second key). Chunks are not CRDT documents:
what says which chunks make a file is the signed space document that lists them, so a
chunk is taken from anyone who has it and checked against its hash alone."""

from __future__ import annotations

import hashlib
from typing import Iterable

from yimen.sync.errors import SyncError
from yimen.sync.store.repos import _Repo

MAX_CHUNK = 1 << 20


class BadChunk(SyncError, ValueError):
    """Bytes offered as a chunk are not the chunk their hash names (or too big)."""

    code = "bad_chunk"


class Chunks(_Repo):
    """Chunks by the hex SHA-256 of their bytes. Writes only in the caller's transaction."""

    def put(self, digest: str, data: bytes) -> bool:
        """Store one chunk after checking its hash; True if it was not held before."""
        if len(data) > MAX_CHUNK or hashlib.sha256(data).hexdigest() != digest:
            raise BadChunk("文件分块与其哈希不符", f"the bytes are not chunk {digest[:16]}…")
        return self._write("INSERT OR IGNORE INTO chunks(hash, data) VALUES (?, ?)", (digest, data)).rowcount == 1

    def get(self, digest: str) -> bytes | None:
        return self._one("SELECT data FROM chunks WHERE hash = ?", digest)

    def held(self, digests: Iterable[str]) -> set[str]:
        """Which of `digests` are held here."""
        wanted = list(dict.fromkeys(digests))
        out: set[str] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            out.update(r[0] for r in self.conn.execute(
                f"SELECT hash FROM chunks WHERE hash IN ({', '.join('?' * len(part))})", part))
        return out

    def delete(self, digests: Iterable[str]) -> int:
        """Drop chunks (a purge: no document held here lists them any more)."""
        rows = [(d,) for d in digests]
        self._write_many("DELETE FROM chunks WHERE hash = ?", rows)
        return len(rows)

    def total(self) -> tuple[int, int]:
        """(chunks, bytes) held."""
        n, size = self.conn.execute("SELECT count(*), coalesce(sum(length(data)), 0) FROM chunks").fetchone()
        return n, size
