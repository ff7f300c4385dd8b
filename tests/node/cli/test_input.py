"""Bad input at the command line gets one clear sentence and a non-zero exit, never a
traceback or an empty answer that looks like a real one."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import id_number
from support.signin import ADMIN_INIT, ADMIN_PASSWORD, PASSWORD
from yimen.node import home
from yimen.node.cli import case as case_cli
from yimen.node.cli.main import main

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data"
ACCEPT = ("case", "accept", "--item", "MZ-003", "--applicant-name", "陈美玲", "--all-materials")


@pytest.fixture
def yimen(tmp_path, monkeypatch):
    monkeypatch.setenv("YIMEN_HOME", str(tmp_path / "node"))
    runner = CliRunner()

    def run(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(main, list(args), input=input)
        assert "Traceback" not in result.output and not isinstance(result.exception, Exception), result.output
        assert (result.exit_code == 0) == ok, result.output
        return result
    run("init", "--region", "440608100201", "--name", "示范村", *ADMIN_INIT, input=ADMIN_PASSWORD + "\n")
    run("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    run("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--password-stdin",
        input=PASSWORD + "\n")
    run("login", "--id", "c01", "--password-stdin", input=PASSWORD + "\n")
    return run


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def accept(yimen, *extra: str, seq: int = 1, ok: bool = True):
    return yimen(*ACCEPT, "--applicant-id", id_number(seq), *extra, ok=ok)


def test_a_scan_that_is_missing_a_folder_or_unreadable(yimen, tmp_path):
    for path, zh, en in [("/no/such/file.jpg", "不存在", "does not exist"), (str(tmp_path), "是文件夹", "is a folder")]:
        line = one_line(accept(yimen, "--material", f"申请人居民身份证={path}", ok=False))
        assert "申请人居民身份证" in line and path in line and zh in line
        assert en in one_line(yimen("--lang", "en", *ACCEPT, "--applicant-id", id_number(),
                                    "--material", f"申请人居民身份证={path}", ok=False))
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(b"scan")
    locked.chmod(0)
    if not os.access(locked, os.R_OK):  # root reads everything
        assert "没有访问权限" in one_line(accept(yimen, "--material", f"申请人居民身份证={locked}", ok=False))


def test_a_promised_date_is_a_real_date_between_today_and_the_deadline(yimen):
    deadline = json.loads(accept(yimen, "--json", seq=9).output)["deadline"]
    today = home.china_now().date()
    assert "YYYY-MM-DD" in one_line(accept(yimen, "--defer", "遭遇困难的相关证明=2026/13/20", ok=False))
    for bad in (today - timedelta(days=1), date.fromisoformat(deadline) + timedelta(days=1)):
        assert "办结时限" in one_line(accept(yimen, "--defer", f"遭遇困难的相关证明={bad}", ok=False))
    slashed = today.strftime("%Y/%m/%d")
    row = json.loads(accept(yimen, "--defer", f"遭遇困难的相关证明={slashed}", "--json").output)
    assert row["deferred_due"] == today.isoformat()


def test_a_phone_number_is_checked_and_written_one_way(yimen, tmp_path):
    assert "电话号码" in one_line(accept(yimen, "--phone", "abc", ok=False))
    cid = json.loads(accept(yimen, "--phone", "+86 138 0013 8000", "--json").output)["case_id"]
    with home.open_node(tmp_path / "node") as node:
        assert node.store.get(cid).value()["case"]["applicant_phone"] == "13800138000"


def test_a_duplicate_of_an_open_case_needs_a_confirmation(yimen, monkeypatch):
    first = json.loads(accept(yimen, "--json").output)["case_id"]
    refused = one_line(accept(yimen, ok=False))
    assert first in refused and "--duplicate-ok" in refused
    second = accept(yimen, "--duplicate-ok")
    assert first in second.output and "已受理" in second.output
    monkeypatch.setattr(case_cli, "_interactive", lambda: True)  # a clerk at a terminal answers
    assert "未受理" in yimen(*ACCEPT, "--applicant-id", id_number(), input="n\n", ok=False).output
    assert "已受理" in yimen(*ACCEPT, "--applicant-id", id_number(), input="y\n").output
    assert json.loads(yimen("case", "list", "--json").output)["total"] == 3
    accept(yimen, seq=2)  # another applicant: no question


@pytest.mark.parametrize("args,message", [
    (["--status", "bogus"], "审批中、已批准"),
    (["--from", "2026-13-01"], "YYYY-MM-DD"),
    (["--to", "tomorrow"], "YYYY-MM-DD"),
    (["--from", "2026-12-01", "--to", "2026-11-01"], "晚于"),
    (["--card", "purple"], "红牌、黄牌"),
])
def test_a_bad_filter_is_an_error_not_an_empty_list(yimen, args, message):
    assert message in one_line(yimen("case", "list", *args, ok=False))


def test_filters_and_actions_in_chinese(yimen):
    cid = json.loads(accept(yimen, "--json").output)["case_id"]
    yimen("case", "act", cid, "提交后台")
    assert [r["case_id"] for r in json.loads(yimen("case", "list", "--status", "审批中", "--json").output)["rows"]] == [cid]
    assert json.loads(yimen("case", "list", "--card", "绿", "--from", home.china_now().date().strftime("%Y/%m/%d"),
                            "--json").output)["rows"][0]["case_id"] == cid
    assert "未知操作" in one_line(yimen("case", "act", cid, "受理", ok=False))
    assert "待补正" in yimen("case", "act", cid, "补正", "--reason", "收入证明不清晰").output


ENGLISH = ("No such file", "Not a directory", "Permission", "Errno", "Expecting value")


@pytest.mark.parametrize("args,reason", [
    (["enroll", "--request", "/no/such/dir/request.json"], "不存在"),
    (["admit", "{folder}/x.json", "--answer", "/no/such/dir/answer.json"], "不是注册申请"),
    (["enroll", "--answer", "{folder}/x.json"], "不是注册申请"),
    (["backup", "--to", "{folder}/x.json/sub"], "不是文件夹"),
])
def test_every_path_argument_fails_in_one_sentence(yimen, tmp_path, args, reason):
    (tmp_path / "x.json").write_text("not json", "utf-8")
    yimen("login", "--id", "a01", "--password-stdin", input=ADMIN_PASSWORD + "\n")  # the node admin's commands
    line = one_line(yimen(*[a.format(folder=tmp_path) for a in args], ok=False))
    assert reason in line and not any(word in line for word in ENGLISH), line
