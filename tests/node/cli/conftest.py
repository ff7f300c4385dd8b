"""The `cli` fixture: a fresh village node at a temporary YIMEN_HOME, driven through
click's CliRunner the way a clerk types commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from yimen.node.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "node" / "data"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("YIMEN_HOME", str(tmp_path / "node"))
    monkeypatch.delenv("YIMEN_CLERK", raising=False)
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result
    run("init", "--region", "440608100201", "--name", "示范村")
    return run
