"""A node's home folder (0700): `node.json`, the encrypted database `yimen.db` (which also
holds the node's private keys, see `identity`) and `keyslot.json` (how its key is derived,
see `vault`); every file in it 0600.

`Node` bundles what every service needs: the config, the store, the calendar and a clock.
Services take a `Node` and never open files of their own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from yimen.node import config as config_mod
from yimen.node import identity, vault
from yimen.node.config import Config
from yimen.node.errors import AlreadyInitialised, NotInitialised
from yimen.node.projections import recount
from yimen.node.storage import NODE_SCHEMA
from yimen.node.workdays import load_calendar
from yimen.schema import region
from yimen.schema.calendar import WorkCalendar
from yimen.schema.text import Text
from yimen.sync.store import Store, driver

log = logging.getLogger("yimen.node")
CHINA_TZ = timezone(timedelta(hours=8), "CST")
DB_FILE = "yimen.db"
KEYSLOT_FILE = vault.KEYSLOT_FILE
DB_WORKER = "_db_worker"  # the attribute holding a node's database thread (see replication.in_db)


def china_now() -> datetime:
    return datetime.now(CHINA_TZ)


class SettableClock:
    """A clock that stands still until moved: for simulations (demo, benchmarks) and tests
    that replay days of work in seconds."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Node:
    """An open node. Close it (or use it as a context manager) when done."""

    home: Path
    config: Config
    store: Store
    calendar: WorkCalendar
    clock: Callable[[], datetime] = field(default=china_now)
    encrypted_now: bool = False  # this open encrypted a node from before (see `open_node`)
    signed_in: str | None = None  # the clerk a CLI command acts for (see cli.util.signed_in), for the audit log

    @property
    def region_code(self) -> str:
        return self.config.region_code

    @property
    def node_id(self) -> str:
        """A node is named by its region code: a region code has one node."""
        return self.config.region_code

    @property
    def level(self) -> str:
        return region.level(self.config.region_code)

    def now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    @property
    def keys(self) -> identity.Keys:
        """The node's private keys, read once."""
        keys = vars(self).get("_keys")
        if keys is None:
            keys = identity.load(self.store)
            object.__setattr__(self, "_keys", keys)
        return keys

    def public_key_hex(self) -> str:
        return self.keys.public_key.hex()

    def close(self) -> None:
        """End the database thread, then close the connection: a connection closed under a
        query that thread is running crashes the process (a segfault, not an error). The
        running call finishes, queued ones are dropped, later ones are refused; closing
        twice is harmless."""
        worker = vars(self).get(DB_WORKER)
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def init(home: Path, region_code: str, name: str, parent_url: str = "",
         clock: Callable[[], datetime] = china_now, secret: vault.Secret | None = None,
         ask: vault.Ask | None = None) -> Node:
    """Create a node in `home` (which must not already hold one) and open it. Its key
    comes from `secret`, else the sources `vault` lists (`ask`: a terminal's prompt)."""
    home = Path(home)
    if (home / config_mod.CONFIG_FILE).exists() or (home / DB_FILE).exists():
        raise AlreadyInitialised(f"{home} 已有节点", f"{home} already holds a node")
    cfg = Config(region_code=region_code, name=name, parent_url=parent_url,
                 created_at=clock().isoformat(timespec="seconds"))
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    key = vault.create(home, secret, ask)
    store = Store(home / DB_FILE, schemas=[NODE_SCHEMA], key=key)
    try:
        with store.transaction():
            identity.create(store, cfg.region_code)
    finally:
        store.close()
    config_mod.save(home, cfg)  # last: a node.json is what makes the folder a node
    return open_node(home, clock=clock, key=key)


def open_node(home: Path, clock: Callable[[], datetime] = china_now, secret: vault.Secret | None = None,
              ask: vault.Ask | None = None, key: bytes | None = None) -> Node:
    """Open the node in `home`, unlocked with `key`, else with the key of `secret` or of
    the sources `vault` lists. A node from before encryption (a plain database, no
    keyslot) is encrypted in place first, its `node.key` moved into the database."""
    home = Path(home)
    if not (home / config_mod.CONFIG_FILE).exists():
        raise NotInitialised(f"{home} 没有节点，请先运行 yimen init",
                             f"no node in {home}; run `yimen init` first")
    cfg = config_mod.load(home)
    for path in (home, home / config_mod.CONFIG_FILE):  # a node from before was world-readable
        os.chmod(path, 0o700 if path == home else 0o600)
    db = home / DB_FILE
    if key is None:  # without a keyslot, only a node from before gets a new one: an encrypted file needs its own
        legacy = not vault.has_slot(home) and (driver.is_plain(db) or not db.exists())
        key = vault.create(home, secret, ask) if legacy else vault.unlock(home, secret, ask)
    encrypting = driver.is_plain(db)
    if encrypting:
        driver.encrypt_plain(db, key)
        log.warning(Text("已加密 %s 中未加密的旧节点数据库", "encrypted the unencrypted database of the node in %s"), home)
    store = _store(home, key, secret, ask)
    try:
        identity.adopt(home, store)
        calendar = load_calendar(cfg.calendar_file)
        recount(store, calendar)
    except BaseException:
        store.close()
        raise
    return Node(home, cfg, store, calendar, clock, encrypting)


def _store(home: Path, key: bytes, secret: vault.Secret | None, ask: vault.Ask | None) -> Store:
    """The node's store; if a change of its secret was cut short after re-encrypting the
    database (`vault.change`), the slot it left beside the keyslot becomes the keyslot."""
    pending = home / vault.PENDING_FILE
    try:
        store = Store(home / DB_FILE, schemas=[NODE_SCHEMA], key=key)
    except driver.WrongKey:
        if not pending.exists():
            raise
        store = Store(home / DB_FILE, schemas=[NODE_SCHEMA], key=vault.unlock(home, secret, ask, pending=True))
        os.replace(pending, home / KEYSLOT_FILE)
        return store
    pending.unlink(missing_ok=True)  # cut short before re-encrypting: the old slot holds
    return store


def database_key(home: Path) -> bytes:
    """The key of the node in `home`, from the usual sources (tests, benchmarks)."""
    return vault.unlock(Path(home))


def connect(home: Path, **kw) -> driver.Connection:
    """A second connection to the database of the node in `home` (tests, benchmarks)."""
    return driver.connect(Path(home) / DB_FILE, database_key(home), **kw)
