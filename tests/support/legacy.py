"""A node as Yimen wrote it before its database was encrypted (for the upgrade tests)."""

from __future__ import annotations

from contextlib import closing

from yimen.node import identity
from yimen.sync.store import driver


def make_legacy(node) -> None:
    """Turn an open node into what Yimen wrote before encryption: a plain database, the
    private keys in a plain node.key, no keyslot."""
    keys = node.keys.dumps()
    plain = node.home / "plain.db"
    node.store.conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(plain),))
    node.store.conn.execute("SELECT sqlcipher_export('plain')")
    node.store.conn.execute("DETACH DATABASE plain")
    with node.store.transaction():
        node.store.delete_meta(identity.META_KEY)  # (only in the copy above does it remain)
    node.close()
    for name in ("yimen.db", "yimen.db-wal", "yimen.db-shm", "keyslot.json"):
        (node.home / name).unlink(missing_ok=True)
    plain.rename(node.home / "yimen.db")
    with closing(driver.connect(node.home / "yimen.db", isolation_level=None)) as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (identity.META_KEY,))
    (node.home / "node.key").write_bytes(keys)
    (node.home / "node.key").chmod(0o644)
    (node.home / "node.json").chmod(0o644)
    node.home.chmod(0o755)
