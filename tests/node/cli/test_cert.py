"""`yimen cert show|verify|revoke` through the command line: a village shows a certificate
as a QR code, its town verifies the picture with no link, in Chinese and in English."""

from __future__ import annotations

import json

from click.testing import CliRunner

from support import id_number
from support.signin import ADMIN_INIT, ADMIN_PASSWORD
from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.services import credentials

CERT = "440608100201-D2026-000001"


def run(*args: str, code: int = 0):
    input = ADMIN_PASSWORD + "\n" if "init" in args else None
    args = (*args, *ADMIN_INIT) if "init" in args else args
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, input=input)
    assert result.exit_code == code, result.output
    return result


def chain(tmp_path):
    town, village = ["--home", str(tmp_path / "town")], ["--home", str(tmp_path / "village")]
    run(*town, "init", "--region", "440608100", "--name", "荷城街道")
    run(*village, "init", "--region", "440608100201", "--name", "示范村")
    req, ans = tmp_path / "req.json", tmp_path / "ans.json"
    run(*village, "enroll", "--request", str(req))
    run(*town, "admit", str(req), "--answer", str(ans))
    run(*village, "enroll", "--answer", str(ans))
    space = {"doc_type": "marriage_certificate", "title": "结婚证", "citizen_id": id_number(3), "citizen_name": "李四",
             "issuer": "440608100201", "issuer_name": "示范村", "issued_on": "2026-11-16", "valid_until": "",
             "case_id": "440608100201-2026-000001"}
    with home.open_node(tmp_path / "village") as node:
        cred = credentials.issue(node, CERT, space)
        with node.store.transaction():
            doc = node.store.new_doc(CERT, "space_doc", node.node_id)
            doc.update("space", {**space, "source": "result", "deposited_at": node.now(), "clerk_id": "c01", "credential": cred})
            node.store.save(doc, node.node_id)
    return town, village


def test_show_png_then_verify_the_picture_elsewhere(tmp_path):
    town, village = chain(tmp_path)
    png, svg = tmp_path / "cert.png", tmp_path / "cert.svg"
    out = run(*village, "cert", "show", CERT, "--png", str(png), "--svg", str(svg)).output
    assert "有效" in out and "李四" in out and id_number(3) not in out and "纠错等级 Q" in out
    assert png.read_bytes().startswith(b"\x89PNG") and b"<svg" in svg.read_bytes()
    text = [line for line in out.splitlines() if line.startswith("YM1:")][0]

    out = run(*town, "cert", "verify", "--image", str(png)).output
    assert out.startswith("核验结果") and "电子证照有效" in out and "结婚证" in out
    en = json.loads(run(*town, "--lang", "en", "cert", "verify", text, "--json").output)
    assert en["valid"] and en["reason"] == "the e-certificate is valid" and en["claims"]["cert_id"] == CERT

    changed = text[:-5] + ("0" if text[-5] != "0" else "1") + text[-4:]
    out = run(*town, "cert", "verify", changed, code=1).output
    assert out.startswith("核验结果  无效：")
    out = run(*town, "--lang", "en", "cert", "verify", changed, code=1).output
    assert "INVALID: " in out  # labels in English (a name the certificate carries stays as written)
    assert not any(label in out for label in ("核验结果", "无效", "吊销信息", "持证人", "签发机构"))


def test_revoke_at_the_issuer(tmp_path):
    _, village = chain(tmp_path)
    text = [line for line in run(*village, "cert", "show", CERT).output.splitlines() if line.startswith("YM1:")][0]
    assert "已吊销电子证照" in run(*village, "cert", "revoke", CERT, "--reason", "信息有误").output
    out = run(*village, "cert", "verify", text, code=1).output
    assert "已被吊销：信息有误" in out
    assert "早已吊销" in run(*village, "cert", "revoke", CERT, "--reason", "again").output


def test_bad_input_is_one_sentence(tmp_path):
    town, _ = chain(tmp_path)
    assert "不是有效的电子证照" in run(*town, "cert", "verify", "hello", code=1).output
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    assert "无法读取图片" in run(*town, "cert", "verify", "--image", str(junk), code=1).output
    assert "二者选一" in run(*town, "cert", "verify", code=2).output
    err = json.loads(run(*town, "--lang", "en", "cert", "show", "440608100201-D2026-000009", "--json", code=1).output)
    assert err["error"] == "unknown_certificate"


def test_the_holder_is_checked_against_the_card_shown(tmp_path):
    _, village = chain(tmp_path)
    text = json.loads(run(*village, "cert", "show", CERT, "--json").output)["text"]
    out = run(*village, "cert", "verify", text, "--holder", id_number(3)).output
    assert "与所出示的身份证相符" in out
    out = run(*village, "cert", "verify", text, "--holder", id_number(4), code=1).output
    assert "与所出示的身份证不符" in out
    en = json.loads(run(*village, "--lang", "en", "cert", "verify", text, "--holder", id_number(4), "--json",
                        code=1).output)
    assert en["valid"] and en["holder_matches"] is False
