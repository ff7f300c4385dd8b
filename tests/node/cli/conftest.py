"""The `cli` fixture: a fresh village node at a temporary YIMEN_HOME, driven through
click's CliRunner the way a clerk types commands. `init` makes the admin a01 and signs
them in; `cli.sign_in("c01")` signs in another clerk (every test clerk's password is
`support.signin.PASSWORD`, which a command given `--password-stdin` reads unless told
otherwise), `cli.as_admin()` signs the admin in again."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from support.signin import ADMIN_ID, ADMIN_INIT, ADMIN_PASSWORD, PASSWORD
from yimen.node.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "node" / "data"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("YIMEN_HOME", str(tmp_path / "node"))
    runner = CliRunner()

    def run(*args: str, ok: bool = True, input: str | None = None):
        if input is None and "--password-stdin" in args:
            input = PASSWORD + "\n"
        result = runner.invoke(main, list(args), catch_exceptions=False, input=input)
        assert (result.exit_code == 0) == ok, result.output
        return result

    def sign_in(clerk_id: str, password: str = PASSWORD, ok: bool = True):
        return run("login", "--id", clerk_id, "--password-stdin", input=password + "\n", ok=ok)

    run.sign_in = sign_in
    run.as_admin = lambda: sign_in(ADMIN_ID, ADMIN_PASSWORD)
    run("init", "--region", "440608100201", "--name", "示范村", *ADMIN_INIT, input=ADMIN_PASSWORD + "\n")
    return run
