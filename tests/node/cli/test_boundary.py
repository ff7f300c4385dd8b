"""The command line's boundary: a database held by another process, a node file from a
newer Yimen and a bug (a bare BaseException too, as the loro library raises) all end in
one sentence and exit code 1, never a traceback; the bug's details go to the node's log
file. An exit a command asks for keeps its code."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from support.signin import PASSWORD, sign_in
from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.services import clerks
from yimen.sync.store import db as store_db


@pytest.fixture
def node_home(tmp_path, monkeypatch):
    path = tmp_path / "node"
    with home.init(path, "440608100201", "示范村") as node:
        sign_in(node, "a01")
    monkeypatch.setenv("YIMEN_HOME", str(path))
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args), input=f"{PASSWORD}\n")


def one_sentence(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_write_while_another_process_holds_the_database(node_home, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_S", 0.2)
    other = home.connect(node_home, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        line = one_sentence(run("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--password-stdin"))
        assert "节点正忙" in line
        assert "busy" in one_sentence(run("--lang", "en", "clerk", "add", "--id", "c01", "--name", "L",
                                          "--role", "民政", "--password-stdin"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert run("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--password-stdin").exit_code == 0


def test_a_node_file_from_a_newer_yimen(node_home):
    conn = home.connect(node_home)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version:yimen.sync'")
    conn.commit()
    conn.close()
    assert "更新版本" in one_sentence(run("status"))


def test_a_bug_is_one_sentence_and_a_log_entry(node_home, monkeypatch):
    def broken(*a, **kw):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(clerks, "all_clerks", broken)
    line = one_sentence(run("clerk", "list"))
    assert "ZeroDivisionError" in line and str(node_home / "yimen.log") in line
    logged = (node_home / "yimen.log").read_text("utf-8")
    assert "Traceback" in logged and "a bug" in logged


class LoroPanic(BaseException):
    """What the loro library raises on a garbage blob: a BaseException that is no Exception."""


def test_a_bare_base_exception_is_one_sentence_and_a_log_entry(node_home, monkeypatch):
    def broken(*a, **kw):
        raise LoroPanic("called `Result::unwrap()` on an `Err` value")
    monkeypatch.setattr(clerks, "all_clerks", broken)
    line = one_sentence(run("clerk", "list"))
    assert "LoroPanic" in line and str(node_home / "yimen.log") in line
    logged = (node_home / "yimen.log").read_text("utf-8")
    assert "Traceback" in logged and "Result::unwrap()" in logged


def test_an_exit_asked_for_inside_a_command_keeps_its_code(node_home, monkeypatch):
    def leave(*a, **kw):
        raise SystemExit(3)
    monkeypatch.setattr(clerks, "all_clerks", leave)
    result = run("clerk", "list")
    assert result.exit_code == 3 and "Traceback" not in result.output and not result.output.strip()
