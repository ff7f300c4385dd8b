"""One table, three outputs: the screen, CSV and Excel. A caller declares its columns once
(`Column`: key, Chinese and English heading, how a value reads in Chinese) and hands its
rows to a writer; the CLI (`yimen.node.cli.tables`) and the web pages share these.

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
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping, NamedTuple, Sequence

import xlsxwriter

from yimen.node.errors import NodeError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WIDEST = 60  # columns in an .xlsx: a long reason wraps the sheet no wider than this


class ExportFailed(NodeError):
    """The export file could not be written."""

    code = "export_failed"


def width(text: str) -> int:
    """Columns `text` takes on a screen or in a sheet (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


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


class Sheet(NamedTuple):
    """One table of a file of several: its (zh, en) name (an .xlsx sheet's name, a title
    line in a CSV), its rows and its columns."""

    name: tuple[str, str]
    rows: Iterable[Mapping[str, Any]]
    columns: Sequence[Column]

    def title(self, language: str) -> str:
        return self.name[0] if language == "zh" else self.name[1]


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
    return _csv(out, [Sheet(("", ""), rows, columns)], language, titled=False)[0]


def write_csv_sheets(out: BinaryIO, sheets: Sequence[Sheet], language: str) -> list[int]:
    """Write several tables as one CSV (UTF-8 with a BOM), each under a line holding its
    name, an empty line between two; returns each one's row count."""
    return _csv(out, sheets, language, titled=True)


def _csv(out: BinaryIO, sheets: Sequence[Sheet], language: str, titled: bool) -> list[int]:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer, counts = csv.writer(text), []
        for i, s in enumerate(sheets):
            if titled:
                if i:
                    writer.writerow([])
                writer.writerow([_csv_text(s.title(language))])
            n = -1
            for n, line in enumerate(cells(s.rows, s.columns, language)):
                writer.writerow([_csv_text(v) for v in line])
            counts.append(n)
        return counts
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
        return write_book(f, [Sheet((sheet, sheet), rows, columns)], language)[0]


def write_book(out: BinaryIO, sheets: Sequence[Sheet], language: str) -> list[int]:
    """Write the tables as the sheets of one .xlsx to a binary stream; returns each one's
    row count."""
    # constant_memory: rows go to a temporary file as they are written, so a city's list fits
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    bold = book.add_format({"bold": True})
    counts = [_sheet(book.add_worksheet(s.title(language)), bold, s, language) for s in sheets]
    book.close()
    return counts


def _sheet(ws: Any, bold: Any, sheet: Sheet, language: str) -> int:
    widths = [0] * len(sheet.columns)
    n = -1
    for n, line in enumerate(cells(sheet.rows, sheet.columns, language)):
        for i, v in enumerate(line):
            _put(ws, n, i, v, bold if n == 0 else None)
            widths[i] = max(widths[i], width("" if v is None else str(v)))
    for i, w in enumerate(widths):
        ws.set_column(i, i, min(w + 2, WIDEST))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 0), len(sheet.columns) - 1)
    return n


def _put(ws: Any, r: int, c: int, v: Any, fmt: Any) -> None:
    # numbers stay numbers; everything else is typed text, never a formula or a URL
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        ws.write_number(r, c, v, fmt)
    elif v is not None and v != "":
        ws.write_string(r, c, str(v), fmt)
