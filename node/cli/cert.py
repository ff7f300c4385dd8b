"""`yimen cert show|verify|revoke`: e-certificates (电子证照) of deposited results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from yimen.node.cli.output import fields
from yimen.node.cli.util import YimenGroup, acting_clerk, admin_clerk, h, json_option, lang, open_node, print_json
from yimen.node.texts import cert_revoked
from yimen.schema.doc_types import DOC_TYPES

if TYPE_CHECKING:
    from yimen.personal_space.credential_check import Verdict

# The services (and through them cwt, cbor2, segno) are imported by the commands that use
# them: every other `yimen` command would pay ~45 ms for loading them.


@click.group("cert", cls=YimenGroup)
def cert_group() -> None:
    """E-certificates (电子证照): show one as a QR code, verify one offline, revoke one.

    \b
    Example:
        yimen cert verify --image photo-of-qr.png
    """


def _claim_lines(ctx: click.Context, v: Verdict) -> list[tuple[str, object]]:
    c = v.claims
    if c is None:
        return []
    kind = DOC_TYPES.get(c.doc_type, c.doc_type) if lang(ctx) == "zh" else c.doc_type
    issuer = v.issuer["name"] if v.issuer else c.issuer
    return [(h(ctx, "证照编号", "certificate"), c.cert_id), (h(ctx, "类型", "type"), kind),
            (h(ctx, "持证人", "holder"), c.holder_name), (h(ctx, "身份证号", "ID number"), c.holder_masked),
            (h(ctx, "签发机构", "issuer"), f"{issuer}（{c.issuer}）" if lang(ctx) == "zh" else f"{issuer} ({c.issuer})"),
            (h(ctx, "签发日期", "issued on"), c.issued_on),
            (h(ctx, "有效期至", "valid until"), c.valid_until or h(ctx, "长期", "no end")),
            (h(ctx, "办件编号", "case"), c.case_id or None)]


def _verdict_lines(ctx: click.Context, v: Verdict) -> str:
    d = v.as_dict(lang(ctx))
    state = h(ctx, "有效", "valid") if v.valid else h(ctx, "无效", "INVALID")
    return fields([(h(ctx, "核验结果", "verdict"), f"{state}：{d['reason']}" if lang(ctx) == "zh" else f"{state}: {d['reason']}"),
                   *_claim_lines(ctx, v), (h(ctx, "吊销信息", "revocations"), d["data_age"])])


@cert_group.command("show")
@click.argument("cert_id", metavar="ID")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path), help="Write the QR code as a PNG file.")
@click.option("--svg", "svg", type=click.Path(dir_okay=False, path_type=Path), help="Write the QR code as an SVG file.")
@json_option
@click.pass_context
@acting_clerk
def cert_show(ctx: click.Context, cert_id: str, png: Path | None, svg: Path | None, as_json: bool, clerk: str) -> None:
    """Show the e-certificate of a deposited result (its text, what it says, this node's
    verdict), and write its QR code for printing. Leaves an audit entry.

    \b
    Example:
        yimen cert show 440608100201-D2026-000001 --png cert.png
    """
    from yimen.node.services import credentials
    from yimen.personal_space import credential_qr

    r = credentials.show(open_node(ctx), cert_id, clerk)
    if png:
        png.write_bytes(credential_qr.qr_png(r["text"]))
    if svg:
        svg.write_bytes(credential_qr.qr_svg(r["text"]))
    if as_json:
        return print_json({**r, "verdict": r["verdict"].as_dict(lang(ctx))})
    click.echo(_verdict_lines(ctx, r["verdict"]))
    click.echo(fields([(h(ctx, "二维码", "QR code"), h(ctx, f"版本 {r['qr_version']}，纠错等级 Q，{r['chars']} 字符",
                                                       f"version {r['qr_version']}, level Q, {r['chars']} characters"))]))
    click.echo(r["text"])
    for path in (png, svg):
        if path:
            click.echo(h(ctx, f"二维码已写入 {path}", f"QR code written to {path}"))


@cert_group.command("verify")
@click.argument("text", required=False)
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the QR code from a picture (PNG, JPEG, ...) instead of TEXT.")
@click.option("--holder", "holder_id", metavar="ID-NUMBER",
              help="The ID number on the card the bearer shows: is it the holder's?")
@json_option
@click.pass_context
def cert_verify(ctx: click.Context, text: str | None, image: Path | None, holder_id: str | None,
                as_json: bool) -> None:
    """Verify an e-certificate offline against this node's trust list: the issuer's
    signature, its key, revocations (and with --holder, that it is the bearer's). Exit 0
    if valid, 1 if not, with one sentence why.

    \b
    Example:
        yimen cert verify 'YM1:NCF...'
        yimen cert verify --image scan.png --holder 440608199001011235 --json
    """
    if (text is None) == (image is None):
        raise click.UsageError(h(ctx, "请给出证照文本或 --image 图片（二者选一）", "give the certificate's TEXT or --image FILE (one of them)"))
    from yimen.node.services import credentials
    from yimen.personal_space import credential_qr

    node = open_node(ctx)
    verdict = credentials.verify(node, credential_qr.read_image(image) if image else text)
    bearer = None if holder_id is None else credentials.is_holder(node, verdict, holder_id)
    if as_json:
        print_json({**verdict.as_dict(lang(ctx)), **({} if bearer is None else {"holder_matches": bearer})})
    else:
        click.echo(_verdict_lines(ctx, verdict))
        if bearer is not None:
            click.echo(h(ctx, "持证人    " + ("与所出示的身份证相符" if bearer else "与所出示的身份证不符"),
                         "holder    " + ("matches the ID card shown" if bearer else "does NOT match the ID card shown")))
    ctx.exit(0 if verdict.valid and bearer is not False else 1)


@cert_group.command("revoke")
@click.argument("cert_id", metavar="ID")
@click.option("--reason", required=True, help="Why the certificate is revoked (shown wherever it is verified).")
@json_option
@click.pass_context
@admin_clerk
def cert_revoke(ctx: click.Context, cert_id: str, reason: str, as_json: bool, clerk: str) -> None:
    """Revoke an e-certificate this node (or a node below it) issued: every node of the
    city refuses it once the revocation reached it.

    \b
    Example:
        yimen cert revoke 440608100201-D2026-000001 --reason 证件信息有误，已重新签发
    """
    from yimen.node.services import credentials

    r = credentials.revoke(open_node(ctx), cert_id, reason, clerk)
    if as_json:
        return print_json(r)
    click.echo(h(ctx, *cert_revoked(r)))
