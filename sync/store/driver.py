"""The one module that names the database driver: SQLCipher (`sqlcipher3`), SQLite with
every page encrypted (AES-256, an HMAC per page), so a copied data folder shows nothing.

Everything else imports the connection and the DB-API errors from here: `sqlcipher3`'s
errors are not subclasses of the standard `sqlite3` ones, and an `except sqlite3.Error`
would let them through.

The key is 32 raw bytes, handed to SQLCipher as a raw key (`x'...'`): SQLCipher runs no
KDF of its own then (a passphrase given to it costs a 256k-iteration PBKDF2 on every
open); the node derives the key once, with Argon2id or HKDF (`yimen.node.vault`). A
connection without a key is a plain SQLite file (the sync package's own tests use those).
"""

from __future__ import annotations

import os
import sqlite3.dump as _sqlite3_dump  # its pure-Python dump works over any DB-API connection
from pathlib import Path
from typing import Iterator

from sqlcipher3 import dbapi2 as _dbapi

from yimen.sync.errors import StoreError

Connection = _dbapi.Connection
Error = _dbapi.Error
DatabaseError = _dbapi.DatabaseError
OperationalError = _dbapi.OperationalError
ProgrammingError = _dbapi.ProgrammingError
IntegrityError = _dbapi.IntegrityError
InterfaceError = _dbapi.InterfaceError
DataError = _dbapi.DataError
sqlite_version = _dbapi.sqlite_version

KEY_BYTES = 32
PLAIN_HEADER = b"SQLite format 3\x00"  # the first bytes of every unencrypted SQLite file


class WrongKey(StoreError):
    """The node's database does not open with the key given (or is no database at all)."""

    code = "wrong_key"


def _pragma_key(key: bytes) -> str:
    if len(key) != KEY_BYTES:
        raise ValueError("a database key is 32 bytes")
    return f"\"x'{key.hex()}'\""


def connect(path: Path | str, key: bytes | None = None, *, uri: bool = False, **kw) -> Connection:
    """A connection to `path`, unlocked with `key` (None: a plain file), checked: a wrong
    key is `WrongKey` here, not a puzzling error at the first query."""
    conn = _dbapi.connect(str(path), uri=uri, **kw)
    try:
        # SQLCipher writes its own lines on stderr when a page fails its check: the caller says it once
        conn.execute("PRAGMA cipher_log_level = NONE")
        if key is not None:
            conn.execute(f"PRAGMA key = {_pragma_key(key)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except DatabaseError as e:
        conn.close()
        if "not a database" in str(e):
            raise WrongKey(f"数据库 {path} 无法用所给的密钥打开（密钥不对，或文件已损坏）",
                           f"the database {path} does not open with the key given (a wrong key, or a damaged file)") from None
        raise
    return conn


def is_plain(path: Path | str) -> bool:
    """Is `path` an unencrypted SQLite file (a node from before encryption)?"""
    try:
        with open(path, "rb") as f:
            return f.read(len(PLAIN_HEADER)) == PLAIN_HEADER
    except FileNotFoundError:
        return False


def encrypt_plain(path: Path, key: bytes) -> None:
    """Encrypt the plain SQLite file `path` in place: its log folded in, `sqlcipher_export`
    into a new file beside it, synced, then renamed over it (a power cut leaves either the
    old file or the new one, never half of one)."""
    path = Path(path)
    staging = path.with_name(path.name + ".encrypting")
    staging.unlink(missing_ok=True)
    create_private(staging)
    conn = connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"ATTACH DATABASE ? AS encrypted KEY {_pragma_key(key)}", (str(staging),))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    with open(staging, "rb+") as f:
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(staging, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def create_private(path: Path | str) -> None:
    """Make sure `path` exists with mode 0600 before SQLite opens it: SQLite creates its
    -wal and -shm files with the mode of the database file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def iterdump(conn: Connection) -> Iterator[str]:
    """The SQL text of a database's schema and rows, as the standard `sqlite3`'s
    `Connection.iterdump` gives it (which SQLCipher's connection lacks): tests compare
    databases with it."""
    return _sqlite3_dump._iterdump(conn)


def rekey(conn: Connection, key: bytes) -> None:
    """Re-encrypt the whole database `conn` is open on under `key` (SQLCipher rewrites every
    page in one transaction; no other connection may be open)."""
    conn.execute(f"PRAGMA rekey = {_pragma_key(key)}")
