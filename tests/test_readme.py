"""The README's "Using a node" and "Joining nodes into a chain" blocks run as written, one
after the other, in an empty folder: a village imports the catalog standing alone, accepts
a case, then enrolls with its town, which publishes the same catalog, and syncs. Only the
placeholders change: `<code>` is the code `invite` printed, the ports are free ones, a
receipt number's year is this year's. A command with a pipe (a password given on standard
input) runs in bash."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from yimen.node.home import china_now

ROOT = Path(__file__).resolve().parents[1]


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    out = []
    for heading in ("## Using a node", "## Joining nodes into a chain"):
        section = text[text.index(heading):]
        out.append(section[section.index("```sh\n") + 6:section.index("\n```", section.index("```sh\n"))])
    return out


def _commands(block: str) -> list[str]:
    """The block's commands, continuation lines joined, comments dropped."""
    lines = block.replace("\\\n", " ").splitlines()
    return [c for c in (re.sub(r"\s+#.*$", "", line).strip() for line in lines) if c and not c.startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "yimen").exists(), reason="needs the project's .venv")
def test_the_readme_runs_as_written(tmp_path):
    for name in (".venv", "node"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMEN_")}
    ports = {"8710": str(_free_port()), "8711": str(_free_port())}
    code, servers, outputs = "", [], []
    try:
        for command in (c for block in _blocks() for c in _commands(block)):
            for old, new in ports.items():
                command = command.replace(old, new)
            command = command.replace("<code>", code).replace("-2026-", f"-{china_now().date().year}-")
            if command.startswith("export "):
                key, _, value = command.removeprefix("export ").partition("=")
                env[key] = value
                continue
            args = shlex.split(command.removesuffix("&"))
            if command.endswith("&"):
                proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
                servers.append(proc)
                assert "listening on" in proc.stdout.readline(), command
                continue
            shell = ["bash", "-c", command] if "|" in command else args  # a password piped in
            done = subprocess.run(shell, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
            outputs.append(done.stdout)
            if " invite " in command:
                code = re.search(r"邀请码 ([A-Za-z0-9_.-]+)", done.stdout).group(1)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
            proc.stdout.close()
    status = outputs[-1]
    assert re.search(r"已隔离签封\s+0\b", status), status
    with_town = subprocess.run([sys.executable, "-c", (
        "from pathlib import Path; from yimen.node import home; from yimen.node.services import catalog;"
        "n = home.open_node(Path('data/my-village'));"
        "print({r['publisher'] for r in catalog.list_items(n, include_cancelled=True)})")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)  # unlocked by the README's key file
    assert with_town.stdout.strip() == "{'440608100000'}"  # the town's items are the ones used
