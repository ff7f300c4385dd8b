"""Files and folders named by a user (a material's scan, a bundle, a catalog, a backup
folder, a log file) that cannot be used: one sentence naming the file and the reason in
the user's language, never an `OSError` traceback. The CLI's boundary turns any `OSError`
that names a file into this; a caller that knows what the file is for says so."""

from __future__ import annotations

import errno

from yimen.node.errors import NodeError

REASONS = {  # errno -> (zh, en)
    errno.ENOENT: ("不存在", "does not exist"),
    errno.EISDIR: ("是文件夹，不是文件", "is a folder, not a file"),
    errno.ENOTDIR: ("路径中有一项不是文件夹", "has a part that is not a folder"),
    errno.EACCES: ("没有访问权限", "is not accessible (permission denied)"),
    errno.EPERM: ("没有访问权限", "is not accessible (operation not permitted)"),
    errno.EEXIST: ("已存在", "already exists"),
    errno.ENOSPC: ("所在磁盘已满", "is on a full disk"),
    errno.EROFS: ("位于只读磁盘上", "is on a read-only disk"),
    errno.ENAMETOOLONG: ("名称过长", "has too long a name"),
    errno.ENOTEMPTY: ("不是空文件夹", "is not an empty folder"),
    errno.EIO: ("读写出错（磁盘或 U 盘可能已损坏）", "could not be read or written (the disk may be damaged)"),
}


class FileUnusable(NodeError):
    """A file or folder the user named cannot be read or written."""

    code = "file_unusable"


def unusable(e: OSError, what_zh: str = "文件", what_en: str = "the file") -> FileUnusable:
    """`e` as one sentence: what the file is for, its path and why it cannot be used."""
    path = e.filename if e.filename is not None else ""
    name = errno.errorcode.get(e.errno or 0, "?")
    zh, en = REASONS.get(e.errno or 0, (f"无法读写（{name}）", f"cannot be used ({e.strerror or name})"))
    return FileUnusable(f"{what_zh} {path} {zh}", f"{what_en} {path} {en}")
