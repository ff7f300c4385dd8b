"""`yimen audit verify` and `yimen audit show` as a clerk types them; reads are recorded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.node.cli.conftest import SAMPLE
from support.signin import ADMIN_ID, ADMIN_INIT, ADMIN_PASSWORD
from yimen.node import home

CASE = "440608100201-2026-000001"
ID = "440608199001011235"


def _accept(cli):
    cli("catalog", "import", str(SAMPLE / "catalog_sample.json"))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "社保", "--role", "村委会",
        "--password-stdin")
    cli.sign_in("c01")
    cli("case", "accept", "--item", "MZ-003", "--applicant-id", ID, "--applicant-name", "陈美玲",
        "--all-materials", "--defer", "遭遇困难的相关证明")


def test_verify_show_and_reads_recorded(cli, tmp_path):
    _accept(cli)
    cli("case", "show", CASE)
    cli("case", "list", "--csv")
    out = cli("audit", "verify").output
    # sign-in at init, catalog import, clerk add, c01's sign-in, accept, show, list, the verify's own read
    assert "审计日志完好：8 条记录" in out
    trail = json.loads(cli("audit", "show", "--case", CASE, "--json").output)
    assert [(r["clerk"], r["action"]) for r in trail] == [("c01", "accept"), ("c01", "case_show"), ("c01", "case_export")]
    person = cli("--lang", "en", "audit", "show", "--person", ID).output
    assert "accept" in person and "case_show" in person and ID not in person
    cli("audit", "show", ok=False)


def test_verify_names_the_first_broken_entry(cli, tmp_path):
    _accept(cli)
    db = home.connect(tmp_path / "node")
    accept = db.execute("SELECT seq FROM audit_log WHERE action = 'accept'").fetchone()[0]
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET clerk = 'c99' WHERE action = 'accept'")
    db.commit()
    db.close()
    r = cli("audit", "verify", ok=False)
    assert f"审计日志第 {accept} 条" in r.output and "受理" in r.output and "Traceback" not in r.output
    r = cli("--lang", "en", "audit", "verify", "--json", ok=False)
    assert json.loads(r.output)["error"] == "audit_broken"



def test_an_admins_action_names_the_signed_in_admin(cli, tmp_path):
    """A service that takes no clerk (invite) still records who acted: the signed-in admin."""
    town = ["--home", str(tmp_path / "town")]
    cli(*town, "init", "--region", "440608100", "--name", "荷城街道", *ADMIN_INIT, input=ADMIN_PASSWORD + "\n")
    cli(*town, "invite", "--region", "440608100201")
    with home.connect(tmp_path / "town") as db:
        rows = db.execute("SELECT clerk FROM audit_log WHERE action = 'invite'").fetchall()
    assert rows == [(ADMIN_ID,)]


def test_every_action_the_node_records_has_a_chinese_name():
    """`audit show` in zh names each action in Chinese: one named in the code but not in
    AUDIT_ZH would show its code word to a clerk."""
    import re
    from pathlib import Path
    from yimen.node.cli.audit import AUDIT_ZH
    root = Path(__file__).resolve().parents[3] / "node"
    used = {m for path in root.rglob("*.py") for m in re.findall(
        r"audit\.(?:record|viewed)\(\s*node,\s*\"([a-z_]+)\"", path.read_text("utf-8"))}
    used |= {m for path in root.rglob("*.py") for m in re.findall(r"\baction=\"([a-z_]+)\"\)", path.read_text("utf-8"))}
    assert len(used) > 20 and used - set(AUDIT_ZH) == set()
