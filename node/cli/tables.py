"""The CLI's side of the table writers (`yimen.node.tables`): `--csv` / `--xlsx` options,
one output at a time, and the table on the screen. A command declares its columns once
and hands its rows to `show`, which prints them or writes the export its options asked for."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import click

from yimen.node.cli.output import table
from yimen.node.cli.util import lang
from yimen.node.errors import NodeError
from yimen.node.tables import Column, cells, write_csv, write_xlsx


class OutputsConflict(NodeError):
    """More than one output (--json, --csv, --xlsx) was asked for at once."""

    code = "outputs_conflict"


def export_options(f: Callable) -> Callable:
    """`--csv` (to stdout) and `--xlsx FILE`, for a command that ends in `show`."""
    f = click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     metavar="FILE", help="Write an Excel file (.xlsx).")(f)
    return click.option("--csv", "as_csv", is_flag=True, help="Print CSV (UTF-8 with BOM, for Excel).")(f)


def one_output(as_json: bool, as_csv: bool, xlsx: Path | None) -> None:
    """Refuse two outputs at once before anything is read or written."""
    asked = [name for name, on in (("--json", as_json), ("--csv", as_csv), ("--xlsx", xlsx)) if on]
    if len(asked) > 1:
        raise OutputsConflict(f"{'、'.join(asked)} 只能选一个", f"choose one of {', '.join(asked)}")


def show(ctx: click.Context, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], *,
         as_csv: bool = False, xlsx: Path | None = None, sheet: tuple[str, str] = ("表", "table")) -> bool:
    """Write the export asked for (CSV or .xlsx) and return True, or return False to let
    the command print its screen (see `text`). `sheet` is the sheet's (zh, en) name."""
    language = lang(ctx)
    if as_csv:
        sys.stdout.flush()  # bytes go under the text layer: nothing of it may come after them
        write_csv(sys.stdout.buffer, rows, columns, language)
        return True
    if xlsx is not None:
        n = write_xlsx(xlsx, rows, columns, language, sheet[0] if language == "zh" else sheet[1])
        click.echo(f"已导出 {n} 条到 {xlsx}" if language == "zh" else f"exported {n} rows to {xlsx}")
        return True
    return False


def text(ctx: click.Context, rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """The table for the screen, lined up for Chinese text."""
    language = lang(ctx)
    columns = [c for c in columns if c.screen]
    keys = [str(i) for i in range(len(columns))]
    shown = [dict(zip(keys, line)) for line in list(cells(rows, columns, language))[1:]]
    return table(shown, [(k, c.heading(language)) for k, c in zip(keys, columns)])
