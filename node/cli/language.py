"""click's own messages (`Error:`, `Missing option`, `No such option`, a bad choice or path)
in the clerk's language.

click 8 looks every message up with the stdlib's module-level `gettext.gettext`, in the
process's text domain, for the language named by `LANGUAGE`/`LC_ALL`/`LANG`: those are the
only supported knobs, so in zh mode `clerk_language` binds our catalog of click's msgids
(`node/locale/zh_CN/LC_MESSAGES/yimen-click.po`, compiled to the `.mo` beside it) as the
text domain and names zh_CN in `LANGUAGE` for the length of one command, and puts both
back afterwards (CliRunner tests run en and zh in one process). The language is read from
argv and the environment before click parses anything, because parsing is where most of
click's errors arise.

`--help` stays wholly English (the command docstrings are English; a Chinese frame around
them would mix languages): the catalog leaves the texts only help shows as they are. In zh
mode an error names the command instead of printing the English usage synopsis.
"""

from __future__ import annotations

import gettext
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import click

DOMAIN = "yimen-click"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGS = ("zh", "en")
_outer: list[str] = []  # the text domains in force outside our zh commands (innermost last)


def argv_lang(args: Sequence[str], env: dict[str, str] | os._Environ = os.environ) -> str:
    """The language a command line asks for (`--lang X`, `--lang=X`, else YIMEN_LANG, else
    zh), read as click will read it; a value click will refuse counts as zh."""
    chosen = env.get("YIMEN_LANG", "zh")
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--lang="):
            chosen = arg.split("=", 1)[1]
    return chosen if chosen in LANGS else "zh"


@contextmanager
def clerk_language(lang: str) -> Iterator[None]:
    """click's messages in `lang` inside the block; the process's gettext state and
    `LANGUAGE` as they were afterwards."""
    if lang != "zh":
        yield
        return
    domain, language = gettext.textdomain(), os.environ.get("LANGUAGE")
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = "zh_CN"
    _outer.append(domain)
    try:
        yield
    finally:
        _outer.pop()
        gettext.textdomain(domain)
        if language is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = language


class ClerkContext(click.Context):
    """A context whose usage line, in zh mode, only names the command (the synopsis is the
    English help's)."""

    def get_usage(self) -> str:
        if _outer:
            return f"命令：{self.command_path}"
        return super().get_usage()


def commands(root: click.Command) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `root` with its path of names (the root's path is empty)."""
    stack: list[tuple[tuple[str, ...], click.Command]] = [((), root)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        if isinstance(cmd, click.Group):
            stack.extend(((*path, name), sub) for name, sub in sorted(cmd.commands.items(), reverse=True))


def speak_to_clerks(root: click.Command) -> None:
    """Give every command of the tree the clerk's context (see `ClerkContext`)."""
    for _, cmd in commands(root):
        cmd.context_class = ClerkContext
