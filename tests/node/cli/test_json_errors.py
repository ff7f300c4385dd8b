"""Under --json an error is JSON too, for every command that takes --json:
`{"error": code, "message": sentence}` on stdout and a non-zero exit."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from support.signin import ADMIN_INIT, ADMIN_PASSWORD
from yimen.node.cli.main import main


def json_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += json_commands(cmd, (*path, name))
        elif any("--json" in p.opts for p in cmd.params):
            out.append((*path, name))
    return out


def test_most_commands_take_json():
    assert len(json_commands()) >= 15


@pytest.mark.parametrize("path", json_commands(), ids=" ".join)
def test_an_error_under_json_is_json(tmp_path, path):
    """No node lives in the home, or a required argument is missing: an error either way."""
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "none"), *path, "--json"])
    assert result.exit_code != 0
    answer = json.loads(result.output)
    assert set(answer) == {"error", "message"} and answer["message"], result.output
    assert answer["error"] in ("not_initialised", "usage"), answer


def test_the_code_is_the_errors(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["--home", str(tmp_path / "n"), "init", "--region", "440608100201", "--name", "村", *ADMIN_INIT],
                  input=ADMIN_PASSWORD + "\n")
    result = runner.invoke(main, ["--home", str(tmp_path / "n"), "--lang", "en", "case", "show", "X-1", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == {"error": "unknown_case", "message": "no case has the receipt number X-1"}
    result = runner.invoke(main, ["--home", str(tmp_path / "n"), "bundle", "import", str(tmp_path), "--json"])
    assert result.exit_code == 2 and json.loads(result.output)["error"] == "usage"
