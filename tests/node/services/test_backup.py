"""Backing up and restoring a node (`yimen backup`, `yimen restore`), and a village
restored from a backup whose new cases go up by USB stick."""

from __future__ import annotations

import shutil
from contextlib import closing

import pytest
from click.testing import CliRunner

from support import accept_cases, id_number
from support.chain import push, synced_chain
from support.signin import login, sign_in
from support.legacy import make_legacy
from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.replication import engine
from yimen.node.server.lock import HomeBusy, HomeLock
from yimen.node.services import backup, cases
from yimen.node.services import status as node_status
from yimen.node.services.backup import BackupError
from yimen.node.services.bundles import export_bundle, import_bundle
from yimen.sync.store import driver

AT = "2026-11-20T09:00:00+08:00"


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path / "chain") as nodes:
        yield nodes


def applicants(node, ids) -> dict[str, tuple[str, int]]:
    """case id -> (applicant id, events in its history), as `node` holds the documents."""
    return {cid: (v["case"]["applicant_id"], len(v["history"]))
            for cid in ids for v in [node.store.get(cid).value()]}


def carry(src, dst, folder, name: str) -> dict:
    """A bundle from `src`, imported at `dst`."""
    return import_bundle(dst, export_bundle(src, dst.node_id, folder / f"{name}.yimen")["file"])


def test_a_backup_is_a_consistent_copy_that_restores_to_the_same_node(chain, tmp_path):
    va = chain["village_a"]
    ids = accept_cases(va, 3)
    summary = backup.backup(va, tmp_path / "backup")
    assert summary["node_id"] == va.node_id and summary["bytes"] > 0
    folder = tmp_path / "backup"
    assert sorted(p.name for p in folder.iterdir()) == ["keyslot.json", "node.json", "yimen.db"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())
    assert not driver.is_plain(folder / "yimen.db")  # encrypted with the node's own key
    with pytest.raises(driver.WrongKey):
        driver.connect(folder / "yimen.db")
    with closing(driver.connect(folder / "yimen.db", home.database_key(va.home))) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    restored = backup.restore(tmp_path / "elsewhere", tmp_path / "backup", AT)
    assert restored == {"home": str(tmp_path / "elsewhere"), "node_id": va.node_id, "restored_at": AT,
                        "waits_for_parent": True}
    with home.open_node(tmp_path / "elsewhere") as again:
        assert again.public_key_hex() == va.public_key_hex()
        assert applicants(again, ids) == applicants(va, ids)
        assert again.store.peer != va.store.peer  # a new Loro peer id: it never reuses one


