"""Backing up a node and restoring it.

A backup is a folder (0700) holding the three files of a home (0600): the database as one
consistent copy (`VACUUM INTO`: SQLite writes the database as of one transaction, whatever
the server is doing meanwhile, WAL included; copying the file by hand while the node runs
can copy half a write), its keyslot and the config. The copy is encrypted with the node's
own key (SQLCipher's `VACUUM INTO` keeps the key; checked, a plain copy is never left
behind), so a backup opens with the same key file or passphrase as the node, and holds the
node's private keys only inside the encrypted database. Restoring puts them back into a
home that no `serve` or `sync` process is using, and drops any write-ahead log left there
(an old log replayed over the restored file would corrupt it). A backup from before
encryption (`node.key`, a plain database) restores too; the node's next start encrypts it.

A restored node is older than the chain's copy of it: the chain may hold seals and cases
it made after the backup. Seal numbers never fall below the wall clock (see
`yimen.sync.positions`), and the first exchange with its parent tells it the rest (the
parent holds its last seal number and its highest receipt numbers). A case's receipt
number has no such floor, so a restored node accepts no case until an ancestor has told
it the numbers it holds (`positions.UNCONFIRMED`): one `yimen sync` or one bundle from
the parent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from yimen.node import config as config_mod
from yimen.node import identity, vault
from yimen.node.audit import log as audit_log
from yimen.node.errors import NodeError
from yimen.node.home import DB_FILE, KEYSLOT_FILE, Node
from yimen.node.services import audit
from yimen.node.server.lock import HomeLock
from yimen.node.storage import NODE_SCHEMA
from yimen.schema import region
from yimen.sync import positions
from yimen.sync.store import Store, driver
from yimen.schema.errors import os_reason

FILES = (DB_FILE, KEYSLOT_FILE, config_mod.CONFIG_FILE)
LEGACY_FILES = (DB_FILE, identity.KEY_FILE, config_mod.CONFIG_FILE)  # a backup from before encryption


class BackupError(NodeError):
    """A backup could not be written, or a folder is not a backup of this node."""

    code = "backup_error"


def backup(node: Node, folder: Path | str) -> dict[str, Any]:
    """Write a backup of `node` into `folder` (new or empty; made 0700: it holds the key)."""
    folder = Path(folder)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise BackupError(f"备份目录 {folder} 不是空的", f"the backup folder {folder} is not empty")
        os.chmod(folder, 0o700)  # an empty folder made beforehand, world-readable
        driver.create_private(folder / DB_FILE)  # empty, as VACUUM INTO wants it, and 0600 from the start
        node.store.conn.execute("VACUUM INTO ?", (str(folder / DB_FILE),))
        if driver.is_plain(folder / DB_FILE):  # a driver that dropped the key: never leave a plain copy
            (folder / DB_FILE).unlink()
            raise BackupError("备份未加密，已删除", "the backup came out unencrypted and was deleted")
        for name in FILES[1:]:
            shutil.copy2(node.home / name, folder / name)
            os.chmod(folder / name, 0o600)
    except OSError as e:
        raise BackupError(f"无法写入备份 {folder}：{os_reason(e)[0]}", f"cannot write the backup {folder}: {os_reason(e)[1]}") from e
    audit.record(node, "backup", None, folder=str(folder))  # after the copy, which VACUUM INTO makes outside any transaction
    return {"folder": str(folder), "node_id": node.node_id, "made_at": node.now(),
            "bytes": (folder / DB_FILE).stat().st_size}


def restore(home: Path | str, folder: Path | str, at: str, secret: vault.Secret | None = None,
            ask: vault.Ask | None = None) -> dict[str, Any]:
    """Put the backup in `folder` back into `home` (which holds no node, or this one, not
    running) and mark it restored (see the module's docstring). `at`: the time to note;
    `secret`/`ask`: what unlocks the backup, as for `vault.unlock`."""
    home, folder = Path(home), Path(folder)
    legacy = not (folder / KEYSLOT_FILE).exists() and all((folder / name).is_file() for name in LEGACY_FILES)
    files = LEGACY_FILES if legacy else FILES
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise BackupError(f"{folder} 不是一门节点的备份（缺少 {'、'.join(missing)}）",
                          f"{folder} is not a Yimen node backup (missing {', '.join(missing)})")
    node_id = config_mod.load(folder, environ={}).region_code
    if (home / config_mod.CONFIG_FILE).exists() and config_mod.load(home, environ={}).region_code != node_id:
        raise BackupError(f"{home} 中是另一个节点，不能恢复 {node_id} 的备份",
                          f"{home} holds another node: the backup of {node_id} cannot be restored there")
    key = None if legacy else vault.unlock(folder, secret, ask)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    lock = HomeLock(home)
    lock.acquire()  # no serve or sync may be using the home meanwhile
    try:
        incoming = home / f"{DB_FILE}.restoring"
        driver.create_private(incoming)
        shutil.copyfile(folder / DB_FILE, incoming)
        waits = _mark_restored(incoming, node_id, at, key)
        for suffix in ("-wal", "-shm"):
            (home / f"{DB_FILE}{suffix}").unlink(missing_ok=True)
        os.replace(incoming, home / DB_FILE)
        for name in (identity.KEY_FILE, KEYSLOT_FILE):  # what unlocks the home is the backup's now
            (home / name).unlink(missing_ok=True)
        for name in files[1:]:
            shutil.copy2(folder / name, home / name)
            os.chmod(home / name, 0o600)
    except OSError as e:
        raise BackupError(f"无法恢复备份到 {home}：{os_reason(e)[0]}", f"cannot restore the backup into {home}: {os_reason(e)[1]}") from e
    finally:
        lock.release()
    return {"home": str(home), "node_id": node_id, "restored_at": at, "waits_for_parent": waits}


def _mark_restored(path: Path, node_id: str, at: str, key: bytes | None) -> bool:
    """A node enrolled with an ancestor accepts no case until an ancestor has told it its
    numbers (the city has none: nobody else holds its cases). Returns whether it waits."""
    store = Store(path, schemas=[NODE_SCHEMA], key=key)
    try:
        waits = any(store.keys.public_key(rc) for rc in region.ancestors(node_id))
        with store.transaction():
            if waits:
                store.set_meta(positions.UNCONFIRMED, at)
            audit_log.append(store, node_id, at, "restore", None, None, None, {"waits_for_parent": waits})
        return waits
    finally:
        store.close()
