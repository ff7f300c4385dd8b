"""The one table writer: CSV reads back as written (BOM, header, Chinese), a cell Excel
would run as a formula is text, and an .xlsx holds the same cells; several tables in one
CSV or one workbook read back as each alone."""

from __future__ import annotations

import csv
import io

import openpyxl
from hypothesis import given, settings, strategies as st

from yimen.node.tables import FORMULA_START, Column, Sheet, write_book, write_csv, write_csv_sheets, write_xlsx

COLUMNS = (Column("a", "甲", "a"), Column("s", "状态", "status", {"in_review": "审批中"}),
           Column("n", "数", "n"))
cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
rows_st = st.lists(st.fixed_dictionaries({"a": cell_text | st.none(), "s": st.sampled_from(["in_review", "x"]),
                                          "n": st.integers(-10**6, 10**6)}), max_size=8)


def _unguard(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


@given(rows_st, st.sampled_from(["zh", "en"]))
def test_csv_reads_back_as_written(rows, language):
    out = io.BytesIO()
    assert write_csv(out, rows, COLUMNS, language) == len(rows)
    data = out.getvalue()
    assert data.startswith("\ufeff".encode())
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert back[0] == [c.heading(language) for c in COLUMNS]
    for r, line in zip(rows, back[1:]):
        assert not line[0].startswith(FORMULA_START)
        assert _unguard(line[0]) == (r["a"] or "")
        assert line[1] == ("审批中" if language == "zh" and r["s"] == "in_review" else r["s"])
        assert line[2] == str(r["n"])
    assert len(back) == len(rows) + 1


@settings(max_examples=15)  # a workbook written and read back is slow; few examples suffice
@given(rows_st)
def test_xlsx_holds_the_same_cells_as_text_and_numbers(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("x") / "t.xlsx"
    assert write_xlsx(path, rows, COLUMNS, "zh", "表") == len(rows)
    ws = openpyxl.load_workbook(path)["表"]
    got = [[c.value for c in line] for line in ws.iter_rows()]
    assert got[0] == ["甲", "状态", "数"]
    for r, line in zip(rows, got[1:]):
        assert line[0] == (r["a"] or None) and line[2] == r["n"]  # text stays text, never a formula


names_st = st.lists(st.sampled_from(["件数", "督办", "拒件", "表"]), min_size=1, max_size=3, unique=True)


@given(st.lists(rows_st, min_size=3, max_size=3), names_st, st.sampled_from(["zh", "en"]))
def test_several_tables_in_one_csv_read_back_as_each_alone(tables, names, language):
    sheets = [Sheet((n, n), rows, COLUMNS) for n, rows in zip(names, tables)]
    out = io.BytesIO()
    assert write_csv_sheets(out, sheets, language) == [len(s.rows) for s in sheets]
    data = out.getvalue()
    assert data.startswith("\ufeff".encode()) and data.count("\ufeff".encode()) == 1
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    for s in sheets:
        alone = io.BytesIO()
        write_csv(alone, s.rows, s.columns, language)
        lines = list(csv.reader(io.StringIO(alone.getvalue().decode("utf-8-sig"), newline="")))
        assert back[:len(lines) + 1] == [[s.name[0]]] + lines
        back = back[len(lines) + 2:]  # and the empty line between two
    assert back == []


@settings(max_examples=10)
@given(st.lists(rows_st, min_size=3, max_size=3), names_st)
def test_a_workbook_holds_one_sheet_per_table(tables, names):
    sheets = [Sheet((n, n + "-en"), rows, COLUMNS) for n, rows in zip(names, tables)]
    out = io.BytesIO()
    assert write_book(out, sheets, "en") == [len(s.rows) for s in sheets]
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    assert book.sheetnames == [n + "-en" for n in names]
    for s in sheets:
        got = list(book[s.name[1]].iter_rows(values_only=True))
        assert list(got[0]) == ["a", "status", "n"] and [line[2] for line in got[1:]] == [r["n"] for r in s.rows]
