"""One long-running process per home: a lock held by `yimen serve` (and `yimen sync`
without --once) for its whole life.

Two such processes on one home both sync with the parent from one feed, and both would
answer children; they must not start side by side. The lock is `fcntl.flock` on a file in
the home: the kernel drops it with the last descriptor, so it is released on any exit,
even SIGKILL, and a lock file left behind by a dead process never blocks the next one (so
the file is never removed: removing it would let two processes lock two different files).
The holder writes its pid in the file, for the message the next one prints.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from yimen.node.errors import NodeError
from yimen.schema.errors import os_reason

LOCK_FILE = "yimen.lock"


class HomeBusy(NodeError):
    """Another `serve` or `sync` process runs on this home."""

    code = "home_busy"


class HomeLock:
    """`with HomeLock(home):` holds the home's lock, or raises `HomeBusy` at once."""

    def __init__(self, home: Path):
        self.path = Path(home) / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
        except OSError as e:
            raise NodeError(f"无法创建锁文件 {self.path}：{os_reason(e)[0]}",
                            f"cannot create the lock file {self.path}: {os_reason(e)[1]}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise self._busy(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def _busy(self, holder: str) -> HomeBusy:
        home, pid = self.path.parent, f"（pid {holder}）" if holder.isdigit() else ""
        return HomeBusy(f"数据目录 {home} 已有另一个 yimen 进程{pid}在运行，同一数据目录只能运行一个 serve 或 sync",
                        f"another yimen process{f' (pid {holder})' if holder.isdigit() else ''} is already "
                        f"running on {home}; only one serve or sync may run per home")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