def test_a_backup_goes_only_into_an_empty_folder(chain, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(BackupError, match="not empty"):
        backup.backup(chain["village_a"], tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["photo.jpg"]


def test_restore_refuses_what_is_not_a_backup_of_this_node_or_a_running_home(chain, tmp_path):
    va, vb = chain["village_a"], chain["village_b"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match="not a Yimen node backup"):
        backup.restore(tmp_path / "h", tmp_path / "empty", AT)
    backup.backup(va, tmp_path / "backup")
    with pytest.raises(BackupError, match="holds another node"):
        backup.restore(vb.home, tmp_path / "backup", AT)
    lock = HomeLock(va.home)
    lock.acquire()  # `yimen serve` runs on the home
    try:
        with pytest.raises(HomeBusy):
            backup.restore(va.home, tmp_path / "backup", AT)
    finally:
        lock.release()


def test_restore_drops_a_write_ahead_log_left_in_the_home(chain, tmp_path):
    va = chain["village_a"]
    backup.backup(va, tmp_path / "backup")
    accept_cases(va, 2)
    va.close()
    (va.home / "yimen.db-wal").write_bytes(b"stale log of the lost database")
    backup.restore(va.home, tmp_path / "backup", AT)
    assert not (va.home / "yimen.db-wal").exists()
    with home.open_node(va.home) as again:
        assert again.store.count("case") == 0


def test_a_restored_city_does_not_wait_for_anyone(chain, tmp_path):
    backup.backup(chain["city"], tmp_path / "backup")
    assert not backup.restore(tmp_path / "city", tmp_path / "backup", AT)["waits_for_parent"]
    with home.open_node(tmp_path / "city") as city:
        assert node_status.status(city)["positions"]["restore_unconfirmed"] is None


def test_the_commands_back_up_and_restore(chain, tmp_path):
    va = chain["village_a"]
    runner = CliRunner()
    sign_in(va, "c01")  # c01's password goes into the backup
    sign_in(va, "a01")  # the node's admin backs it up
    out = runner.invoke(main, ["--home", str(va.home), "--lang", "en", "backup", "--to", str(tmp_path / "b")])
    assert out.exit_code == 0 and f"backed up node {va.node_id}" in out.output
    va.close()
    target = str(tmp_path / "new")
    out = runner.invoke(main, ["--home", target, "--lang", "en", "restore", "--from", str(tmp_path / "b")])
    assert out.exit_code == 0 and "sync with the parent once" in out.output, out.output
    out = runner.invoke(main, ["--home", target, "--lang", "en", "status"])
    assert "restored from a backup" in out.output and "waiting for the parent's numbers" in out.output
    login(target, "c01")
    out = runner.invoke(main, ["--home", target, "--lang", "en", "case", "accept",
                               "--item", "T-IMM", "--applicant-id", id_number(1), "--applicant-name", "陈美玲",
                               "--all-materials"])
    assert out.exit_code == 1 and "sync once" in out.output and "Traceback" not in out.output, out.output


def test_a_village_restored_from_a_backup_gets_its_new_cases_up_by_stick(chain, tmp_path):
    """As over HTTP (tests/node/server/test_positions.py), with bundles between the village
    and the town: the town's bundle tells the restored village what it holds, and the
    village's next bundle restates its feed with its new cases in it."""
    va, town, district = chain["village_a"], chain["town"], chain["district"]
    stick = tmp_path / "stick"
    stick.mkdir()
    before = accept_cases(va, 2)
    carry(va, town, stick, "1-up")
    backup.backup(va, tmp_path / "backup")
    lost = accept_cases(va, 3, first=3)
    carry(va, town, stick, "2-up")
    push(town, district)
    expected = applicants(va, before + lost)
    va.close()

    backup.restore(tmp_path / "new-laptop", tmp_path / "backup", AT)
    with home.open_node(tmp_path / "new-laptop") as again:
        with pytest.raises(cases.NumbersUnconfirmed):
            accept_cases(again, 1, first=10)
        down = carry(town, again, stick, "3-down")
        assert "restored from an older copy" in down["notice"]["en"]
        new = accept_cases(again, 10, first=10)
        assert not set(new) & set(before + lost)
        expected.update(applicants(again, new))
        up = carry(again, town, stick, "4-up")
        assert up["imported"] >= 1
        push(town, district)
        for hub in (town, district):
            assert applicants(hub, expected) == expected
        carry(town, again, stick, "5-down")  # its acknowledgement: the restatement arrived
        assert node_status.status(again)["positions"]["restating_to"] == []
        assert export_bundle(again, town.node_id, stick / "6-up.yimen")["seals"] == 0
        assert engine(town).positions(again.node_id)[0] == engine(again).feed_head()


def test_a_backup_from_before_encryption_restores_and_is_encrypted_at_first_open(chain, tmp_path):
    va = chain["village_a"]
    ids = accept_cases(va, 2)
    before = applicants(va, ids)
    public = va.public_key_hex()
    shutil.copytree(va.home, tmp_path / "copy", ignore=shutil.ignore_patterns("*.lock"))
    copy = home.open_node(tmp_path / "copy")
    make_legacy(copy)  # closes it
    folder = tmp_path / "old-backup"
    folder.mkdir()
    for name in ("yimen.db", "node.key", "node.json"):
        shutil.copy2(tmp_path / "copy" / name, folder / name)
    backup.restore(tmp_path / "restored", folder, AT)
    with home.open_node(tmp_path / "restored") as again:
        assert again.encrypted_now and again.public_key_hex() == public
        assert applicants(again, ids) == before
    assert not driver.is_plain(tmp_path / "restored" / "yimen.db")
    assert not (tmp_path / "restored" / "node.key").exists()
