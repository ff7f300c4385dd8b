"""Clerks sign in at the command line: `yimen login`, `logout`, `whoami`, `passwd`, the
session file, lockout shared by every process, sessions ended from another desk, and the
admin's commands refused to anyone else. Two desks are two runtime folders (two OS users
or two terminals of the same node)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support import id_number
from support.signin import ADMIN_PASSWORD, PASSWORD
from yimen.sync.store import driver
from yimen.node import home

SAMPLE = Path(__file__).resolve().parents[3] / "node" / "data" / "catalog_sample.json"
YIMEN = Path(sys.executable).with_name("yimen")
ACCEPT = ("case", "accept", "--item", "MZ-003", "--applicant-name", "陈美玲", "--all-materials")


@pytest.fixture
def village(cli):
    cli("catalog", "import", str(SAMPLE))
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--password-stdin")
    return cli


def _desk(monkeypatch, tmp_path, name: str) -> None:
    """Commands from here on run at another desk (its own runtime folder)."""
    folder = tmp_path / f"desk-{name}"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))


def _session_files() -> list[Path]:
    return list((Path(os.environ["XDG_RUNTIME_DIR"]) / "yimen").glob("*.session"))


def test_login_whoami_logout(village):
    assert "a01 张管理（管理员）" in village("whoami").output
    assert "已登录：c01 李敏（村委会、民政）" in village.sign_in("c01").output
    assert village("whoami", "--json").output.count('"c01"') == 1
    assert "accepted: 440608100201-" in village("--lang", "en", *ACCEPT, "--applicant-id", id_number()).output
    assert "已退出登录" in village("logout").output
    assert _session_files() == []
    assert "尚未登录：请先运行 yimen login" in village("whoami", ok=False).output
    assert "not signed in: run `yimen login`" in village("--lang", "en", *ACCEPT, "--applicant-id", id_number(2),
                                                         ok=False).output
    assert "本来就未登录" in village("logout").output


def test_the_history_names_the_signed_in_clerk(village):
    village.sign_in("c01")
    cid = village(*ACCEPT, "--applicant-id", id_number(), "--json").output.split('"case_id": "')[1].split('"')[0]
    village("case", "act", cid, "submit")
    shown = village("case", "show", cid).output
    assert shown.count("c01") >= 2 and "a01" not in shown


def test_login_asks_for_the_id_and_the_password_hidden(village):
    result = village("login", input=f"c01\n{PASSWORD}\n")
    assert "工号:" in result.output and "密码:" in result.output and PASSWORD not in result.output
    assert "c01 李敏" in village("whoami").output


def test_the_session_file_is_0600_in_a_0700_folder_and_holds_no_password(village, tmp_path):
    village.sign_in("c01")
    [path] = _session_files()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert PASSWORD not in path.read_text("ascii") and len(path.read_text("ascii")) >= 40
    assert not str(path).startswith(str(tmp_path / "node"))  # off the data folder


def test_a_loose_session_folder_is_closed_again(village):
    folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "yimen"
    folder.chmod(0o777)
    village("whoami")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_no_password_is_in_any_file_in_plain_text(village, tmp_path):
    village.sign_in("c01")
    village("passwd", "--password-stdin", input=f"{PASSWORD}\nChanged-Pass-2026\n")
    village.sign_in("c01", "Changed-Pass-2026")
    village("--lang", "en", *ACCEPT, "--applicant-id", id_number())
    with home.open_node(tmp_path / "node") as node:
        node.store.conn.execute("PRAGMA wal_checkpoint")
    for secret in (PASSWORD, ADMIN_PASSWORD, "Changed-Pass-2026"):
        for path in (p for p in tmp_path.rglob("*") if p.is_file()):
            assert secret.encode() not in path.read_bytes(), (secret, path)
            assert secret.encode("utf-16-le") not in path.read_bytes(), (secret, path)


def test_a_wrong_password_and_an_unknown_clerk_are_one_sentence(village):
    wrong = village.sign_in("c01", "Wrong-Pass-2026", ok=False).output
    unknown = village.sign_in("c77", PASSWORD, ok=False).output
    assert wrong == unknown == "错误：工号或密码不正确\n"
    assert "a01 张管理" in village("whoami").output  # a failed sign-in leaves the desk's session alone
    assert village("--lang", "en", "login", "--id", "c77", "--password-stdin",
                   input="x\n", ok=False).output == "Error: wrong clerk id or password\n"


def test_lockout_is_shared_by_every_process_and_an_admin_unlocks(village, tmp_path):
    for _ in range(4):
        village.sign_in("c01", "Wrong-Pass-2026", ok=False)
    other = subprocess.run([str(YIMEN), "--home", str(tmp_path / "node"), "login", "--id", "c01", "--password-stdin"],
                           input="Wrong-Pass-2026\n", capture_output=True, text=True, timeout=60)
    assert other.returncode == 1 and other.stderr == "错误：工号或密码不正确\n"  # the fifth, in another process
    locked = village.sign_in("c01", PASSWORD, ok=False).output
    assert "连续输错 5 次" in locked and "已锁定至" in locked and "clerk unlock" in locked
    assert "已锁定至" in village("clerk", "list").output
    assert "已解锁 c01 李敏" in village("clerk", "unlock", "c01").output
    village.sign_in("c01")


def test_an_expired_session_is_refused_and_its_file_removed(village, tmp_path):
    village.sign_in("c01")
    with home.open_node(tmp_path / "node") as node:
        node.store.conn.execute("UPDATE clerk_sessions SET last_used_at = '2026-01-01T08:00:00+08:00'")
    result = village(*ACCEPT, "--applicant-id", id_number(), ok=False)
    assert "尚未登录或登录已失效" in result.output and _session_files() == []


def test_a_deactivated_clerks_session_ends_at_once(village, monkeypatch, tmp_path):
    _desk(monkeypatch, tmp_path, "window")
    village.sign_in("c01")
    village(*ACCEPT, "--applicant-id", id_number())
    _desk(monkeypatch, tmp_path, "office")
    village.as_admin()
    village("clerk", "deactivate", "c01")
    _desk(monkeypatch, tmp_path, "window")
    assert "尚未登录或登录已失效" in village(*ACCEPT, "--applicant-id", id_number(2), ok=False).output


def test_a_password_change_ends_the_clerks_other_sessions(village, monkeypatch, tmp_path):
    _desk(monkeypatch, tmp_path, "window")
    village.sign_in("c01")
    _desk(monkeypatch, tmp_path, "office")
    village.sign_in("c01")
    assert "密码已修改" in village("passwd", "--password-stdin", input=f"{PASSWORD}\nChanged-Pass-2026\n").output
    village("whoami")  # this desk's session lives on
    _desk(monkeypatch, tmp_path, "window")
    assert "登录已失效" in village("whoami", ok=False).output
    village.sign_in("c01", "Changed-Pass-2026")


def test_passwd_asks_the_current_password_first_and_follows_the_rules(village):
    village.sign_in("c01")
    assert "工号或密码不正确" in village("passwd", "--password-stdin", input="Nope-Nope-2026\nChanged-Pass-2026\n",
                                  ok=False).output
    assert "8–128 个字符" in village("passwd", "--password-stdin", input=f"{PASSWORD}\nshort\n", ok=False).output
    assert "不能含工号" in village("passwd", "--password-stdin", input=f"{PASSWORD}\nmy-c01-pass\n", ok=False).output
    village.sign_in("c01")  # unchanged


def test_an_admin_sets_a_forgotten_password(village):
    assert "已为 c01 李敏 设置新密码" in village("clerk", "passwd", "c01", "--password-stdin",
                                          input="Reset-Pass-2026\n").output
    village.sign_in("c01", PASSWORD, ok=False)
    village.sign_in("c01", "Reset-Pass-2026")


def test_an_admin_makes_a_one_time_sign_in_link(village):
    out = village("clerk", "link", "c01", "--minutes", "30").output
    assert "c01 的一次性登录链接" in out and "/signin/link/" in out
    made = json.loads(village("clerk", "link", "c01", "--json").output)
    assert made["path"].startswith("/signin/link/") and made["clerk_id"] == "c01"
    assert "--minutes" in village("clerk", "link", "c01", "--minutes", "0", ok=False).output
    assert "没有在岗的窗口人员 c09" in village("clerk", "link", "c09", ok=False).output


ADMIN_COMMANDS = [
    ["clerk", "add", "--id", "c02", "--name", "王芳", "--role", "社保", "--password-stdin"],
    ["clerk", "roles", "c01", "--add", "社保"], ["clerk", "deactivate", "c01"], ["clerk", "activate", "c01"],
    ["clerk", "unlock", "c01"], ["clerk", "passwd", "c01", "--password-stdin"], ["clerk", "link", "c01"],
    ["catalog", "import", str(SAMPLE)], ["invite", "--region", "440608100201001"],
    ["admit", str(SAMPLE), "--answer", "answer.json"], ["enroll", "--request", "request.json"],
    ["backup", "--to", "backup"], ["restore", "--from", "."],
    ["clerk", "bootstrap", "--id", "a02", "--name", "李管理", "--password-stdin"],
]


@pytest.mark.parametrize("args", ADMIN_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_the_admins_commands_are_refused_to_a_clerk(village, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    village.sign_in("c01")
    with home.open_node(tmp_path / "node") as node:
        before = list(driver.iterdump(node.store.conn))
    out = village(*args, ok=False).output
    assert "李敏（c01）不是管理员" in out or "本节点已有管理员" in out, out
    assert not any((tmp_path / name).exists() for name in ("backup", "answer.json", "request.json"))
    with home.open_node(tmp_path / "node") as node:
        assert list(driver.iterdump(node.store.conn)) == before


def test_reading_cases_needs_a_signed_in_clerk_and_the_catalog_does_not(village):
    village("logout")
    for args in (["case", "list"], ["case", "show", "440608100201-2026-000001"], ["case", "inbox"],
                 ["report", "overdue"], ["report", "refusals"], ["clerk", "list"]):
        assert "尚未登录" in village(*args, ok=False).output, args
    village("catalog", "show", "MZ-003")
    village("status")


def test_a_node_made_without_an_admin_gets_one_by_bootstrap_once(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from yimen.node.cli.main import main

    def run(*args, input=None):
        return CliRunner().invoke(main, ["--home", str(tmp_path / "n"), *args], input=input)
    out = run("init", "--region", "440608100201", "--name", "示范村").output
    assert "尚无管理员：请运行 yimen clerk bootstrap 添加" in out
    assert "密码须为" in run("clerk", "bootstrap", "--id", "a01", "--name", "王芳", "--password-stdin",
                          input="short\n").output
    out = run("clerk", "bootstrap", "--id", "a01", "--name", "王芳", input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n").output
    assert "已添加管理员 a01 王芳" in out and "已登录：a01 王芳（管理员）" in out
    out = run("clerk", "bootstrap", "--id", "a02", "--name", "李", "--password-stdin", input=f"{ADMIN_PASSWORD}\n")
    assert out.exit_code == 1 and "本节点已有管理员" in out.output


def test_init_refuses_a_weak_admin_password_before_making_anything(tmp_path):
    from click.testing import CliRunner
    from yimen.node.cli.main import main
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "n"), "init", "--region", "440608100201", "--name", "村",
                                    "--admin-id", "a01", "--admin-name", "王芳", "--password-stdin"], input="a01a01a01\n")
    assert out.exit_code == 1 and "不能含工号" in out.output and not (tmp_path / "n").exists()
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "n"), "init", "--region", "440608100201", "--name", "村",
                                    "--admin-name", "王芳"])
    assert out.exit_code == 2 and "--admin-name 须与 --admin-id 一起给出" in out.output and not (tmp_path / "n").exists()


def test_status_says_when_password_hashing_is_weak(village, monkeypatch):
    assert "弱（仅供测试）" in village("status").output
    assert village("status", "--json").output.count('"weak_password_hashing": true') == 1
    monkeypatch.setenv("YIMEN_PASSWORD_PROFILE", "standard")
    assert "密码散列" not in village("status").output


def test_a_session_folder_that_is_a_link_is_refused(village, tmp_path):
    folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "yimen"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir()
    folder.symlink_to(tmp_path / "elsewhere")  # someone laid a link where the folder goes
    out = village("whoami", ok=False).output
    assert "登录信息目录" in out and "拒绝使用" in out
    assert list((tmp_path / "elsewhere").iterdir()) == []
