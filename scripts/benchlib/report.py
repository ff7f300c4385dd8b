"""Results: targets and their marks, percentiles and medians, the table, the FINAL line.

A benchmark never fails on a missed target: it marks it (`MISSED`) in its table. Its last
line is `FINAL ` and one JSON object, for tools that collect the results.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Callable

OPS = {">=": lambda v, b: v >= b, "<=": lambda v, b: v <= b, "<": lambda v, b: v < b}


class Targets:
    """key -> (comparison, bound, how the target is shown)."""

    def __init__(self, spec: dict[str, tuple[str, float, str]]):
        self.spec = spec

    def __iter__(self):
        return iter(self.spec)

    def bound(self, key: str) -> float:
        return self.spec[key][1]

    def meets(self, key: str, value: float) -> bool:
        op, bound, _ = self.spec[key]
        return OPS[op](value, bound)

    def mark(self, key: str, value: float, width: int = 0) -> str:
        """The target as shown (padded to `width`), then `ok` or `MISSED`."""
        return f"{self.spec[key][2].ljust(width)}  {'ok' if self.meets(key, value) else 'MISSED'}"

    def missed(self, result: dict[str, Any]) -> list[str]:
        return [k for k in self.spec if not self.meets(k, result[k])]


def pct(values: list[float], p: float) -> float:
    """The `p`th percentile of `values` (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, int]:
    """Median wall ms of `repeat` calls, and the size of the last result."""
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
        size = len(out["rows"]) if isinstance(out, dict) else len(out)
    return statistics.median(times), size


def mb(kb: float) -> float:
    return round(kb / 1024, 1)


def rounded(d: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    """`d` with its floats rounded."""
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def print_table(title: str, rows: list[tuple[str, str, str]], rule_extra: int = 24) -> None:
    """`title`, then the rows (measure, value, target) in aligned columns."""
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    print(title)
    print(f"{'measure'.ljust(w0)}  {'value'.ljust(w1)}  target")
    print("-" * (w0 + w1 + rule_extra))
    for a, b, c in rows:
        print(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}")


def print_final(result: dict[str, Any]) -> None:
    print("FINAL " + json.dumps(result, ensure_ascii=False, separators=(",", ":")))
