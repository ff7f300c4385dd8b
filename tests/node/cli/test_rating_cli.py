"""`yimen rating ...`: the citizen's rating at the window, the admin's follow-up, the open
follow-ups and satisfaction, in both languages, with the services' refusals as sentences."""

from __future__ import annotations

import json
from pathlib import Path

from support import id_number
from support.zh import english_words

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data"


def closed_case(cli, seq: int = 1) -> str:
    """An immediate MZ-006 case (民政), completed at the window by c01."""
    out = cli("case", "accept", "--item", "MZ-006", "--applicant-id", id_number(seq), "--applicant-name", "陈美玲",
              "--all-materials", "--json").output
    return json.loads(out)["case_id"]


def test_rate_follow_up_and_count(cli):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--password-stdin")
    cli.sign_in("c01")
    happy, unhappy = closed_case(cli, 1), closed_case(cli, 2)
    assert "已记录评价" in cli("rating", "add", happy, "--score", "满意").output
    refused = cli("rating", "add", happy, "--score", "满意", ok=False).output
    assert "已评价过" in refused and not english_words(refused, [happy])
    assert "请说明原因" in cli("rating", "add", unhappy, "--score", "不满意", ok=False).output
    cli("rating", "add", unhappy, "--score", "unsatisfied", "--reason", "排队太久")
    assert "不是管理员" in cli("rating", "open", ok=False).output
    cli.as_admin()
    listed = cli("rating", "open").output
    assert unhappy in listed and happy not in listed and "排队太久" in listed and not english_words(listed, [unhappy])
    cli("rating", "follow-up", unhappy, "--text", "已电话回访，增设取号机")
    assert "没有待回访的评价" in cli("rating", "open").output
    shown = cli("rating", "show", unhappy).output
    assert "已回访" in shown and "增设取号机" in shown and "李敏" in shown
    counts = cli("rating", "satisfaction").output
    assert "MZ-006" in counts and "50%" in counts and not english_words(counts, ["MZ-006"])
    by_clerk = json.loads(cli("rating", "satisfaction", "--by", "clerk", "--json").output)
    assert [(r["clerk"], r["total"], r["satisfied"], r["unsatisfied"]) for r in by_clerk] == [("c01", 2, 1, 1)]
    en = cli("--lang", "en", "rating", "satisfaction", "--by", "clerk").output
    assert "satisfied_share" in en and "满意" not in en
    actions = cli("audit", "show", "--case", unhappy).output
    assert "群众评价" in actions and "登记回访整改" in actions
