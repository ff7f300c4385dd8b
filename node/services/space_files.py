"""The files of space documents at this node: stored as chunks in the node's database
(`store.chunks`), read back whole and checked."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from yimen.node.files import unusable
from yimen.node.home import Node
from yimen.personal_space import files
from yimen.personal_space.documents import FileRef
from yimen.personal_space.files import FileDamaged


def store_file(node: Node, path: Path, name: str | None = None, mime: str = "") -> FileRef:
    """Store a file's chunks (in the caller's transaction, or one of its own) and return
    its reference for a space document's `files` map."""
    try:
        with open(path, "rb") as f, node.store.transaction():
            ref = files.split(f, name or Path(path).name, mime, node.store.chunks.put)
            if ref.size == 0:  # (in the transaction: its one empty chunk is not kept either)
                raise files.EmptyFile(f"文件 {path} 是空文件：请重新扫描", f"{path} is an empty file: scan it again")
            return ref
    except OSError as e:
        raise unusable(e, "文件", "the file") from e


def missing(node: Node, ref: FileRef) -> list[str]:
    """The chunks of `ref` not held here, in file order."""
    held = node.store.chunks.held(ref.chunks)
    return [c for c in ref.chunks if c not in held]


def write_out(node: Node, ref: FileRef, out: BinaryIO) -> int:
    """Write the file whole to `out`, checked (FileDamaged if a chunk is missing or wrong);
    returns its size."""
    if gaps := missing(node, ref):
        raise FileDamaged(f"文件 {ref.name} 尚缺 {len(gaps)} 个分块", f"{ref.name} still lacks {len(gaps)} chunk(s)")
    size = 0
    for data in files.join(ref, (node.store.chunks.get(c) for c in ref.chunks)):
        out.write(data)
        size += len(data)
    return size
