"""The sync tables behind small repositories: the feed, the change index and pending
changes, per-peer positions and traffic, peer owners, quarantine (node keys: `keys`).

Each takes the `Store` and writes only inside the caller's transaction. Times are given by
the caller (the engine's clock), never taken from SQLite's `datetime('now')`.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Collection, Iterable

from yimen.sync.docs import Change
from yimen.sync.visibility import FLOW_SQL

if TYPE_CHECKING:
    from yimen.sync.seal import Seal
    from yimen.sync.store.db import Store

PendingRow = tuple  # (peer, counter_start, counter_end, author, seal_seq, blob)


class _Repo:
    def __init__(self, store: Store):
        self.store = store

    @property
    def conn(self):
        return self.store.conn

    def _one(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None

    def _write(self, sql: str, args: tuple = ()) -> Any:
        self.store.require_tx()
        return self.conn.execute(sql, args)

    def _write_many(self, sql: str, rows: Iterable[tuple]) -> None:
        self.store.require_tx()
        self.conn.executemany(sql, rows)


class Feed(_Repo):
    """Append-only seals, own and received, by local sequence number."""

    def append(self, s: Seal, received_from: str | None, at: str) -> int:
        return self._write(
            "INSERT INTO feed(author, seq, scope, down, body, signature, received_from, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (s.author, s.seq, s.scope, s.flow, s.body, s.signature, received_from, at)).lastrowid

    def has(self, author: str, seq: int) -> bool:
        return self._one("SELECT 1 FROM feed WHERE author = ? AND seq = ?", author, seq) is not None

    def last_seq(self, author: str) -> int:
        """The highest seal number of `author` held here (0: none)."""
        return self._one("SELECT coalesce(max(seq), 0) FROM feed WHERE author = ?", author)

    def seqs_after(self, author: str, position: int, upto_seq: int) -> list[int]:
        """Seal numbers of `author`'s seals stored after feed `position`, up to `upto_seq`."""
        return [r[0] for r in self.conn.execute(
            "SELECT seq FROM feed WHERE author = ? AND seq <= ? AND local_seq > ? ORDER BY seq",
            (author, upto_seq, position))]

    def head(self) -> int:
        return self._one("SELECT coalesce(max(local_seq), 0) FROM feed")

    def count(self) -> int:
        return self._one("SELECT count(*) FROM feed")

    def scan(self, after: int, limit: int) -> list[tuple]:
        """(local_seq, author, scope, down, received_from, bytes) after a position."""
        return self.conn.execute(
            "SELECT local_seq, author, scope, down, received_from, length(body) + length(signature)"
            " FROM feed WHERE local_seq > ? ORDER BY local_seq LIMIT ?", (after, limit)).fetchall()

    def bodies(self, local_seqs: list[int]) -> list[tuple[bytes, bytes]]:
        if not local_seqs:
            return []
        return [tuple(r) for r in self.conn.execute(
            f"SELECT body, signature FROM feed WHERE local_seq IN ({', '.join('?' * len(local_seqs))})"
            " ORDER BY local_seq", local_seqs)]

    def seal(self, author: str, seq: int) -> tuple[str, bool, bytes, bytes] | None:
        """(scope, down, body, signature) of one seal."""
        row = self.conn.execute("SELECT scope, down, body, signature FROM feed WHERE author = ? AND seq = ?",
                                (author, seq)).fetchone()
        return (row[0], bool(row[1]), row[2], row[3]) if row else None

    def mark_unapplied(self, local_seq: int) -> None:
        self._write("INSERT INTO unapplied(local_seq) VALUES (?)", (local_seq,))

    def unapplied(self, limit: int) -> list[tuple[int, str, bytes, bytes]]:
        """Oldest first: (local_seq, received_from, body, signature)."""
        return self.conn.execute(
            "SELECT u.local_seq, f.received_from, f.body, f.signature FROM unapplied u"
            " JOIN feed f USING (local_seq) ORDER BY u.local_seq LIMIT ?", (limit,)).fetchall()

    def unapplied_by(self, author: str, limit: int) -> list[tuple[bytes, bytes]]:
        """(body, signature) of `author`'s latest `limit` seals stored and not yet applied."""
        return self.conn.execute(
            "SELECT f.body, f.signature FROM unapplied u JOIN feed f USING (local_seq) WHERE f.author = ?"
            " ORDER BY u.local_seq DESC LIMIT ?", (author, limit)).fetchall()

    def mark_applied(self, local_seq: int) -> None:
        self._write("DELETE FROM unapplied WHERE local_seq = ?", (local_seq,))

    def backlog(self) -> int:
        return self._one("SELECT count(*) FROM unapplied")

    def backlog_by_sender(self) -> dict[str, int]:
        """Seals stored and not yet applied, counted per node they came from."""
        return dict(self.conn.execute(
            "SELECT f.received_from, count(*) FROM unapplied u JOIN feed f USING (local_seq)"
            " GROUP BY f.received_from").fetchall())

    def waiting_after(self, position: int, peer: str) -> tuple[int, str | None]:
        """How many seals after feed `position` did not come from `peer` (those it has, it
        sent them), and when the first of them was stored."""
        where = "FROM feed WHERE local_seq > ? AND received_from IS NOT ?"
        n = self._one(f"SELECT count(*) {where}", position, peer)
        first = self._one(f"SELECT received_at {where} ORDER BY local_seq LIMIT 1", position, peer)
        return n, first


