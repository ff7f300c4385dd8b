"""`yimen space ...` and My Space at `case accept`, as a clerk types them: Chinese in zh
mode, English in en mode, JSON for scripts, one sentence and nothing written for bad input."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from support import MINI_CATALOG, id_number
from support.signin import ADMIN_INIT, ADMIN_PASSWORD, PASSWORD
from yimen.node import home
from yimen.node.cli.main import main
from yimen.sync.store import driver

CJK = re.compile(r"[\u4e00-\u9fff]")
PERSON = id_number(1)


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
    (tmp_path / "mini.json").write_text(MINI_CATALOG, encoding="utf-8")
    run("catalog", "import", str(tmp_path / "mini.json"))
    run("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "社保", "--role", "村委会",
        "--password-stdin", input=PASSWORD + "\n")
    run("login", "--id", "c01", "--password-stdin", input=PASSWORD + "\n")
    return run


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "收入证明.pdf"
    path.write_bytes(b"%PDF-1.4 income proof")
    return path


def db(tmp_path) -> list[str]:
    with home.open_node(tmp_path / "node") as node:
        return list(driver.iterdump(node.store.conn))


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_clerk_keeps_a_scan_reuses_it_and_records_a_consent_in_chinese(yimen, scan):
    added = yimen("space", "add", "--person", PERSON, "--name", "陈美玲", "--type", "收入证明", str(scan)).output
    doc_id = re.search(r"440608100201-D2026-\d{6}", added).group(0)
    assert "已存入我的空间" in added
    shown = yimen("space", "show", PERSON).output
    assert all(w in shown for w in ("陈美玲", "收入证明", "窗口扫描件", "完整", "本节点存入", doc_id, "同意书（0）"))
    assert PERSON not in shown and "scan" not in shown
    accepted = yimen("case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON, "--applicant-name", "陈美玲",
                     "--material", "居民身份证").output
    assert f"取自我的空间，无需提交：收入证明（{doc_id}）" in accepted
    cid = re.search(r"440608100201-\d{4}-\d{6}", accepted).group(0)
    assert f"收入证明：取自我的空间 {doc_id}" in yimen("case", "show", cid).output
    consent = yimen("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "收入证明，id_card",
                    "--days", "7", "--purpose", "办理临时救助").output
    cons_id = re.search(r"440608100201-C\d{4}-\d{6}", consent).group(0)
    assert "已登记同意书" in consent and "居民身份证、收入证明" in consent
    assert "有效" in yimen("space", "show", PERSON).output
    assert "已撤回同意书" in yimen("space", "withdraw", cons_id, "--reason", "本人申请").output
    assert "已撤回" in yimen("space", "show", PERSON).output
    assert "已于" in yimen("space", "withdraw", cons_id).output  # twice: nothing more to do


def test_the_same_in_english_with_no_chinese_but_the_data(yimen, scan):
    added = yimen("--lang", "en", "space", "add", "--person", PERSON, "--name", "陈美玲", "--type", "income_proof",
                  str(scan)).output
    assert "kept in My Space" in added and not CJK.search(added)
    shown = yimen("--lang", "en", "space", "show", PERSON).output
    assert all(w in shown for w in ("income_proof", "scan", "complete", "deposited here", "consents (0)"))
    assert not CJK.search(shown.replace("陈美玲", "").replace("收入证明", "").replace("示范村", ""))
    accepted = yimen("--lang", "en", "case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON,
                     "--applicant-name", "陈美玲", "--material", "居民身份证").output
    assert "taken from My Space" in accepted
    consent = yimen("--lang", "en", "space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "income_proof",
                    "--purpose", "relief").output
    assert "consent recorded" in consent and not CJK.search(consent)


def test_json_for_scripts(yimen, scan, tmp_path):
    added = json.loads(yimen("space", "add", "--person", PERSON, "--name", "陈美玲", "--type", "income_proof",
                             str(scan), str(scan), "--json").output)
    assert added["doc_type"] == "income_proof" and len(added["files"]) == 1  # the same content once
    shown = json.loads(yimen("space", "show", PERSON, "--json").output)
    [doc] = shown["documents"]
    assert doc["doc_id"] == added["doc_id"] and doc["origin"] == {"from": "home"} and doc["source"] == "scan"
    assert doc["files"][0]["complete"] and doc["files"][0]["size"] == scan.stat().st_size
    row = json.loads(yimen("case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON, "--applicant-name", "陈美玲",
                           "--material", "居民身份证", "--json").output)
    assert row["reused"]["收入证明"]["doc_id"] == added["doc_id"] and row["kept_in_space"] == {}
    refused = json.loads(yimen("case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON, "--applicant-name",
                               "陈美玲", "--material", "居民身份证", "--defer", "收入证明", "--no-reuse",
                               "--duplicate-ok", "--json").stdout)  # the duplicate is noted on stderr
    assert refused["reused"] == {} and refused["deferred_open"] == 1
    given = json.loads(yimen("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "income_proof",
                             "--purpose", "x", "--json").output)
    assert given["days"] == 30 and given["types"] == ["income_proof"]
    assert json.loads(yimen("space", "show", PERSON, "--json").output)["consents"][0]["state"] == "live"
    gone = json.loads(yimen("space", "withdraw", given["consent_id"], "--json").output)
    assert gone["withdrawn_at"] and not gone["already"]
    with home.open_node(tmp_path / "node") as node:
        actions = [r[0] for r in node.store.conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert {"space_add", "space_show", "space_reuse", "space_consent", "space_withdraw"} <= set(actions)


def test_scans_kept_at_acceptance_with_the_citizens_agreement(yimen, scan):
    row = json.loads(yimen("case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON, "--applicant-name", "陈美玲",
                           "--material", "居民身份证", "--material", f"收入证明={scan}", "--keep-in-space",
                           "--json").output)
    doc_id = row["kept_in_space"]["收入证明"]
    shown = json.loads(yimen("space", "show", PERSON, "--json").output)
    assert [d["doc_id"] for d in shown["documents"]] == [doc_id]
    out = yimen("case", "accept", "--item", "T-DIBAO", "--applicant-id", id_number(2), "--applicant-name", "王五",
                "--material", "居民身份证", "--material", f"收入证明={scan}", "--keep-in-space").output
    assert "扫描件已存入我的空间：收入证明" in out


BAD = [
    (("space", "show", "44060819900101123"), "18"),
    (("space", "add", "--person", PERSON, "--name", "陈美玲", "--type", "护照", "{scan}"), "护照"),
    (("space", "add", "--person", PERSON, "--name", " ", "--type", "收入证明", "{scan}"), "姓名"),
    (("space", "add", "--person", PERSON, "--name", "陈美玲", "--type", "收入证明", "/no/such.pdf"), "不存在"),
    (("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "收入证明", "--days", "31",
      "--purpose", "x"), "30"),
    (("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "收入证明,passport", "--purpose", "x"),
     "passport"),
    (("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "，", "--purpose", "x"), "证照类型"),
    (("space", "withdraw", "440608100201-C2026-000099"), "440608100201-C2026-000099"),
    (("case", "accept", "--item", "T-DIBAO", "--applicant-id", PERSON, "--applicant-name", "陈美玲",
      "--material", "居民身份证", "--keep-in-space"), "--keep-in-space"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_is_one_sentence_and_changes_nothing(yimen, scan, tmp_path, args, message):
    before = db(tmp_path)
    args = tuple(a.replace("{scan}", str(scan)) for a in args)
    assert message in one_line(yimen(*args, ok=False))
    assert db(tmp_path) == before
    assert json.loads(yimen(*args, "--json", ok=False).output)["error"]
    assert not CJK.search(one_line(yimen("--lang", "en", *args, ok=False)).replace("护照", "").replace("陈美玲", ""))


def test_not_signed_in_is_one_sentence(yimen, scan, tmp_path):
    yimen("logout")
    before = db(tmp_path)
    for args in (("space", "show", PERSON), ("space", "add", "--person", PERSON, "--name", "陈", "--type", "收入证明",
                                             str(scan)),
                 ("space", "consent", "--person", PERSON, "--name", "陈", "--types", "收入证明", "--purpose", "x"),
                 ("space", "withdraw", "440608100201-C2026-000001")):
        assert "yimen login" in one_line(yimen(*args, ok=False))
    assert db(tmp_path) == before


def test_every_space_command_has_an_example(yimen):
    for command in ("show", "add", "consent", "withdraw"):
        assert "Example:" in yimen("space", command, "--help").output
    assert "--keep-in-space" in yimen("case", "accept", "--help").output


def test_the_longest_consent_is_a_setting(yimen, monkeypatch, tmp_path):
    monkeypatch.setenv("YIMEN_CONSENT_MAX_DAYS", "7")
    before = db(tmp_path)
    line = one_line(yimen("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "收入证明",
                          "--days", "8", "--purpose", "x", ok=False))
    assert "1 到 7 天" in line and db(tmp_path) == before
    assert json.loads(yimen("space", "consent", "--person", PERSON, "--name", "陈美玲", "--types", "收入证明",
                            "--purpose", "x", "--json").output)["days"] == 7
