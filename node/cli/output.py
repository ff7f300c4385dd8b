"""Plain-text tables that line up Chinese text (two columns per wide character)."""

from __future__ import annotations

from typing import Any, Sequence

from yimen.node.tables import width


def _pad(text: str, n: int) -> str:
    return text + " " * (n - width(text))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """`columns` is a list of (key, heading). None prints as empty."""
    cells = [[h for _, h in columns]] + [
        ["" if r.get(k) is None else str(r.get(k)) for k, _ in columns] for r in rows
    ]
    widths = [max(width(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(_pad(c, w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """Aligned `label: value` lines."""
    n = max(width(label) for label, _ in pairs)
    return "\n".join(f"{_pad(label, n)}  {'' if v is None else v}" for label, v in pairs)
