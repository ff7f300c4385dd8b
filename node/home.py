"""A node's home folder: `node.json`, the keys `node.key` (see `identity`), the database `yimen.db`.

`Node` bundles what every service needs: the config, the store, the calendar and a clock.
Services take a `Node` and never open files of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from yimen.node import config as config_mod
from yimen.node import identity
from yimen.node.config import Config
from yimen.node.errors import AlreadyInitialised, NotInitialised
from yimen.node.projections import recount
from yimen.node.storage import NODE_SCHEMA
from yimen.node.workdays import load_calendar
from yimen.schema import region
from yimen.schema.calendar import WorkCalendar
from yimen.sync.store import Store

CHINA_TZ = timezone(timedelta(hours=8), "CST")
DB_FILE = "yimen.db"
KEY_FILE = identity.KEY_FILE
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
            keys = identity.load(self.home)
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
         clock: Callable[[], datetime] = china_now) -> Node:
    """Create a node in `home` (which must not already hold one) and open it."""
    home = Path(home)
    if (home / config_mod.CONFIG_FILE).exists():
        raise AlreadyInitialised(f"{home} 已有节点", f"{home} already holds a node")
    cfg = Config(region_code=region_code, name=name, parent_url=parent_url,
                 created_at=clock().isoformat(timespec="seconds"))
    home.mkdir(parents=True, exist_ok=True)
    identity.create(home, cfg.region_code)
    config_mod.save(home, cfg)
    return open_node(home, clock=clock)


def open_node(home: Path, clock: Callable[[], datetime] = china_now) -> Node:
    home = Path(home)
    if not (home / config_mod.CONFIG_FILE).exists():
        raise NotInitialised(f"{home} 没有节点，请先运行 yimen init",
                             f"no node in {home}; run `yimen init` first")
    cfg = config_mod.load(home)
    store = Store(home / DB_FILE, schemas=[NODE_SCHEMA])
    calendar = load_calendar(cfg.calendar_file)
    recount(store, calendar)
    return Node(home, cfg, store, calendar, clock)
