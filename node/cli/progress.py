"""Showing a service's progress: a tqdm bar per stage on a terminal, plain lines at each
tenth otherwise (logs, CI). Services report `(stage, done, total)` (see
`yimen.node.services.Progress`); only the CLI prints."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from tqdm import tqdm

from yimen.node.services import Progress

STAGES = {
    "catalog": ("导入事项目录", "catalog import"),
    "export": ("导出数据包", "bundle export"),
    "import": ("导入数据包", "bundle import"),
    "export_files": ("导出文件分块", "bundle export: files"),
    "import_files": ("导入文件分块", "bundle import: files"),
    "fetch_files": ("获取文件", "fetch files"),
    "apply": ("收到的签封入库", "apply received seals"),
    "rebuild": ("重建视图", "rebuild"),
    "audit": ("核验审计日志", "audit verify"),
}
DONE = {"zh": "完成", "en": "done"}


class _Shown:
    def __init__(self, lang: str, stream: TextIO):
        self.lang, self.stream = lang, stream
        self.stage: str | None = None
        self.bar: tqdm | None = None
        self.done = self.total = self.next_mark = 0

    def label(self, stage: str) -> str:
        zh, en = STAGES.get(stage, (stage, stage))
        return zh if self.lang == "zh" else en

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.done, self.total, self.next_mark = stage, 0, total, max(1, total // 10)
            if self.stream.isatty():
                self.bar = tqdm(total=total, desc=self.label(stage), file=self.stream, unit="")
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif self.next_mark <= done < self.total:
            print(f"{self.label(stage)}: {done}/{self.total}", file=self.stream, flush=True)
            self.next_mark = done + max(1, self.total // 10)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.stage is not None:
            print(f"{self.label(self.stage)}: {self.done}/{self.total} {DONE[self.lang]}", file=self.stream, flush=True)
        self.stage = None


@contextmanager
def shown(lang: str = "zh", stream: TextIO | None = None) -> Iterator[Progress]:
    """A progress callback for services that shows each stage until the block ends."""
    s = _Shown(lang, stream or sys.stderr)
    try:
        yield s
    finally:
        s.close()


@contextmanager
def counted(total: int, stage: str, lang: str = "en") -> Iterator[Callable[[int], None]]:
    """`advance(n)` for a loop of `total` steps (benchmarks, scripts), shown as a stage."""
    with shown(lang) as show:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            show(stage, done, total)
        show(stage, 0, total)
        yield advance
