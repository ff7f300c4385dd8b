"""Progress for long work: a tqdm bar on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm


@contextmanager
def progress(total: int, desc: str, stream=None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`. Off a terminal, print a line at each tenth and at the end."""
    stream = stream or sys.stderr
    if stream.isatty():
        with tqdm(total=total, desc=desc, file=stream, unit="") as bar:
            yield bar.update
        return
    done, next_mark = 0, max(1, total // 10)

    def advance(n: int) -> None:
        nonlocal done, next_mark
        done += n
        if done >= next_mark and done < total:
            print(f"{desc}: {done}/{total}", file=stream, flush=True)
            next_mark += max(1, total // 10)

    yield advance
    print(f"{desc}: {done}/{total} done", file=stream, flush=True)
