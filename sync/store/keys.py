"""The KeyRing: every known key of every known node (by key id, with the certificate that
vouches for it), the cuts set on keys by revocations and rotations, the transit keys
(bundle encryption, TLS pin) of each node's current certificate, and which author node each
Loro peer id belongs to. Writes only inside the caller's transaction, like every repository.
"""

from __future__ import annotations

from typing import Iterable

from yimen.sync import certs
from yimen.sync.certs import Certificate
from yimen.sync.store.repos import _Repo

Refusal = tuple[str, str]  # (zh, en)
RETIRED = ("该密钥已被新密钥替换", "the key was replaced by a new one")


class KeyRing(_Repo):
    """Known node keys (each by its key id, with the certificate that vouches for it, or
    pinned bare by a test or an older node file), the cuts revocations and rotations set on
    them, and which author node each Loro peer id belongs to.

    A node's *current* key is its latest (by the certificate's `not_before`, then the order
    learnt): the one its requests are signed with. Every key of a node stays known, so
    seals signed with an older key before its cut still verify."""

    def certificate(self, kid: bytes) -> Certificate | None:
        """The certificate of key `kid` (`certs.Issuers`), if one is held."""
        raw = self._one("SELECT cert FROM node_certs WHERE key_id = ?", kid)
        return certs.parse(raw) if raw else None

    def add(self, cert: Certificate, source: str = "record") -> bool:
        """Hold a verified certificate (and set the cut on the key it retires); True if its
        key was not known before."""
        row = self.conn.execute("SELECT cert FROM node_certs WHERE key_id = ?", (cert.key_id,)).fetchone()
        new = row is None
        # A key pinned bare (an older file, a test) gains its certificate; a root that joins
        # a chain later keeps its key, now certified by its parent instead of by itself.
        if new:
            self._write("INSERT INTO node_certs VALUES (?, ?, ?, ?, ?, ?)",
                        (cert.key_id, cert.region, cert.signing_key, cert.raw, cert.not_before, source))
        elif row[0] is None or (certs.parse(row[0]).self_issued and not cert.self_issued):
            self._write("UPDATE node_certs SET cert = ?, not_before = ? WHERE key_id = ?",
                        (cert.raw, cert.not_before, cert.key_id))
        if cert.retires:
            self.cut(cert.retires[0], cert.region, cert.retires[1], "retired", RETIRED)
        if new and self.public_key(cert.region) == cert.signing_key:
            self.learn_transit(cert.region, cert.encryption_key, cert.tls_fingerprint)
        return new

    def trust(self, node_id: str, key: bytes) -> None:
        """Pin a bare key (no certificate) as the node's current one."""
        top = self._one("SELECT MAX(not_before) FROM node_certs WHERE node_id = ?", node_id) or 0
        self._write("INSERT OR REPLACE INTO node_certs VALUES (?, ?, ?, NULL, ?, 'pinned')",
                    (certs.key_id(key), node_id, key, top + 1))

    def _current(self, node_id: str) -> tuple | None:
        return self.conn.execute(
            "SELECT k.public_key, c.kind, c.cut, c.reason, c.reason_zh FROM node_certs k LEFT JOIN key_cuts c"
            " ON c.key_id = k.key_id AND c.node_id = k.node_id WHERE k.node_id = ? ORDER BY k.not_before DESC, k.rowid DESC LIMIT 1",
            (node_id,)).fetchone()

    def public_key(self, node_id: str) -> bytes | None:
        """The node's current key."""
        row = self._current(node_id)
        return row[0] if row else None

    def revocation(self, node_id: str) -> tuple[int, str, str] | None:
        """(cut, reason, reason_zh) if the node's current key is revoked."""
        row = self._current(node_id)
        return (row[2], row[3], row[4]) if row and row[1] == "revoked" else None

    def for_seal(self, author: str, kid: bytes) -> tuple[bytes, int | None, str, str] | None:
        """(public key, cut, reason, reason_zh) of the author's key `kid`; None if unknown."""
        row = self.conn.execute(
            "SELECT k.public_key, c.cut, c.reason, c.reason_zh FROM node_certs k LEFT JOIN key_cuts c"
            " ON c.key_id = k.key_id AND c.node_id = k.node_id WHERE k.key_id = ? AND k.node_id = ?", (kid, author)).fetchone()
        return tuple(row) if row else None

    def cut(self, kid: bytes, node_id: str, seq: int, kind: str, reason: Refusal) -> None:
        """Refuse the key's seals after `seq` (the lowest cut holds; a revocation outranks a
        retirement). The key need not be known yet: a revocation may come first."""
        self._write(
            "INSERT INTO key_cuts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, node_id) DO UPDATE SET"
            " cut = MIN(cut, excluded.cut),"
            " kind = CASE WHEN excluded.kind = 'revoked' THEN 'revoked' ELSE kind END,"
            " reason = CASE WHEN excluded.kind = 'revoked' OR kind != 'revoked' THEN excluded.reason ELSE reason END,"
            " reason_zh = CASE WHEN excluded.kind = 'revoked' OR kind != 'revoked' THEN excluded.reason_zh"
            " ELSE reason_zh END", (kid, node_id, seq, kind, reason[1], reason[0]))

    def revoked(self, kid: bytes, node_id: str) -> bool:
        return self._one("SELECT 1 FROM key_cuts WHERE key_id = ? AND node_id = ? AND kind = 'revoked'",
                         kid, node_id) is not None

    def known(self, node_id: str | None = None) -> list[tuple]:
        """(node_id, key_id, source, cut kind, cut, reason, reason_zh) of every key held (of one node)."""
        return self.conn.execute(
            "SELECT k.node_id, k.key_id, k.source, c.kind, c.cut, c.reason, c.reason_zh FROM node_certs k LEFT JOIN key_cuts c"
            " ON c.key_id = k.key_id AND c.node_id = k.node_id WHERE ? IS NULL OR k.node_id = ? ORDER BY k.node_id, k.not_before",
            (node_id, node_id)).fetchall()

    def learn_transit(self, node_id: str, encryption_key: str, tls_fingerprint: str) -> None:
        """The age recipient and TLS pin of a node (from its current certificate)."""
        self._write("INSERT OR REPLACE INTO node_transit VALUES (?, ?, ?)", (node_id, encryption_key, tls_fingerprint))

    def transit(self, node_id: str) -> tuple[str, str] | None:
        """(encryption key, TLS fingerprint) of a node, if known."""
        row = self.conn.execute("SELECT encryption_key, tls_fingerprint FROM node_transit WHERE node_id = ?",
                                (node_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def bind_peers(self, peers: Iterable[int], author: str) -> None:
        """Peer ids bind to the first author that signed them."""
        self._write_many("INSERT OR IGNORE INTO peer_owners(peer, author) VALUES (?, ?)",
                              [(p, author) for p in set(peers)])

    def owners(self, peers: Iterable[int]) -> dict[int, str | None]:
        return {p: self._one("SELECT author FROM peer_owners WHERE peer = ?", p) for p in set(peers)}
