"""`yimen revoke`, `yimen key rotate / admit / list` through the command line, offline."""

from __future__ import annotations

import json

from click.testing import CliRunner

from support.signin import ADMIN_INIT, ADMIN_PASSWORD
from yimen.node.cli.main import main


def run(*args: str, ok: bool = True):
    """A command; `init` makes the node's admin, who stays signed in there."""
    input = ADMIN_PASSWORD + "\n" if "init" in args else None
    args = (*args, *ADMIN_INIT) if "init" in args else args
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, input=input)
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_revoke_and_rotate_offline(tmp_path):
    town, village = ["--home", str(tmp_path / "town")], ["--home", str(tmp_path / "village")]
    run(*town, "init", "--region", "440608100", "--name", "荷城街道")
    run(*village, "init", "--region", "440608100201", "--name", "示范村")
    req, ans = tmp_path / "req.json", tmp_path / "ans.json"
    run(*village, "enroll", "--request", str(req))
    run(*town, "admit", str(req), "--answer", str(ans))
    run(*village, "enroll", "--answer", str(ans))

    rreq, rans = tmp_path / "rotate-req.json", tmp_path / "rotate-ans.json"
    assert "已写出密钥更换申请" in run(*village, "key", "rotate", "--request", str(rreq)).output
    assert "已为 440608100201 的新密钥签发证书" in run(*town, "key", "admit", str(rreq), "--answer", str(rans)).output
    assert "密钥已更换" in run(*village, "key", "rotate", "--answer", str(rans)).output
    listed = json.loads(run(*town, "key", "list", "--json").output)
    states = sorted(r["state"] for r in listed if r["node"] == "440608100201")
    assert states == ["retired", "valid"]

    out = run(*town, "revoke", "440608100201", "--reason", "笔记本电脑被盗").output
    assert out.startswith("已吊销 440608100201 的密钥")
    assert "已吊销" in run(*town, "key", "list").output and "笔记本电脑被盗" in run(*town, "key", "list").output
    en = run(*town, "--lang", "en", "key", "list").output
    assert "revoked" in en and "已" not in en.replace("笔记本电脑被盗", "")


def test_a_refused_revocation_is_one_sentence_in_the_clerks_language(tmp_path):
    village = ["--home", str(tmp_path / "village")]
    run(*village, "init", "--region", "440608100201", "--name", "示范村")
    zh = run(*village, "revoke", "440608100202", "--reason", "越权", ok=False).output
    assert "不是本节点" in zh and "Traceback" not in zh and len(zh.strip().splitlines()) == 1
    en = run(*village, "--lang", "en", "revoke", "440608100202", "--reason", "x", ok=False).output
    assert "is not below this node" in en
    usage = run(*village, "key", "rotate", ok=False).output
    assert "--request" in usage
