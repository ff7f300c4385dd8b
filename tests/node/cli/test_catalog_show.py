"""`catalog show` names levels and the item's status in the clerk's language."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from support.signin import ADMIN_INIT, ADMIN_PASSWORD
from yimen.node.cli.main import main

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data" / "catalog_sample.json"


def test_catalog_show_in_chinese_and_english(tmp_path):
    def run(*args, input=None):
        r = CliRunner().invoke(main, ["--home", str(tmp_path / "n"), *args], catch_exceptions=False, input=input)
        assert r.exit_code == 0, r.output
        return r.output
    run("init", "--region", "440608100201", "--name", "示范村", *ADMIN_INIT, input=ADMIN_PASSWORD + "\n")
    run("catalog", "import", str(SAMPLE))
    zh = run("catalog", "show", "MZ-003")
    assert "村居·村委会 → 镇街·民政" in zh and "在用" in zh
    assert "village" not in zh and "town" not in zh and "active" not in zh
    en = run("--lang", "en", "catalog", "show", "MZ-003")
    assert "village·村委会 → town·民政" in en and "active" in en
