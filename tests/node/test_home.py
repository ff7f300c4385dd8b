"""A node's home at rest: a copied data folder shows no applicant and no key, opens with
the key only, and every file in it is private; a node from before encryption is encrypted
at its first open."""

from __future__ import annotations

import base64
import shutil

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from support import MINI_CATALOG, VILLAGE, id_number
from support.legacy import make_legacy
from yimen.node import home, vault
from yimen.node.cli.main import main
from yimen.node.services import caselist, cases, catalog, clerks, reports
from yimen.schema.catalog import parse_catalog_json
from yimen.sync.store import driver

PEOPLE = [("张伟", "13800138000"), ("王秀英", "13912345678"), ("李娜", "15011112222"), ("欧阳明月", "18688889999")]


def village(path, clock):
    node = home.init(path, VILLAGE, "示范村党群服务中心", clock=clock)
    catalog.import_items(node, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(node, "c01", "李敏", ["民政", "社保", "村委会"])
    for seq, (name, phone) in enumerate(PEOPLE, 1):
        cases.accept(node, "c01", cases.Application("T-DIBAO", id_number(seq), name, {"居民身份证": None},
                                                    {"收入证明": None}, phone))
    return node


def secrets_of(node) -> dict[str, bytes]:
    """What must not show in a copied folder: every applicant's name, ID number and phone,
    and the node's private keys."""
    out = {}
    for seq, (name, phone) in enumerate(PEOPLE, 1):
        out |= {f"name {name}": name.encode(), f"id {seq}": id_number(seq).encode(), f"phone {phone}": phone.encode()}
    raw = node.keys.signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())
    pem = node.keys.dumps().decode()
    out |= {"signing key": raw, "signing key b64": base64.b64encode(raw)[:24], "age identity": str(node.keys.encryption).encode(),
            "key json": pem[30:90].encode()}
    return out


def found_in(folder, needles: dict[str, bytes]) -> list[str]:
    """`strings` over every file of `folder`: which needles show anywhere in their bytes."""
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{what} in {path.name}" for what, needle in needles.items() if needle in data]
    return hits


def test_a_copied_data_folder_shows_no_applicant_and_no_key(tmp_path, clock):
    node = village(tmp_path / "village", clock)
    needles = secrets_of(node)
    assert len(node.store.conn.execute("SELECT * FROM cases").fetchall()) == len(PEOPLE)
    shutil.copytree(node.home, tmp_path / "stolen-while-open")  # the write-ahead log too
    node.close()
    shutil.copytree(node.home, tmp_path / "stolen")
    assert (tmp_path / "stolen-while-open" / "yimen.db-wal").exists()
    assert found_in(tmp_path / "stolen", needles) == []
    assert found_in(tmp_path / "stolen-while-open", needles) == []
    with pytest.raises(driver.WrongKey):
        driver.connect(tmp_path / "stolen" / "yimen.db")
    with pytest.raises(driver.WrongKey):
        driver.connect(tmp_path / "stolen" / "yimen.db", b"\0" * 32)
    with home.open_node(tmp_path / "stolen") as copy:  # with the key (the stick) it opens
        assert sorted(c["applicant_name"] for c in caselist.list_cases(copy)) == sorted(n for n, _ in PEOPLE)


def test_every_file_of_a_home_is_private(tmp_path, clock):
    node = village(tmp_path / "village", clock)
    try:
        names = {p.name for p in node.home.iterdir()}
        assert {"node.json", "keyslot.json", "yimen.db", "yimen.db-wal", "yimen.db-shm"} <= names
        assert "node.key" not in names  # the private keys live in the encrypted database
        assert node.home.stat().st_mode & 0o777 == 0o700
        assert {p.name: oct(p.stat().st_mode & 0o777) for p in node.home.iterdir()} == {n: "0o600" for n in names}
    finally:
        node.close()


def test_lists_search_and_reports_work_on_the_encrypted_node(tmp_path, clock):
    with village(tmp_path / "village", clock) as node:
        assert [c["applicant_name"] for c in caselist.list_cases(node, name="王秀英")] == ["王秀英"]
        assert [c["applicant_id"] for c in caselist.list_cases(node, id_number=id_number(3))] == [id_number(3)]
        assert reports.overdue(node) == []
        assert [c["applicant_id"] for c in caselist.list_cases(node, id_tail=id_number(2)[-4:])] == [id_number(2)]
        assert caselist.count_cases(node, status="accepted") == len(PEOPLE)


def test_a_node_from_before_is_encrypted_at_its_first_open(tmp_path, clock):
    node = village(tmp_path / "village", clock)
    public = node.public_key_hex()
    needles = secrets_of(node)
    make_legacy(node)
    assert driver.is_plain(node.home / "yimen.db") and found_in(node.home, needles)
    again = home.open_node(node.home)
    try:
        assert again.encrypted_now and again.public_key_hex() == public
        assert len(caselist.list_cases(again)) == len(PEOPLE)
    finally:
        again.close()
    assert not (node.home / "node.key").exists() and not driver.is_plain(node.home / "yimen.db")
    assert found_in(node.home, needles) == []
    assert node.home.stat().st_mode & 0o777 == 0o700 and (node.home / "node.json").stat().st_mode & 0o777 == 0o600
    with home.open_node(node.home) as third:
        assert not third.encrypted_now


def test_the_cli_says_one_sentence_for_a_wrong_or_missing_key(tmp_path, monkeypatch):
    monkeypatch.setenv("YIMEN_HOME", str(tmp_path / "node"))
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--region", VILLAGE, "--name", "示范村"]).exit_code == 0
    monkeypatch.setenv(vault.ENV_KEY_FILE, str(vault.new_key_file(tmp_path / "other.key").path))
    wrong = runner.invoke(main, ["--lang", "en", "status"])
    assert wrong.exit_code == 1 and wrong.output.strip().count("\n") == 0
    assert "does not open with the key given" in wrong.output and "Traceback" not in wrong.output
    as_json = runner.invoke(main, ["status", "--json"])
    assert '"error": "wrong_key"' in as_json.output
    monkeypatch.delenv(vault.ENV_KEY_FILE)
    locked = runner.invoke(main, ["status", "--json"])
    assert locked.exit_code == 1 and '"error": "locked_node"' in locked.output


def test_yimen_key_change_moves_the_node_to_another_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("YIMEN_HOME", str(tmp_path / "node"))
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--region", VILLAGE, "--name", "示范村"]).exit_code == 0
    out = runner.invoke(main, ["--lang", "en", "key", "change", "--key-file", str(tmp_path / "new.key")])
    assert out.exit_code == 0 and "re-encrypted" in out.output
    assert runner.invoke(main, ["status"]).exit_code == 1  # the old key file no longer opens it
    monkeypatch.setenv(vault.ENV_KEY_FILE, str(tmp_path / "new.key"))
    assert runner.invoke(main, ["status"]).exit_code == 0
    refused = runner.invoke(main, ["--lang", "en", "key", "change"])  # a new passphrase needs a terminal
    assert refused.exit_code == 1 and "terminal" in refused.output
