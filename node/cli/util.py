"""Shared pieces of the command line: error handling, opening the node, output helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from yimen.node import home
from yimen.schema.case import STATUS_ZH
from yimen.schema.errors import YimenError


class YimenGroup(click.Group):
    """Turns every Yimen error raised below into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except YimenError as e:
            lang = (ctx.obj or {}).get("lang", "zh")
            raise click.ClickException(e.text(lang)) from e


def open_node(ctx: click.Context) -> home.Node:
    obj = ctx.find_root().obj
    if "node" not in obj:
        obj["node"] = home.open_node(Path(obj["home"]))
        ctx.find_root().call_on_close(obj["node"].close)
    return obj["node"]


def lang(ctx: click.Context) -> str:
    return ctx.find_root().obj["lang"]


def h(ctx: click.Context, zh: str, en: str) -> str:
    return zh if lang(ctx) == "zh" else en


def status_text(ctx: click.Context, status: str) -> str:
    return STATUS_ZH.get(status, status) if lang(ctx) == "zh" else status


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
clerk_option = click.option("--clerk", envvar="YIMEN_CLERK", required=True,
                            help="Acting clerk id (env YIMEN_CLERK).")
