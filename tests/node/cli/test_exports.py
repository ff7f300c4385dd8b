"""Reports and lists an admin opens in Excel: CSV with a BOM and headers in the clerk's
language, `.xlsx` files, clerk names beside their ids."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import openpyxl
import openpyxl.utils

from support import id_number

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data"

BOM = "\ufeff".encode()


def _csv(result) -> list[list[str]]:
    data = result.stdout_bytes
    assert data.startswith(BOM), data[:20]
    return list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"))))


def _day(cli) -> str:
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--password-stdin")
    cli.sign_in("c01")
    cid = json.loads(cli("case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
                         "--applicant-name", "陈美玲", "--all-materials", "--json").output)["case_id"]
    cli("case", "act", cid, "supplement", "--reason", "收入材料不全")
    return cid


def test_empty_reports_have_a_bom_and_chinese_headers(cli):
    for args in (["report", "overdue", "--csv"], ["report", "refusals", "--week", "--csv"], ["case", "list", "--csv"]):
        rows = _csv(cli(*args))
        assert len(rows) == 1 and rows[0] and all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in rows[0]), args


def test_refusals_csv_names_kinds_and_clerks_in_the_clerks_language(cli):
    cid = _day(cli)
    head, row = _csv(cli("report", "refusals", "--week", "--csv"))
    got = dict(zip(head, row))
    assert got["类别"] == "补正" and got["受理编号"] == cid and got["人员工号"] == "c01" and got["人员"] == "李敏"
    head, row = _csv(cli("--lang", "en", "report", "refusals", "--week", "--csv"))
    got = dict(zip(head, row))
    assert got["kind"] == "supplement" and got["clerk_name"] == "李敏"


def test_counts_by_status_and_card(cli):
    _day(cli)
    rows = {(b, v): n for b, v, n in _csv(cli("report", "counts", "--csv"))[1:]}
    assert rows[("按状态", "待补正")] == "1" and rows[("按状态", "已办结")] == "0"
    assert rows[("按督办牌", "暂停计时")] == "1" and rows[("按督办牌", "红牌")] == "0"
    assert json.loads(cli("report", "counts", "--json").output)["status"]["supplement"] == 1
    assert "待补正" in cli("report", "counts").output


def test_case_list_csv_masks_the_id_and_names_the_clerk(cli):
    cid = _day(cli)
    head, row = _csv(cli("case", "list", "--csv"))
    got = dict(zip(head, row))
    assert got["受理编号"] == cid and got["状态"] == "待补正" and got["受理人"] == "李敏"
    assert got["身份证号"] == id_number()[:6] + "********" + id_number()[-4:]


def test_xlsx_export_for_lists_and_both_reports(cli, tmp_path):
    cid = _day(cli)
    for args, sheet, first in ((["case", "list"], "办件", "受理编号"), (["report", "overdue"], "督办", "类别"),
                               (["report", "refusals", "--week"], "拒件", "时间")):
        path = tmp_path / f"{sheet}.xlsx"
        assert str(path) in cli(*args, "--xlsx", str(path)).output
        book = openpyxl.load_workbook(path)
        assert book.sheetnames == [sheet]
        ws = book[sheet]
        assert ws.cell(1, 1).value == first and ws.cell(1, 1).font.b and ws.freeze_panes == "A2"
    ws = openpyxl.load_workbook(tmp_path / "办件.xlsx")["办件"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("受理编号") + 1).value == cid
    # dates stay the text a clerk reads everywhere else; a Chinese column is wide enough
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", ws.cell(2, header.index("受理日期") + 1).value)
    item = ws.column_dimensions[openpyxl.utils.get_column_letter(header.index("事项") + 1)]
    assert item.width >= 2 * len(ws.cell(2, header.index("事项") + 1).value)


def test_only_one_output_at_a_time(cli, tmp_path):
    result = cli("case", "list", "--csv", "--xlsx", str(tmp_path / "x.xlsx"), ok=False)
    assert "--csv" in result.output and "--xlsx" in result.output and "Traceback" not in result.output


def test_an_unwritable_xlsx_path_is_one_sentence(cli, tmp_path):
    result = cli("report", "overdue", "--xlsx", str(tmp_path / "no" / "such" / "dir.xlsx"), ok=False)
    assert "无法写入" in result.output and "Traceback" not in result.output
