"""The `yimen` command line. Each command opens the node, calls one service function and
prints the result; a domain error becomes one clear sentence and a non-zero exit.

Output for clerks is Chinese by default; `--lang en` (or YIMEN_LANG=en) switches messages
and headings to English, click's own messages included (see `language`). Help texts are
English.

Who acts is never an option: a command acting as a clerk takes the clerk signed in with
`yimen login` (see `util.signed_in`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import click

from yimen.node.cli.audit import audit_group
from yimen.node.cli.bundle import bundle_group
from yimen.node.cli.case import case_group
from yimen.node.cli import casework as _casework  # noqa: F401 (adds review and inbox to the case group)
from yimen.node.cli.catalog import catalog_group
from yimen.node.cli.cert import cert_group
from yimen.node.cli.clerk import clerk_group
from yimen.node.cli import key as _key  # noqa: F401 (adds change to the key group)
from yimen.node.cli.language import argv_lang, clerk_language, speak_to_clerks
from yimen.node.cli.node import backup, init, rebuild, restore, status
from yimen.node.cli.rating import rating_group
from yimen.node.cli.report import report_group
from yimen.node.cli.signin import COMMANDS as SIGNIN_COMMANDS
from yimen.node.cli.space import space_group
from yimen.node.cli.sync import COMMANDS as SYNC_COMMANDS
from yimen.node.cli.trust import COMMANDS as TRUST_COMMANDS
from yimen.node.cli.util import YimenGroup
from yimen.schema.errors import YimenError

DEFAULT_HOME = "yimen-data"


class RootGroup(YimenGroup):
    """`yimen`: click's messages speak the language asked for, from before parsing on."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        with clerk_language(argv_lang(sys.argv[1:] if args is None else list(args))):
            return super().main(args, *rest, **kwargs)


@click.group(cls=RootGroup)
@click.option("--home", "home_dir", envvar="YIMEN_HOME", default=DEFAULT_HOME, show_default=True,
              type=click.Path(file_okay=False), help="The node's data folder (env YIMEN_HOME).")
@click.option("--lang", envvar="YIMEN_LANG", type=click.Choice(["zh", "en"]), default="zh",
              show_default=True, help="Language of messages (env YIMEN_LANG).")
@click.version_option(package_name="yimen")
@click.pass_context
def main(ctx: click.Context, home_dir: str, lang: str) -> None:
    """Yimen (一门): an offline-first node for a village government service centre.

    \b
    Example:
        yimen --home data/village init --region 440608100201 --name 某村党群服务中心
    """
    ctx.obj = {"home": home_dir, "lang": lang}
    if os.environ.get("YIMEN_CLERK"):  # it used to name the acting clerk: say why it no longer does
        raise ClerkFromEnvironment("YIMEN_CLERK 已不再使用：窗口人员须用 yimen login 登录",
                                   "YIMEN_CLERK is no longer used: clerks sign in with `yimen login`")


class ClerkFromEnvironment(YimenError):
    """YIMEN_CLERK is set, as before clerks signed in; it names nobody now."""

    code = "clerk_from_environment"


for group in (init, status, rebuild, backup, restore, clerk_group, catalog_group, case_group, report_group, bundle_group,
              audit_group, cert_group, space_group, rating_group, *SIGNIN_COMMANDS, *SYNC_COMMANDS, *TRUST_COMMANDS):
    main.add_command(group)
speak_to_clerks(main)