class Changes(_Repo):
    """The change index (applied changes, own unsealed ones) and pending changes."""

    def add_own(self, change: Change, author: str) -> None:
        self._write(
            "INSERT INTO changes(doc_id, peer, counter_start, counter_end, kind, scope, author)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (change.doc_id, change.peer, change.counter_start, change.counter_end, change.kind,
             change.scope, author))

    def unsealed(self) -> list[Change]:
        rows = self.conn.execute("SELECT doc_id, kind, scope, peer, counter_start, counter_end FROM changes"
                                 " WHERE seal_seq IS NULL ORDER BY doc_id, peer, counter_start")
        return [Change(*r) for r in rows]

    def unsealed_count(self) -> int:
        return self._one("SELECT count(*) FROM changes WHERE seal_seq IS NULL")

    def unsealed_page(self, limit: int) -> list[tuple]:
        """Unsealed own changes, city-wide then down documents first, in the order of the
        index `changes_unsealed_flow`: (doc_id, kind, scope, peer, start, end, flow)."""
        return self.conn.execute(
            f"SELECT doc_id, kind, scope, peer, counter_start, counter_end, {FLOW_SQL} FROM changes"
            f" WHERE seal_seq IS NULL ORDER BY {FLOW_SQL} DESC, scope, doc_id, peer, counter_start"
            " LIMIT ?", (limit,)).fetchall()

    def mark_sealed(self, rows: list[tuple], scope: str, author: str, seq: int) -> None:
        """Replace the unsealed rows a seal covers by its (merged) spans. `rows`:
        (doc_id, kind, peer, start, end)."""
        self._write_many(
            "DELETE FROM changes WHERE doc_id = ? AND peer = ? AND seal_seq IS NULL"
            " AND counter_start >= ? AND counter_start < ?", [(d, p, s, e) for d, _, p, s, e in rows])
        self._write_many(
            "INSERT INTO changes(doc_id, peer, counter_start, counter_end, kind, scope, author, seal_seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(d, p, s, e, k, scope, author, seq) for d, k, p, s, e in rows])

    def unseal(self, author: str, seqs: list[int]) -> None:
        """Make the changes `author` signed in seals `seqs` unsealed again: the next seal
        carries them under a new number."""
        for i in range(0, len(seqs), 500):  # one pass over the table per part (there is no index on it)
            part = seqs[i:i + 500]
            self._write(f"UPDATE changes SET seal_seq = NULL WHERE author = ? AND seal_seq IN ({', '.join('?' * len(part))})",
                        (author, *part))

    def known(self, doc_ids: Collection[str]) -> tuple[set[tuple[str, int, int]], dict[str, list[PendingRow]]]:
        """The `(doc_id, peer, counter_start)` of every change of `doc_ids` held here,
        applied or pending, and the pending ones in full by document."""
        known = set(self.store.rows("SELECT doc_id, peer, counter_start FROM changes", doc_ids))
        waiting: dict[str, list[PendingRow]] = {}
        for doc_id, *row in self.store.rows(
                "SELECT doc_id, peer, counter_start, counter_end, author, seal_seq, blob FROM pending", doc_ids):
            known.add((doc_id, row[0], row[1]))
            waiting.setdefault(doc_id, []).append(tuple(row))
        return known, waiting

    def settle(self, still: list[tuple], done: list[tuple], applied: list[tuple]) -> None:
        """Record one settle step: changes still waiting (pending rows), pending ones now
        applied (doc_id, peer, start) and every applied change (change rows)."""
        self._write_many(
            "INSERT INTO pending(doc_id, peer, counter_start, counter_end, author, seal_seq, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", still)
        self._write_many("DELETE FROM pending WHERE doc_id = ? AND peer = ? AND counter_start = ?", done)
        self._write_many(
            "INSERT OR IGNORE INTO changes(doc_id, peer, counter_start, counter_end, kind, scope,"
            " author, seal_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", applied)

    def pending_count(self) -> int:
        return self._one("SELECT count(*) FROM pending")

    def seals_of(self, doc_ids: Iterable[str]) -> set[tuple[str, int]]:
        """(author, seq) of every seal carrying a change of `doc_ids`, applied or pending."""
        keys: set[tuple[str, int]] = set()
        for table in ("changes", "pending"):
            keys.update(self.store.rows(f"SELECT author, seal_seq FROM {table}", list(doc_ids)))
        return {k for k in keys if k[1] is not None}


class Peers(_Repo):
    """Per peer: stream positions both ways, last contact and traffic."""

    def _ensure(self, peer: str) -> None:
        self._write("INSERT OR IGNORE INTO peers(node_id) VALUES (?)", (peer,))

    def positions(self, peer: str) -> tuple[int, int]:
        """(recv_upto, sent_upto) for `peer`."""
        row = self.conn.execute("SELECT recv_upto, sent_upto FROM peers WHERE node_id = ?", (peer,)).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def received(self, peer: str, upto: int, seals: int, size: int, at: str, rewind: bool = False) -> int:
        """Count a batch received and move `recv_upto` forward, or, for a batch that
        restates the peer's feed (`rewind`: the peer is the authority on positions in its
        own feed), set it; returns it."""
        self._ensure(peer)
        self._write(
            "UPDATE peers SET recv_upto = CASE WHEN ? THEN ? ELSE max(recv_upto, ?) END, last_contact = ?,"
            " seals_in = seals_in + ?, bytes_in = bytes_in + ? WHERE node_id = ?",
            (rewind, upto, upto, at, seals, size, peer))
        return self.positions(peer)[0]

    def acknowledged(self, peer: str, upto: int, at: str) -> None:
        """Record that `peer` holds our feed up to `upto` (checked by the caller, see
        `yimen.sync.positions`)."""
        self._ensure(peer)
        self._write("UPDATE peers SET sent_upto = ?, last_contact = ? WHERE node_id = ?", (upto, at, peer))

    def sent(self, peer: str, seals: int, size: int, at: str) -> None:
        """Count seals and bytes sent to `peer`."""
        self._ensure(peer)
        self._write("UPDATE peers SET seals_out = seals_out + ?, bytes_out = bytes_out + ?,"
                          " last_contact = ? WHERE node_id = ?", (seals, size, at, peer))

    def last_contact(self, peer: str) -> str | None:
        return self._one("SELECT last_contact FROM peers WHERE node_id = ?", peer)

    def rows(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT node_id AS peer, recv_upto, sent_upto, last_contact, seals_in, seals_out, bytes_in,"
            " bytes_out FROM peers ORDER BY node_id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur]


def seal_digest(body: bytes, signature: bytes) -> bytes:
    """What identifies a seal's exact bytes (the body's length first, so that no two
    (body, signature) pairs share their concatenation)."""
    h = hashlib.sha256(len(body).to_bytes(8, "big"))
    h.update(body)
    h.update(signature)
    return h.digest()


_QUOTED_OR_NUMBERED = re.compile(r"'[^']*'|\"[^\"]*\"|\S*\d\S*")


def reason_class(reason: str) -> str:
    """A refusal's reason without what varies from seal to seal (numbers, ids, quoted
    values, a library's details after ": "), so that counts per reason stay few:
    "bad signature on seal 440608100201#7" -> "bad signature on seal …"."""
    return _QUOTED_OR_NUMBERED.sub("…", reason.split(": ", 1)[0])[:MAX_REASON_CLASS]


_ZH_VARYING = re.compile(r"“[^”]*”|'[^']*'|\"[^\"]*\"|[A-Za-z0-9#@:_./-]*\d[A-Za-z0-9#@:_./-]*")


def reason_class_zh(reason: str) -> str:
    """`reason_class` of a Chinese reason (no spaces to split words on: what varies is
    quoted, or a run of Latin letters and digits holding a digit, such as an id)."""
    return _ZH_VARYING.sub("…", reason.split("：", 1)[0])[:MAX_REASON_CLASS]


MAX_REASON = 500  # characters of a reason kept (a library's message may be long)
MAX_REASON_CLASS = 80
OTHER_REASONS, OTHER_REASONS_ZH = "(other reasons)", "（其他原因）"


class Quarantine(_Repo):
    """Refused seals with the reason, for the admin, bounded whatever a peer sends:

    - the same bytes are kept once (`add` says when they were there already: a replay, a
      bundle exported again), and the same reason for the same (author, seq) once;
    - per peer only the newest KEEP_PER_PEER rows are kept, and every refusal is counted
      per peer and reason class (`summary`, at most MAX_REASONS_PER_PEER classes a peer);
    - a row keeps the seal's bytes only if the seal may yet go in (`keep_body`: its
      author's key is not known yet, see `waiting_for`); others keep the body's size."""

    KEEP_PER_PEER = 200
    MAX_REASONS_PER_PEER = 50

    def add(self, peer: str, at: str, author: str | None, seq: int | None, reason: str,
            body: bytes, signature: bytes, digest: bytes | None = None, keep_body: bool = False,
            reason_zh: str | None = None) -> bool:
        """Record a refused seal; False (nothing written) if these bytes are here already.
        `digest`: `seal_digest(body, signature)` if the caller has it; `reason_zh`: the
        reason in Chinese, when there is one."""
        digest = digest or seal_digest(body, signature)
        if self._one("SELECT 1 FROM quarantine WHERE digest = ?", digest):
            return False
        reason, reason_zh = reason[:MAX_REASON], reason_zh and reason_zh[:MAX_REASON]
        if not keep_body and author is not None and self._one(
                "SELECT 1 FROM quarantine WHERE author = ? AND seq = ? AND reason = ?", author, seq, reason):
            return True
        self._write(
            "INSERT INTO quarantine(received_from, received_at, author, seq, reason, body, signature, digest, bytes,"
            " reason_zh) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (peer, at, author, seq, reason, body if keep_body else None, signature if keep_body else None,
             digest, len(body), reason_zh))
        self._counted(peer, reason_class(reason), 1, at, reason_zh and reason_class_zh(reason_zh))
        self._write("DELETE FROM quarantine WHERE received_from IS ? AND id <= (SELECT id FROM quarantine"
                    " WHERE received_from IS ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (peer, peer, self.KEEP_PER_PEER))
        return True

    def _counted(self, peer: str | None, cls: str, n: int, at: str | None, cls_zh: str | None = None) -> None:
        peer = peer or ""
        known = {r[0] for r in self.conn.execute(
            "SELECT reason FROM quarantine_counts WHERE received_from = ?", (peer,))}
        if cls not in known and (n < 0 or len(known | {OTHER_REASONS}) >= self.MAX_REASONS_PER_PEER):
            cls, cls_zh = OTHER_REASONS, OTHER_REASONS_ZH  # one class too many (or, taken out, one summarised there)
        self._write(
            "INSERT INTO quarantine_counts(received_from, reason, count, last_at, reason_zh) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(received_from, reason) DO UPDATE SET count = count + excluded.count,"
            " last_at = coalesce(excluded.last_at, last_at), reason_zh = coalesce(excluded.reason_zh, reason_zh)",
            (peer, cls, n, at, cls_zh))
        if n < 0:
            self._write("DELETE FROM quarantine_counts WHERE received_from = ? AND count <= 0", (peer,))

    def waiting_for(self, author: str, reason_prefix: str) -> list[tuple[int, str, bytes, bytes, bytes]]:
        """(id, received_from, body, signature, digest) of the seals by `author` refused for
        `reason_prefix` whose bytes are kept."""
        return self.conn.execute(
            "SELECT id, received_from, body, signature, digest FROM quarantine"
            " WHERE author = ? AND reason LIKE ? AND body IS NOT NULL ORDER BY id",
            (author, reason_prefix + "%")).fetchall()

    def remove(self, qid: int) -> None:
        """Take one row out (its seal went in, or is refused anew), and out of the counts."""
        row = self.conn.execute("SELECT received_from, reason FROM quarantine WHERE id = ?", (qid,)).fetchone()
        if row is not None:
            self._write("DELETE FROM quarantine WHERE id = ?", (qid,))
            self._counted(row[0], reason_class(row[1]), -1, None)

    def release(self, digest: bytes) -> None:
        """These bytes went in after all (delivered again once their author was known)."""
        qid = self._one("SELECT id FROM quarantine WHERE digest = ?", digest)
        if qid is not None:
            self.remove(qid)

    def count(self, peer: str | None = None) -> int:
        """Seals refused and not gone in since: kept in full or only counted."""
        if peer is None:
            return self._one("SELECT coalesce(sum(count), 0) FROM quarantine_counts")
        return self._one("SELECT coalesce(sum(count), 0) FROM quarantine_counts WHERE received_from = ?", peer)

    def summary(self) -> list[dict[str, Any]]:
        """Per peer and reason class: how many seals were refused, and when last."""
        return list(self.store.db.query(
            "SELECT received_from AS peer, reason, reason_zh, count, last_at FROM quarantine_counts"
            " ORDER BY received_from, count DESC, reason"))

    def rows(self) -> list[dict[str, Any]]:
        """The rows kept in full, oldest first."""
        return list(self.store.db.query(
            "SELECT id, received_at, received_from, author, seq, reason, reason_zh, bytes FROM quarantine ORDER BY id"))
