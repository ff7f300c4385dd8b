"""`yimen bundle ...`: replication by file (USB stick)."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node.services import bundle_files, bundles
from yimen.node.cli.progress import shown
from yimen.node.cli.util import YimenGroup, h, json_option, lang, open_node, print_json


@click.group("bundle", cls=YimenGroup)
def bundle_group() -> None:
    """Bundles (数据包): carry sync data on a USB stick where there is no network link."""


@bundle_group.command("export")
@click.option("--to", "to_node", required=True, metavar="NODE",
              help="Region code of the receiving node (e.g. 440608100 or 440608100000).")
@click.option("--files", "files", type=click.Choice(bundle_files.FILES), default="with", show_default=True,
              help="Carry the files of citizens' documents too (with), leave them out (without), or carry only "
                   "them (only: for a second stick).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def bundle_export(ctx: click.Context, to_node: str, files: str, file: Path, as_json: bool) -> None:
    """Write to FILE everything NODE may see and has not yet acknowledged, with the files
    of the documents in it and the files NODE asked for. Carry FILE to NODE and run
    `yimen bundle import` there; its next bundle back acknowledges receipt.

    \b
    Example:
        yimen bundle export --to 440608100 /media/usb/to-town.yimen
        yimen bundle export --to 440608100 --files only /media/usb/files.yimen
    """
    with shown(lang(ctx)) as progress:
        s = bundles.export_bundle(open_node(ctx), to_node, file, progress, files)
    if as_json:
        return print_json(s)
    rest = "" if s["complete"] else h(ctx, "；已达文件大小上限，对方导入并回传数据包后请再次导出",
                                      "; size limit reached: export again after a bundle comes back")
    if not s["files_complete"]:
        rest += h(ctx, "；文件未能全部装下，其余的下次导出", "; not every file fit: the rest goes in the next bundle")
    click.echo(h(ctx, f"已导出 {s['seals']} 个签封、{s['chunks']} 个文件分块到 {s['file']}（给 {s['to']}，"
                      f"{s['bytes']} 字节）{rest}",
                 f"exported {s['seals']} seals and {s['chunks']} file chunks to {s['file']} (for {s['to']}, "
                 f"{s['bytes']} bytes){rest}"))


@bundle_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def bundle_import(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Verify FILE whole, store it in one transaction, then apply it (importing it again is harmless).

    \b
    Example:
        yimen bundle import /media/usb/to-village.yimen
    """
    with shown(lang(ctx)) as progress:
        s = bundles.import_bundle(open_node(ctx), file, progress)
    if as_json:
        return print_json(s)
    click.echo(h(ctx, f"已导入来自 {s['from']} 的数据包：新签封 {s['imported']} 个，重复 {s['duplicates']} 个，"
                      f"隔离 {s['quarantined']} 个，变更 {s['changes']} 项，待补依赖 {s['pending']} 项，"
                      f"新文件分块 {s['chunks']} 个",
                 f"imported bundle from {s['from']}: {s['imported']} new seals, {s['duplicates']} duplicates, "
                 f"{s['quarantined']} quarantined, {s['changes']} changes, {s['pending']} pending, "
                 f"{s['chunks']} new file chunks"))
    if s["notice"]:
        click.echo(h(ctx, f"注意：{s['notice']['zh']}", f"notice: {s['notice']['en']}"))
