"""Unlocking a node: the 32-byte key of its encrypted database (see `yimen.sync.store.driver`).

The key is never stored. It is derived, at `init` and at every start, from one secret:

- a **key file** on removable media (a USB stick the centre keeps apart from the PC): 32
  random bytes, from which HKDF-SHA256 derives the key, salted per node, so one stick can
  unlock several nodes and a copied data folder holds nothing that opens it;
- or a **passphrase**, stretched with Argon2id (RFC 9106's second recommended setting, 64 MiB)
  so that guessing it offline costs as much as possible.

Which of the two, the salt and the Argon2 parameters live beside the database in
`keyslot.json` (nothing in it is secret). A wrong secret is a `WrongKey` when the database
is opened; there is no check value here that would let a guesser skip the database.

Where the secret comes from, in order: an explicit argument; `YIMEN_KEY_FILE` (a path);
`YIMEN_PASSPHRASE` (for scripts and tests: in production the passphrase is typed); a prompt
when stdin is a terminal (`ask`, given by the command line). Secrets never reach a log, a
`repr` or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yimen.node.errors import NodeError
from yimen.sync.store import driver
from yimen.sync.store.driver import KEY_BYTES

KEYSLOT_FILE = "keyslot.json"
PENDING_FILE = "keyslot.json.new"  # the next slot, while `change` re-encrypts the database
ENV_KEY_FILE = "YIMEN_KEY_FILE"
ENV_PASSPHRASE = "YIMEN_PASSPHRASE"
KEY_FILE_HEADER = "yimen-key-file-1"
HKDF_INFO = b"yimen database key v1"
ARGON2 = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 4}  # RFC 9106 §4, second choice
# what a keyslot may ask for: a damaged one must not make a start take minutes or all the memory
ARGON2_BOUNDS = {"time_cost": (1, 20), "memory_cost": (1024, 1024 * 1024), "parallelism": (1, 16)}
MIN_PASSPHRASE = 8
KINDS = ("key_file", "passphrase")

Ask = Callable[[bool], str]  # ask(new) -> the passphrase typed (new: asked twice, for init)


class LockedNode(NodeError):
    """No key file or passphrase was given to unlock the node's database."""

    code = "locked_node"


class BadKeyFile(NodeError):
    """The key file is missing, unreadable or not a Yimen key file."""

    code = "bad_key_file"


class BadKeySlot(NodeError):
    """The node's keyslot.json is missing or damaged."""

    code = "bad_keyslot"


class BadPassphrase(NodeError):
    """A new passphrase is too short, or was not typed the same twice."""

    code = "bad_passphrase"


@dataclass(frozen=True)
class Passphrase:
    text: str = field(repr=False)

    def __repr__(self) -> str:  # never the secret in a log or a traceback
        return "Passphrase(…)"


@dataclass(frozen=True)
class KeyFile:
    path: Path


Secret = Passphrase | KeyFile


@dataclass(frozen=True)
class Slot:
    """How a node's key is derived (`keyslot.json`): not secret."""

    kind: str
    salt: bytes
    argon2: dict[str, int] = field(default_factory=dict)  # passphrase only

    def dumps(self) -> bytes:
        d = {"version": 1, "kind": self.kind, "salt": base64.b64encode(self.salt).decode()}
        if self.kind == "passphrase":
            d["argon2id"] = self.argon2
        return (json.dumps(d, indent=2) + "\n").encode()

    @classmethod
    def loads(cls, raw: bytes) -> Slot:
        """A keyslot read back; anything but one this module wrote is `BadKeySlot`."""
        bad = BadKeySlot(f"{KEYSLOT_FILE} 已损坏，无法解锁节点（请从备份恢复该文件）",
                         f"{KEYSLOT_FILE} is damaged: the node cannot be unlocked (restore the file from a backup)")
        try:
            d = json.loads(raw)
            salt = base64.b64decode(d["salt"], validate=True)
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise bad from None
        if not isinstance(d, dict) or d.get("version") != 1 or d.get("kind") not in KINDS or not 16 <= len(salt) <= 64:
            raise bad
        argon2 = d.get("argon2id", {}) if d["kind"] == "passphrase" else {}
        if set(d) != {"version", "kind", "salt", *(["argon2id"] if d["kind"] == "passphrase" else [])} \
                or not isinstance(argon2, dict) or (d["kind"] == "passphrase" and set(argon2) != set(ARGON2)):
            raise bad
        for name, value in argon2.items():
            low, high = ARGON2_BOUNDS[name]
            if type(value) is not int or not low <= value <= high:
                raise bad
        if argon2 and argon2["memory_cost"] < 8 * argon2["parallelism"]:
            raise bad
        return cls(d["kind"], salt, argon2)


def new_key_file(path: Path | str) -> KeyFile:
    """Write a new key file (mode 0600; never over an existing file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"{KEY_FILE_HEADER}\n{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    return KeyFile(path)


def parse_key_file(raw: bytes) -> bytes:
    """The secret of a key file's bytes; anything else is `BadKeyFile` (naming no path)."""
    lines = raw.split(b"\n")
    try:
        secret = base64.b64decode(lines[1], validate=True) if len(lines) == 3 and lines[2] == b"" else b""
    except (ValueError, binascii.Error):
        secret = b""
    if lines[0] != KEY_FILE_HEADER.encode() or len(secret) != KEY_BYTES:
        raise BadKeyFile("这不是 Yimen 的密钥文件", "this is not a Yimen key file")
    return secret


