"""The root of every Yimen error.

Each error carries a stable machine code (for HTTP answers and logs), a Chinese sentence
for the clerk and an English one for logs and English users. Packages define their own
root below this one (`SchemaError`, `SyncError`, `NodeError`)."""

from __future__ import annotations

import errno


class YimenError(Exception):
    """Something a user asked for cannot be done; nothing was changed."""

    code = "yimen_error"

    def __init__(self, zh: str, en: str | None = None):
        super().__init__(en or zh)
        self.zh = zh
        self.en = en or zh

    def text(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


class SchemaError(YimenError):
    """Input does not satisfy a domain rule (bad code, bad ID number, illegal transition)."""

    code = "invalid_input"


OS_REASONS = {  # errno -> (zh, en)
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


def os_reason(e: OSError) -> tuple[str, str]:
    """Why a file could not be used, in Chinese and English (an `OSError`'s own text is
    English only, and must not reach a Chinese sentence)."""
    if e.errno is None:  # raised by code, with its own words
        return f"无法读写（{e}）", str(e)
    name = errno.errorcode.get(e.errno, "?")
    return OS_REASONS.get(e.errno, (f"无法读写（{name}）", f"cannot be used ({e.strerror or name})"))
