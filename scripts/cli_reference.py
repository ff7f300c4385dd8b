"""Print the CLI reference (every command's --help) as Markdown, for the README.

    .venv/bin/python scripts/cli_reference.py            # print it
    .venv/bin/python scripts/cli_reference.py --write    # replace the README section
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from yimen.node.cli.main import main

START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    out = [(prefix, group)]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        path = f"{prefix} {name}"
        out += commands(cmd, path) if isinstance(cmd, click.Group) else [(path, cmd)]
    return out


def reference() -> str:
    parts = []
    for path, cmd in commands(main, "yimen"):
        with click.Context(cmd, info_name=path, terminal_width=100, max_content_width=100) as ctx:
            parts.append(f"### `{path}`\n\n```\n{cmd.get_help(ctx)}\n```\n")
    return "\n".join(parts)


def section() -> str:
    return f"{START}\n{reference()}{END}"


def write() -> None:
    text = README.read_text("utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(head + section() + tail, "utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(reference())
