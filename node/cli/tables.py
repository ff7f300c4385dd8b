"""One table, three outputs: the screen, CSV and Excel. A command declares its columns once
(`Column`: key, Chinese and English heading, how a value reads in Chinese) and hands its
rows to `show`, which prints them or writes the export its options asked for.

- CSV is UTF-8 with a byte-order mark (Excel on Windows reads a file without one in the
  local code page and shows Chinese as mojibake), CRLF line ends, and a header row even
  when there are no rows, so an empty report still says what it would hold.
- `.xlsx` goes through xlsxwriter: a bold, frozen header row with a filter, columns sized
  to their text (a Chinese character is two columns wide), dates as the same `YYYY-MM-DD`
  text the screen shows (one form everywhere; Excel sorts and filters it as is).
- A text cell Excel would read as a formula (`=`, `+`, `-`, `@`, tab, CR first) is written as
  text: xlsx cells are always typed strings, and in CSV such a cell gets a leading `'`
  (OWASP's advice), because names and reasons come from clerks and from other nodes.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping, Sequence

import click
import xlsxwriter

from yimen.node.cli.output import table, width
from yimen.node.cli.util import lang
from yimen.node.errors import NodeError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WIDEST = 60  # columns in an .xlsx: a long reason wraps the sheet no wider than this


class ExportFailed(NodeError):
    """The export file could not be written."""

    code = "export_failed"


class OutputsConflict(NodeError):
    """More than one output (--json, --csv, --xlsx) was asked for at once."""

    code = "outputs_conflict"


@dataclass(frozen=True)
class Column:
    """A column: the row key, its headings, Chinese names of its values (used in zh mode
    only), a formatting applied in both languages, and whether the screen shows it (an
    export always holds every column)."""

    key: str
    zh: str
    en: str
    zh_names: Mapping[str, str] | None = None
    fmt: Callable[[Any], Any] | None = None
    screen: bool = True

    def heading(self, language: str) -> str:
        return self.zh if language == "zh" else self.en

    def cell(self, row: Mapping[str, Any], language: str) -> Any:
        v = row.get(self.key)
        if self.fmt is not None and v is not None:
            v = self.fmt(v)
        if self.zh_names is not None and language == "zh" and v is not None:
            v = self.zh_names.get(v, v)
        return v


def cells(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], language: str) -> Iterable[list[Any]]:
    """The header row, then each row's cells as the clerk reads them."""
    yield [c.heading(language) for c in columns]
    for r in rows:
        yield [c.cell(r, language) for c in columns]


def _csv_text(v: Any) -> str:
    text = "" if v is None else str(v)
    return "'" + text if isinstance(v, str) and text.startswith(FORMULA_START) else text


def write_csv(out: BinaryIO, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], language: str) -> int:
    """Write the table as CSV (UTF-8 with a BOM) to a binary stream; returns the row count."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer, n = csv.writer(text), -1
        for n, line in enumerate(cells(rows, columns, language)):
            writer.writerow([_csv_text(v) for v in line])
        return n
    finally:
        text.detach()  # the stream is the caller's (stdout): leave it open


def write_xlsx(path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], language: str,
               sheet: str) -> int:
    """Write the table as one sheet of an .xlsx file; returns the row count."""
    try:
        # opened here, so a path that cannot be written is refused before any row is read
        f = open(path, "wb")
    except OSError as e:
        raise ExportFailed(f"无法写入文件 {path}：{e.strerror}", f"cannot write the file {path}: {e.strerror}") from e
    with f:
        # constant_memory: rows go to a temporary file as they are written, so a city's list fits
        book = xlsxwriter.Workbook(f, {"constant_memory": True})
        ws = book.add_worksheet(sheet)
        bold = book.add_format({"bold": True})
        widths = [0] * len(columns)
        n = -1
        for n, line in enumerate(cells(rows, columns, language)):
            for i, v in enumerate(line):
                _put(ws, n, i, v, bold if n == 0 else None)
                widths[i] = max(widths[i], width("" if v is None else str(v)))
        for i, w in enumerate(widths):
            ws.set_column(i, i, min(w + 2, WIDEST))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(n, 0), len(columns) - 1)
        book.close()
    return n


def _put(ws: Any, r: int, c: int, v: Any, fmt: Any) -> None:
    # numbers stay numbers; everything else is typed text, never a formula or a URL
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        ws.write_number(r, c, v, fmt)
    elif v is not None and v != "":
        ws.write_string(r, c, str(v), fmt)


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
