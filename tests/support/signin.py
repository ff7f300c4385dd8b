"""Clerks sign in in tests through the real commands: the passwords every test uses, and
signing in a clerk that a fixture made through the services (with no password)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.services import clerks

PASSWORD = "Window-Pass-2026"  # every clerk's in tests
ADMIN_ID, ADMIN_NAME, ADMIN_PASSWORD = "a01", "张管理", "Admin-Pass-2026"
ADMIN_INIT = ["--admin-id", ADMIN_ID, "--admin-name", ADMIN_NAME, "--password-stdin"]


def login(home_dir: Path | str, clerk_id: str, password: str = PASSWORD) -> None:
    """`yimen login --password-stdin` at that home."""
    result = CliRunner().invoke(main, ["--home", str(home_dir), "login", "--id", clerk_id, "--password-stdin"],
                                input=password + "\n")
    assert result.exit_code == 0, result.output


def sign_in(node: home.Node, clerk_id: str = "c01", roles: list[str] | None = None) -> None:
    """Sign in a clerk of an open node: one the node has is given the test password, one
    it lacks is added first (with `roles`)."""
    if not any(c["clerk_id"] == clerk_id for c in clerks.all_clerks(node)):
        clerks.add(node, clerk_id, f"测试{clerk_id}", roles or [clerks.ADMIN])
    clerks.set_password(node, clerk_id, PASSWORD)
    login(node.home, clerk_id)
