"""`case list` says when it is cut and pages through; applicants are found by name or ID;
clerks change roles and are deactivated from the command line."""

from __future__ import annotations

import json
import re

import pytest

from support import MINI_CATALOG, id_number

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def five(cli, tmp_path):
    """The mini catalog, clerk c01 and five completed cases, oldest first."""
    path = tmp_path / "mini.json"
    path.write_text(MINI_CATALOG, "utf-8")
    cli("catalog", "import", str(path))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "社保", "--password-stdin")
    cli.sign_in("c01")
    return [json.loads(cli("case", "accept", "--item", "T-IMM", "--applicant-id", id_number(seq),
                           "--applicant-name", f"申请人{seq}", "--material", "居民身份证", "--json").output)["case_id"]
            for seq in range(1, 6)]


def test_a_cut_list_says_so_and_pages_through(cli, five):
    out = cli("case", "list", "--limit", "2").output
    assert five[4] in out and five[3] in out and five[2] not in out
    assert out.rstrip().endswith("显示第 1–2 条，共 5 条；用 --page 2 查看下一页")
    last = cli("case", "list", "--limit", "2", "--page", "3").output
    assert five[0] in last and last.rstrip().endswith("显示第 5–5 条，共 5 条")
    assert cli("case", "list").output.rstrip().endswith("共 5 条")
    assert "第 9 页没有办件" in cli("case", "list", "--limit", "2", "--page", "9").output
    en = cli("--lang", "en", "case", "list", "--limit", "2").output
    assert en.splitlines()[-1] == "showing 1-2 of 5; --page 2 shows the next page"
    assert not HAN.search(en.splitlines()[0])  # the headings; the cells are the data's own
    assert "--page" in cli("case", "list", "--page", "0", ok=False).output


def test_json_list_carries_the_total(cli, five):
    got = json.loads(cli("case", "list", "--limit", "2", "--page", "2", "--json").output)
    assert [r["case_id"] for r in got["rows"]] == [five[2], five[1]]
    assert {k: got[k] for k in ("total", "page", "pages", "limit")} == {"total": 5, "page": 2, "pages": 3, "limit": 2}


def test_exports_hold_every_matching_case_not_one_page(cli, five):
    lines = cli("case", "list", "--limit", "2", "--csv").stdout_bytes.decode("utf-8-sig").splitlines()
    assert len(lines) == 6


def test_find_an_applicant_by_name_id_or_tail(cli, five):
    def found(*args):
        return [r["case_id"] for r in json.loads(cli("case", "list", *args, "--json").output)["rows"]]
    assert found("--name", "申请人3") == [five[2]]
    assert found("--id-number", id_number(4)) == [five[3]]
    assert found("--id-tail", id_number(2)[-6:]) == [five[1]]
    out = cli("case", "list", "--id-tail", "12", ok=False).output
    assert "尾号" in out and "Traceback" not in out


def test_clerk_roles_deactivate_and_list(cli, five):
    cli.as_admin()
    assert "民政、社保" in cli("clerk", "roles", "c01", "--add", "民政").output
    cli("clerk", "deactivate", "c01")
    listed = cli("clerk", "list").output
    assert "已停用" in listed and "李敏" in listed
    assert "李敏" in cli("case", "list").output  # past cases keep the name beside the id
    assert "工号或密码不正确" in cli.sign_in("c01", ok=False).output  # a deactivated clerk cannot sign in
    cli.as_admin()
    cli("clerk", "activate", "c01")
    assert "在岗" in cli("clerk", "list").output
    cli.sign_in("c01")
