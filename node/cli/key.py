"""`yimen key change`: what unlocks the node's encrypted database (in the `key` group of
`trust`, beside rotation)."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node import home, vault
from yimen.node.cli.trust import key_group
from yimen.node.cli.util import asker, h
from yimen.node.server.lock import HomeLock


@key_group.command("change")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Unlock with this key file from now on (created if missing); without it, a new passphrase is asked twice.")
@click.pass_context
def change(ctx: click.Context, key_file: Path | None) -> None:
    """Re-encrypt the node's database under a new passphrase or key file (stop `serve` first).

    The current secret unlocks it as usual (YIMEN_KEY_FILE, YIMEN_PASSPHRASE or the prompt).

    \b
    Example:
        yimen key change --key-file /media/usb/yimen.key
    """
    folder = Path(ctx.find_root().obj["home"])
    ask = asker(ctx)
    if key_file is None and ask is None:
        raise click.ClickException(h(ctx, "新口令只能在终端输入（或用 --key-file 改用密钥文件）",
                                     "a new passphrase can only be typed at a terminal (or use --key-file)"))
    lock = HomeLock(folder)
    lock.acquire()  # no serve or sync may have the database open meanwhile
    try:
        key = vault.unlock(folder, ask=ask) if vault.has_slot(folder) else None
        home.open_node(folder, ask=ask, key=key).close()  # checks the key; a node from before is encrypted first
        key = key or vault.unlock(folder, ask=ask)
        new = vault.KeyFile(key_file) if key_file else vault.Passphrase(ask(True))  # type: ignore[misc]
        vault.change(folder, folder / home.DB_FILE, key, new)
    finally:
        lock.release()
    click.echo(h(ctx, f"已更换 {folder} 中节点的解锁方式，数据库已重新加密",
                 f"the node in {folder} now unlocks with the new {'key file' if key_file else 'passphrase'}; "
                 "its database was re-encrypted"))
