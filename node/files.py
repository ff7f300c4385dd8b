"""Files and folders named by a user (a material's scan, a bundle, a catalog, a backup
folder, a log file) that cannot be used: one sentence naming the file and the reason in
the user's language, never an `OSError` traceback. The CLI's boundary turns any `OSError`
that names a file into this; a caller that knows what the file is for says so."""

from __future__ import annotations

from yimen.node.errors import NodeError
from yimen.schema.errors import os_reason


class FileUnusable(NodeError):
    """A file or folder the user named cannot be read or written."""

    code = "file_unusable"


def unusable(e: OSError, what_zh: str = "路径", what_en: str = "the path") -> FileUnusable:
    """`e` as one sentence: what the file is for, its path and why it cannot be used."""
    path = e.filename if e.filename is not None else ""
    zh, en = os_reason(e)
    return FileUnusable(f"{what_zh} {path} {zh}", f"{what_en} {path} {en}")
