"""click's own messages in the clerk's language: the catalog of click's msgids, bound for
one command and put back afterwards; `--help` wholly English; no clerk named on the
command line or in the environment."""

from __future__ import annotations

import gettext
import os
import re
from pathlib import Path

import click
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from click.testing import CliRunner
from hypothesis import given, strategies as st

from support import id_number
from yimen.node.cli import language
from yimen.node.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
PO = ROOT / "node" / "locale" / "zh_CN" / "LC_MESSAGES" / "yimen-click.po"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _compiled(po: Path) -> bytes:
    import importlib.util
    spec = importlib.util.spec_from_file_location("compile_locale", ROOT / "scripts" / "compile_locale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compiled(po)


def test_the_committed_mo_is_the_po_compiled():
    assert PO.with_suffix(".mo").read_bytes() == _compiled(PO), "run scripts/compile_locale.py"


def test_every_click_message_has_a_translation():
    """After a click upgrade this names the msgids to translate."""
    with PO.open("rb") as f:
        catalog = read_po(f)
    ours = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}
    theirs = {msg if isinstance(msg, str) else msg[0]
              for _, _, msg, _, _ in extract_from_dir(os.path.dirname(click.__file__),
                                                      method_map=[("**.py", "python")])}
    assert sorted(theirs - set(ours)) == []
    assert all(ours[m] for m in theirs)


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="yimen")


def test_click_errors_are_chinese_in_zh_and_english_in_en(tmp_path):
    home = str(tmp_path / "n")
    zh = _run("--home", home, "case", "accept")
    assert zh.exit_code == 2
    assert "错误：缺少选项 '--item'" in zh.output and "Usage" not in zh.output and "Error" not in zh.output
    en = _run("--lang", "en", "--home", home, "case", "accept")
    assert "Error: Missing option '--item'" in en.output and "Usage: yimen case accept" in en.output
    assert not HAN.search(en.output)
    # and back: nothing of the zh run stayed in the process
    assert gettext.gettext("Error: {message}") == "Error: {message}" and os.environ.get("LANGUAGE") != "zh_CN"
    assert "没有选项 '--bogus'" in _run("--home", home, "case", "list", "--bogus").output
    assert "没有选项" in _run("--home", home, "--lang=zh", "case", "list", "--bogus").output
    assert "No such option" in _run("--home", home, "case", "list", "--bogus", env={"YIMEN_LANG": "en"}).output


def test_help_is_wholly_english_in_zh_mode(tmp_path):
    out = _run("--home", str(tmp_path), "case", "accept", "--help").output
    assert out.startswith("Usage: yimen case accept [OPTIONS]") and "Show this message and exit." in out
    assert "用法" not in out and "选项" not in out
    # a group given no command shows its (English) help too
    assert "Commands:" in _run("--home", str(tmp_path), "case").output


def test_the_process_language_is_put_back():
    before = (gettext.textdomain(), os.environ.get("LANGUAGE"))
    with language.clerk_language("zh"):
        assert gettext.gettext("Error: {message}") == "错误：{message}"
    assert (gettext.textdomain(), os.environ.get("LANGUAGE")) == before


@given(st.lists(st.sampled_from(["--lang", "zh", "en", "--lang=en", "--lang=fr", "case", "--", "x"]), max_size=6),
       st.sampled_from([None, "zh", "en", "fr"]))
def test_argv_lang_reads_what_click_will_read(args, env):
    got = language.argv_lang(args, {} if env is None else {"YIMEN_LANG": env})
    want = env if env in ("zh", "en") else "zh"
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--lang" and i + 1 < len(args):
            want = args[i + 1]
        elif a.startswith("--lang="):
            want = a[7:]
    assert got == (want if want in ("zh", "en") else "zh")


def test_no_clerk_is_named_on_the_command_line_or_in_the_environment(tmp_path):
    """Who acts comes from `yimen login` alone: `--clerk` is no option, and YIMEN_CLERK
    (which used to name the acting clerk) is refused with the reason, in either language."""
    home = str(tmp_path / "n")
    _run("--home", home, "init", "--region", "440608100201", "--name", "示范村")
    accept = ["case", "accept", "--item", "MZ-003", "--applicant-name", "陈", "--all-materials",
              "--applicant-id", id_number()]
    assert "没有选项 '--clerk'" in _run("--home", home, *accept, "--clerk", "c01").output
    assert "没有选项 '--clerk'" in _run("--home", home, "--clerk", "c01", *accept).output
    r = _run("--home", home, *accept, env={"YIMEN_CLERK": "c01"})
    assert r.exit_code == 1 and "YIMEN_CLERK 已不再使用" in r.output and "yimen login" in r.output
    r = _run("--lang", "en", "--home", home, "status", env={"YIMEN_CLERK": "c01"})
    assert r.exit_code == 1 and "YIMEN_CLERK is no longer used: clerks sign in with `yimen login`" in r.output
