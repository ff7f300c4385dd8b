"""The command line as a clerk uses it, through click's CliRunner."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import id_number
from yimen.sync.store import driver
from yimen.node import home
from yimen.node.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "node" / "data"


def _db_dump(tmp_path) -> list[str]:
    with home.open_node(tmp_path / "node") as node:
        return list(driver.iterdump(node.store.conn))


def test_a_clerks_day(cli):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("catalog", "import", str(SAMPLE / "catalog_sample.csv"))
    assert "最低生活保障" in cli("catalog", "list", "--search", "低保").output + \
        cli("catalog", "list", "--search", "最低").output
    assert "申请材料" in cli("catalog", "show", "MZ-003").output
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--password-stdin")
    cli.sign_in("c01")
    out = cli("case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
              "--applicant-name", "陈美玲", "--all-materials", "--defer", "遭遇困难的相关证明", "--json").output
    cid = json.loads(out)["case_id"]
    cli("case", "act", cid, "submit")
    cli("case", "act", cid, "approve")
    shown = cli("case", "show", cid).output
    assert "提交后台" in shown and "批准" in shown and "审批中" in shown
    # a clerk reads materials and next steps in Chinese only (`case act` takes the Chinese words)
    assert "已提交" in shown and "容缺待补交" in shown and "provided" not in shown
    assert "退件" in shown and "returned" not in shown
    listed = json.loads(cli("case", "list", "--status", "in_review", "--json").output)
    assert [r["case_id"] for r in listed["rows"]] == [cid] and listed["total"] == 1
    cli("case", "act", cid, "supplement", "--reason", "收入材料不全")
    refusals = json.loads(cli("report", "refusals", "--week", "--json").output)
    assert refusals["counts"]["supplement"] == 1 and refusals["rows"][0]["reason"] == "收入材料不全"
    assert cli("report", "refusals", "--csv").stdout_bytes.startswith("\ufeff时间,类别,受理编号".encode())
    assert "红牌 0 件" in cli("report", "overdue").output
    assert "已从" in cli("rebuild").output
    assert json.loads(cli("status", "--json").output)["cases"] == 1


@pytest.mark.parametrize("args,message", [
    (["case", "accept", "--item", "MZ-003", "--applicant-id", "44060819900101123",
      "--applicant-name", "陈", "--all-materials"], "18"),
    (["case", "accept", "--item", "NOPE", "--applicant-id", id_number(),
      "--applicant-name", "陈", "--all-materials"], "NOPE"),
    (["case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
      "--applicant-name", "陈"], "缺少必需材料"),
    (["case", "act", "440608100201-2026-000001", "complete"], "不能"),
    (["case", "act", "440608100201-2026-000001", "returned"], "理由"),
    (["catalog", "import", str(ROOT / "README.md")], ".json"),
])
def test_bad_input_is_one_line_nonzero_and_changes_nothing(cli, tmp_path, args, message):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--password-stdin")
    cli.sign_in("c01")
    cli("case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
        "--applicant-name", "陈美玲", "--all-materials")
    if args[0] == "catalog":
        cli.as_admin()
    before = _db_dump(tmp_path)
    result = cli(*args, ok=False)
    assert result.exit_code == 1
    error_lines = [line for line in result.output.splitlines() if line.startswith("错误：")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert _db_dump(tmp_path) == before


def test_malformed_catalog_file_changes_nothing(cli, tmp_path):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    before = _db_dump(tmp_path)
    bad = tmp_path / "bad.json"
    good = json.loads((SAMPLE / "catalog_sample.json").read_text("utf-8"))
    good["items"][0]["name"] = "改过的名称"  # valid change ...
    good["items"][5]["time_limit_days"] = -3  # ... then an invalid item later in the file
    bad.write_text(json.dumps(good, ensure_ascii=False), "utf-8")
    result = cli("catalog", "import", str(bad), ok=False)
    assert "time_limit_days" in result.output
    bad.write_text("{not json", "utf-8")
    cli("catalog", "import", str(bad), ok=False)
    assert _db_dump(tmp_path) == before


def test_english_messages(cli):
    result = cli("--lang", "en", "case", "show", "440608100201-2026-000001", ok=False)
    assert "no case has the receipt number" in result.output


def test_uninitialised_home_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "none"), "status"])
    assert result.exit_code == 1 and "yimen init" in result.output


def _all_commands():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_command_has_help_with_an_example():
    ref = _all_commands()
    for path, cmd in ref.commands(main, "yimen"):
        assert cmd.help, f"{path} has no help"
        if not hasattr(cmd, "commands"):
            assert "Example:" in cmd.help, f"{path} help has no Example"


def test_readme_documents_every_command():
    ref = _all_commands()
    readme = (ROOT / "README.md").read_text("utf-8")
    assert ref.section() in readme, "README command reference is stale: run scripts/cli_reference.py --write"