def read_key_file(path: Path) -> bytes:
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raise BadKeyFile(f"读不到密钥文件 {path}（U 盘是否已插入？）",
                         f"cannot read the key file {path} (is the USB stick in?)") from None
    try:
        return parse_key_file(raw)
    except BadKeyFile:
        raise BadKeyFile(f"{path} 不是 Yimen 的密钥文件", f"{path} is not a Yimen key file") from None


def derive(slot: Slot, secret: Secret) -> bytes:
    """The database key of `secret` under `slot`."""
    if slot.kind == "key_file":
        if not isinstance(secret, KeyFile):
            raise LockedNode("本节点用密钥文件解锁：请插入 U 盘并设置 YIMEN_KEY_FILE",
                             "this node is unlocked with a key file: insert the USB stick and set YIMEN_KEY_FILE")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=slot.salt, info=HKDF_INFO)
        return hkdf.derive(read_key_file(secret.path))
    if not isinstance(secret, Passphrase):
        raise LockedNode("本节点用口令解锁，不用密钥文件", "this node is unlocked with a passphrase, not a key file")
    return hash_secret_raw(secret.text.encode("utf-8"), slot.salt, hash_len=KEY_BYTES, type=Type.ID, **slot.argon2)


def _secret(kind: str | None, given: Secret | None, environ: Mapping[str, str], ask: Ask | None) -> Secret:
    """The first secret of `kind` (None: any kind, for a new node) from the sources in order."""
    if given is not None:
        return given
    if kind in (None, "key_file") and environ.get(ENV_KEY_FILE):
        return KeyFile(Path(environ[ENV_KEY_FILE]))
    if kind in (None, "passphrase"):
        if environ.get(ENV_PASSPHRASE):
            return Passphrase(environ[ENV_PASSPHRASE])
        if ask is not None:
            return Passphrase(ask(kind is None))
    if kind == "key_file":
        raise LockedNode("本节点用密钥文件解锁：请插入 U 盘并设置 YIMEN_KEY_FILE（密钥文件的路径）",
                         "this node is unlocked with a key file: insert the USB stick and set YIMEN_KEY_FILE to its path")
    raise LockedNode("节点已加密：请设置 YIMEN_KEY_FILE（U 盘上的密钥文件），或在终端输入口令",
                     "the node is encrypted: set YIMEN_KEY_FILE (the key file on the USB stick) or type the passphrase at a terminal")


def _check_new(secret: Secret) -> None:
    if isinstance(secret, Passphrase) and len(secret.text) < MIN_PASSPHRASE:
        raise BadPassphrase(f"口令至少需要 {MIN_PASSPHRASE} 个字符", f"a passphrase needs at least {MIN_PASSPHRASE} characters")


def _write(path: Path, raw: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())


def write_slot(home: Path, slot: Slot) -> None:
    """Replace `home`'s keyslot atomically (0600)."""
    _write(home / (KEYSLOT_FILE + ".tmp"), slot.dumps())
    os.replace(home / (KEYSLOT_FILE + ".tmp"), home / KEYSLOT_FILE)


def new_slot(secret: Secret, argon2: Mapping[str, int] | None = None) -> Slot:
    _check_new(secret)
    kind = "key_file" if isinstance(secret, KeyFile) else "passphrase"
    return Slot(kind, secrets.token_bytes(16), dict(argon2 or ARGON2) if kind == "passphrase" else {})


def create(home: Path, secret: Secret | None = None, ask: Ask | None = None,
           environ: Mapping[str, str] | None = None, argon2: Mapping[str, int] | None = None) -> bytes:
    """Choose a new node's secret, write its keyslot, return its key. A key file named
    (by argument or `YIMEN_KEY_FILE`) that does not exist yet is created."""
    secret = _secret(None, secret, os.environ if environ is None else environ, ask)
    if isinstance(secret, KeyFile) and not secret.path.exists():
        new_key_file(secret.path)
    slot = new_slot(secret, argon2)
    key = derive(slot, secret)
    write_slot(home, slot)
    return key


def load_slot(home: Path) -> Slot:
    try:
        raw = (home / KEYSLOT_FILE).read_bytes()
    except OSError:
        raise BadKeySlot(f"{home} 中缺少 {KEYSLOT_FILE}，无法解锁节点（请从备份恢复该文件）",
                         f"{KEYSLOT_FILE} is missing from {home}: the node cannot be unlocked (restore it from a backup)") from None
    return Slot.loads(raw)


def unlock(home: Path, secret: Secret | None = None, ask: Ask | None = None,
           environ: Mapping[str, str] | None = None, pending: bool = False) -> bytes:
    """The key of the node in `home` (checked only when the database is opened);
    `pending`: of the slot `change` left beside the keyslot."""
    slot = Slot.loads((home / PENDING_FILE).read_bytes()) if pending else load_slot(home)
    return derive(slot, _secret(slot.kind, secret, os.environ if environ is None else environ, ask))


def has_slot(home: Path) -> bool:
    return (home / KEYSLOT_FILE).exists()


def change(home: Path, db: Path, key: bytes, new: Secret, argon2: Mapping[str, int] | None = None) -> None:
    """Make `new` what unlocks the node in `home` (database `db`, now under `key`, which no
    other process may have open): the new slot is written beside the old one first, the
    database re-encrypted, then the slot renamed into place (`home.open_node` takes a slot
    left beside the old one by a power cut in between)."""
    if isinstance(new, KeyFile) and not new.path.exists():
        new_key_file(new.path)
    slot = new_slot(new, argon2)
    new_key = derive(slot, new)
    conn = driver.connect(db, key, isolation_level=None)
    try:
        _write(home / PENDING_FILE, slot.dumps())
        driver.rekey(conn, new_key)
    finally:
        conn.close()
    os.replace(home / PENDING_FILE, home / KEYSLOT_FILE)
