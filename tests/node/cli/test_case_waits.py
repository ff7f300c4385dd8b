"""`case show`, `case list`, `case inbox` and `case review` as a clerk reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import id_number

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data"


@pytest.fixture
def cli(cli):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--password-stdin")
    cli.sign_in("c01")
    return cli


def _in_review(cli) -> str:
    out = cli("case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
              "--applicant-name", "陈美玲", "--all-materials", "--defer", "遭遇困难的相关证明", "--json").output
    cid = json.loads(out)["case_id"]
    cli("case", "act", cid, "submit")
    cli("case", "act", cid, "approve")
    return cid


def test_a_delivered_material_is_no_longer_listed_as_deferred(cli):
    cid = _in_review(cli)
    cli("case", "act", cid, "deliver", "--material", "遭遇困难的相关证明")
    shown = cli("case", "show", cid).output
    assert "遭遇困难的相关证明：已补交" in shown and "容缺待补交" not in shown
    materials = json.loads(cli("case", "show", cid, "--json").output)["materials"]
    assert materials["遭遇困难的相关证明"]["status"] == "delivered"


def test_the_village_sees_which_level_and_department_a_case_waits_for(cli):
    cid = _in_review(cli)
    shown = cli("case", "show", cid).output
    assert "审批中 待镇街·民政审批" in shown
    assert "waiting for town · 民政 approval" in cli("--lang", "en", "case", "show", cid).output
    listed = cli("case", "list").output
    assert "等待" in listed.splitlines()[0] and "待镇街·民政审批" in listed
    assert json.loads(cli("case", "show", cid, "--json").output)["waiting_for"] == [
        {"level": "town", "department": "民政"}]
    assert "没有等待本级审批的办件" in cli("case", "inbox").output


def test_the_history_columns_all_have_headings(cli):
    cid = _in_review(cli)
    header = cli("case", "show", cid).output.split("办理过程：")[1].splitlines()[1].split()
    assert header == ["#", "时间", "操作", "人员", "岗位", "节点", "理由", "冲突", "合并到达"]
    assert any(line.split() == ["冲突待核查", "0"] for line in cli("case", "show", cid).output.splitlines())
    assert "没有符合条件的办件" in cli("case", "list", "--conflicts").output


def test_review_of_an_event_that_is_not_flagged_is_one_sentence(cli):
    cid = _in_review(cli)
    result = cli("case", "review", cid, "--event", "1", "--resolution", "看过了", ok=False)
    assert result.exit_code == 1 and "不是冲突事件" in result.output and "Traceback" not in result.output
