"""Unlocking a node (`yimen.node.vault`): key files, passphrases, the keyslot, and what a
wrong or missing secret says."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import VILLAGE
from yimen.node import home, vault
from yimen.node.vault import BadKeyFile, BadKeySlot, BadPassphrase, KeyFile, LockedNode, Passphrase, Slot
from yimen.sync.store import driver

CHEAP = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}  # Argon2id at test speed
PASS = Passphrase("长城长城 correct horse")
NO_ENV: dict[str, str] = {}


def good_slot_bytes() -> bytes:
    return vault.new_slot(PASS, CHEAP).dumps()


@given(st.sampled_from(["key_file", "passphrase"]), st.binary(min_size=16, max_size=64))
def test_a_keyslot_reads_back_as_written(kind, salt):
    slot = Slot(kind, salt, dict(CHEAP) if kind == "passphrase" else {})
    assert Slot.loads(slot.dumps()) == slot


@given(st.data())
def test_any_damaged_keyslot_is_a_clear_error(data):
    raw = bytearray(good_slot_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255).filter(lambda b, old=raw[i]: b != old))
    try:
        slot = Slot.loads(bytes(raw))
    except BadKeySlot as e:
        assert "keyslot.json" in e.en and "keyslot.json" in e.zh
    else:  # a change that kept it valid (a digit of the salt): still within every bound
        assert slot.kind in vault.KINDS and 16 <= len(slot.salt) <= 64


@pytest.mark.parametrize("change", [
    {"version": 2}, {"kind": "rot13"}, {"salt": "c2hvcnQ="}, {"salt": 5}, {"extra": 1},
    {"argon2id": {**CHEAP, "memory_cost": 10 ** 9}}, {"argon2id": {**CHEAP, "time_cost": 0}},
    {"argon2id": {**CHEAP, "parallelism": True}}, {"argon2id": {"time_cost": 1}}, {"argon2id": []},
])
def test_a_keyslot_asking_for_too_much_or_too_little_is_refused(change):
    d = {**json.loads(good_slot_bytes()), **change}
    with pytest.raises(BadKeySlot):
        Slot.loads(json.dumps(d).encode())


@given(st.binary(max_size=120))
def test_any_bytes_but_a_key_file_are_refused(raw):
    try:
        secret = vault.parse_key_file(raw)
    except BadKeyFile:
        return
    assert len(secret) == 32 and raw.startswith(b"yimen-key-file-1\n")


def test_a_key_file_is_private_and_never_overwritten(tmp_path):
    kf = vault.new_key_file(tmp_path / "usb" / "yimen.key")
    assert kf.path.stat().st_mode & 0o777 == 0o600
    assert len(vault.read_key_file(kf.path)) == 32
    with pytest.raises(FileExistsError):
        vault.new_key_file(kf.path)


def test_one_key_file_unlocks_several_nodes_with_different_keys(tmp_path):
    kf = vault.new_key_file(tmp_path / "yimen.key")
    keys = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        keys.append(vault.create(tmp_path / name, kf))
        assert vault.unlock(tmp_path / name, kf) == keys[-1]
    assert keys[0] != keys[1]  # salted per node: a key of one node opens no other


def test_a_passphrase_node_opens_with_its_passphrase_only(tmp_path):
    node = home.init(tmp_path / "n", VILLAGE, "示范村", secret=PASS)
    node.close()
    assert json.loads((tmp_path / "n" / "keyslot.json").read_text())["kind"] == "passphrase"
    with home.open_node(tmp_path / "n", secret=PASS):
        pass
    with pytest.raises(driver.WrongKey) as e:
        home.open_node(tmp_path / "n", secret=Passphrase("not the passphrase"))
    assert "key" in e.value.en and "密钥" in e.value.zh
    with pytest.raises(LockedNode):  # the key file of the environment is no passphrase
        home.open_node(tmp_path / "n", secret=KeyFile(tmp_path / "x"))


def test_the_passphrase_comes_from_the_environment_or_the_prompt(tmp_path, monkeypatch):
    monkeypatch.delenv(vault.ENV_KEY_FILE)
    (tmp_path / "n").mkdir()
    asked = []
    key = vault.create(tmp_path / "n", ask=lambda new: asked.append(new) or PASS.text, argon2=CHEAP)
    assert asked == [True]  # a new passphrase is asked for (twice, by the CLI)
    assert vault.unlock(tmp_path / "n", environ={vault.ENV_PASSPHRASE: PASS.text}) == key
    assert vault.unlock(tmp_path / "n", ask=lambda new: asked.append(new) or PASS.text, environ=NO_ENV) == key
    assert asked == [True, False]
    with pytest.raises(LockedNode) as e:
        vault.unlock(tmp_path / "n", environ=NO_ENV)
    assert "YIMEN_KEY_FILE" in e.value.en and PASS.text not in e.value.en + e.value.zh


def test_a_short_passphrase_is_refused_at_init(tmp_path):
    with pytest.raises(BadPassphrase):
        vault.create(tmp_path, Passphrase("short"))
    assert not (tmp_path / "keyslot.json").exists()


def test_a_key_file_node_without_its_stick(tmp_path, monkeypatch):
    node = home.init(tmp_path / "n", VILLAGE, "示范村")
    node.close()
    monkeypatch.delenv(vault.ENV_KEY_FILE)
    with pytest.raises(LockedNode) as e:
        home.open_node(tmp_path / "n")
    assert "USB" in e.value.en and "U 盘" in e.value.zh
    with pytest.raises(BadKeyFile):
        home.open_node(tmp_path / "n", secret=KeyFile(tmp_path / "gone.key"))
    other = vault.new_key_file(tmp_path / "other.key")
    with pytest.raises(driver.WrongKey):
        home.open_node(tmp_path / "n", secret=other)


def test_secrets_stay_out_of_reprs_and_errors(tmp_path):
    assert PASS.text not in repr(PASS) and PASS.text not in str(PASS)
    kf = vault.new_key_file(tmp_path / "k")
    secret = vault.read_key_file(kf.path)
    (tmp_path / "n").mkdir()
    key = vault.create(tmp_path / "n", kf)
    (tmp_path / "n" / "x.db").write_bytes(os.urandom(8192))
    with pytest.raises(driver.WrongKey) as e:
        driver.connect(tmp_path / "n" / "x.db", key)
    text = f"{e.value.zh} {e.value.en} {e.value!r}"
    for s in (key, secret):
        assert s.hex() not in text and base64.b64encode(s).decode() not in text


def test_changing_the_secret_re_encrypts_the_node(tmp_path):
    node = home.init(tmp_path / "n", VILLAGE, "示范村")
    public = node.public_key_hex()
    node.close()
    old = vault.unlock(node.home)
    stick = tmp_path / "new-stick" / "yimen.key"
    vault.change(node.home, node.home / "yimen.db", old, Passphrase("a new passphrase"), argon2=CHEAP)
    assert not (node.home / vault.PENDING_FILE).exists()
    with pytest.raises(LockedNode):  # the environment's key file no longer unlocks it
        home.open_node(node.home)
    with home.open_node(node.home, secret=Passphrase("a new passphrase")) as again:
        assert again.public_key_hex() == public
    vault.change(node.home, node.home / "yimen.db", vault.unlock(node.home, Passphrase("a new passphrase")),
                 KeyFile(stick))
    with home.open_node(node.home, secret=KeyFile(stick)) as again:
        assert again.public_key_hex() == public


def test_a_change_cut_short_after_re_encrypting_is_finished_at_the_next_open(tmp_path):
    node = home.init(tmp_path / "n", VILLAGE, "示范村")
    node.close()
    stick = KeyFile(tmp_path / "new.key")
    old_slot = (node.home / "keyslot.json").read_bytes()
    vault.change(node.home, node.home / "yimen.db", vault.unlock(node.home), stick)
    (node.home / vault.PENDING_FILE).write_bytes((node.home / "keyslot.json").read_bytes())
    (node.home / "keyslot.json").write_bytes(old_slot)  # as if the power went before the rename
    with home.open_node(node.home, secret=stick):
        pass
    assert not (node.home / vault.PENDING_FILE).exists()
    assert (node.home / "keyslot.json").read_bytes() != old_slot
    with home.open_node(node.home, secret=stick):  # the new slot is the keyslot now
        pass


def test_a_lost_keyslot_is_said_and_never_replaced(tmp_path):
    node = home.init(tmp_path / "n", VILLAGE, "示范村")
    node.close()
    (node.home / "keyslot.json").unlink()
    with pytest.raises(BadKeySlot) as e:
        home.open_node(node.home)
    assert "backup" in e.value.en and not (node.home / "keyslot.json").exists()
