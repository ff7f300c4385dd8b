"""Every error path of the CLI, and the wire's refusals as the CLI shows them, in zh mode:
no English word in what the clerk reads (see `support.zh` for what may stay Latin).

The command tree is enumerated (`language.commands`), so a command or option added later
is walked too: each command is given an unknown option, nothing (when it needs
something), every required parameter filled with an unknown id, and for each typed
parameter a bad value of its type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from support import id_number
from support.served import ServedNode
from support.signin import ADMIN_INIT, ADMIN_PASSWORD, PASSWORD
from support.zh import english_words
from yimen.node import home
from yimen.node.cli.language import commands
from yimen.node.cli.case import ACT_ACTIONS
from yimen.node.cli.main import main
from yimen.node.services import enrollment
from yimen.sync.transports.http import answered

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "node" / "data" / "catalog_sample.json"
UNKNOWN = "NOPE-404"
NEVER_RUN = {("serve",), ("sync",)}  # bare, they run until stopped: only their bad input is walked
NEVER_RUN.add(("logout",))  # bare, it ends the walk's sign-in: only its bad input is walked


@pytest.fixture(scope="module")
def village(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zh")
    run = _runner(folder / "village")
    # c01 is an admin with departments too, so that the walk reaches every command's own checks
    for args in (["init", "--region", "440608100201", "--name", "示范村", *ADMIN_INIT], ["catalog", "import", str(SAMPLE)],
                 ["clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--role", "村委会", "--role", "管理员",
                  "--password-stdin"],
                 ["login", "--id", "c01", "--password-stdin"],
                 ["case", "accept", "--item", "MZ-003", "--applicant-id", id_number(),
                  "--applicant-name", "陈美玲", "--all-materials", "--defer", "遭遇困难的相关证明"]):
        assert run(*args, input=(ADMIN_PASSWORD if args[0] == "init" else PASSWORD) + "\n").exit_code == 0
    return folder


def _runner(home_dir: Path):
    """Commands at that home, signed in in a runtime folder beside it (the module's
    village outlives one test's runtime folder)."""
    def run(*args: str, input: str | None = None, env: dict | None = None):
        return CliRunner().invoke(main, ["--home", str(home_dir), *args], prog_name="yimen", input=input,
                                  env={"YIMEN_LANG": None, "XDG_RUNTIME_DIR": str(home_dir.parent / "run"), **(env or {})})
    (home_dir.parent / "run").mkdir(exist_ok=True)
    return run


def _bad_values(param: click.Parameter, folder: Path) -> list[str]:
    """Values of the parameter's type that click or the command must refuse."""
    t = param.type
    if isinstance(t, click.Choice):
        return ["bogus"]
    if isinstance(t, click.Path):
        out = [str(folder / "no" / "such" / "file")] if t.exists else []
        if not t.dir_okay:
            out.append(str(folder))  # a folder where a file is wanted
        if not t.file_okay:
            out.append(str(SAMPLE))  # a file where a folder is wanted
        return out
    if isinstance(t, (click.types.IntParamType, click.types.FloatParamType)):
        return ["x"]
    if isinstance(t, click.DateTime):
        return ["2026-13-01"]
    return []


def _filled(cmd: click.Command) -> list[str]:
    """The command's required parameters, each given an unknown id."""
    args: list[str] = []
    for p in cmd.params:
        if isinstance(p, click.Option) and p.required and not p.is_flag:
            args += [p.opts[0], UNKNOWN]
        elif isinstance(p, click.Argument) and p.required:
            args += [UNKNOWN] * max(p.nargs, 1)
    return args


def _calls(cmd: click.Command, folder: Path) -> list[list[str]]:
    """Invocations that are errors (or harmless): an unknown option, nothing, required
    parameters unknown, each text option unknown, and one bad value per typed parameter
    (the rest filled)."""
    filled = _filled(cmd)
    calls = [["--no-such-option"], filled + ["--no-such-option"]]
    if not isinstance(cmd, click.Group):  # (a group given nothing shows its help: English, see README)
        calls += [[], filled]
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.required and not p.is_flag and p.type == click.STRING:
            calls.append([*filled, p.opts[0], UNKNOWN])
        for bad in _bad_values(p, folder):
            if isinstance(p, click.Option):
                calls.append([*filled, p.opts[0], bad] if not p.is_flag else filled)
            else:
                i = [q for q in cmd.params if isinstance(q, click.Argument)].index(p)
                args = [a for a in filled if a == UNKNOWN]
                opts = filled[:len(filled) - len(args)] if args else filled
                calls.append([*opts, *[bad if j == i else UNKNOWN for j in range(len(args) or 1)]])
    return [list(c) for c in dict.fromkeys(map(tuple, calls))]


def _allowed(cmd: click.Command, typed: list[str]) -> list[str]:
    """What the clerk typed (command names too) and the codes the command's choices take
    stay as they are."""
    choices = [str(c) for p in cmd.params if isinstance(p.type, click.Choice) for c in p.type.choices]
    return [*typed, *choices, *COMMAND_NAMES]


COMMAND_NAMES = sorted({name for path, _ in commands(main) for name in path})  # named like options


def test_every_cli_error_is_chinese(village, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what a command writes to an unknown relative path lands here
    run = _runner(village / "village")
    seen, problems = 0, []
    for path, cmd in commands(main):
        for args in _calls(cmd, village):
            if not path or (path in NEVER_RUN and not {"--no-such-option", "x", "bogus"} & set(args)):
                continue
            result = run(*path, *args)
            if result.exit_code == 0:
                continue
            seen += 1
            text = result.output
            if "Traceback" in text or not isinstance(result.exception, (SystemExit, type(None))):
                problems.append((path, args, f"not one sentence: {result.exception!r} {text!r}"))
            elif words := english_words(text, _allowed(cmd, [*path, *args])):
                problems.append((path, args, words, text))
    assert seen > 100 and problems == [], "\n".join(map(repr, problems))


def _case_actions() -> list[str]:
    return list(ACT_ACTIONS)


def test_every_action_refused_on_a_real_case_is_told_in_chinese(village):
    """Each action the case cannot take now (or takes without what it needs) is refused in
    one Chinese sentence."""
    run = _runner(village / "village")
    accepted = run("case", "accept", "--item", "MZ-003", "--applicant-id", id_number(2),
                   "--applicant-name", "陈", "--all-materials", "--defer", "遭遇困难的相关证明", "--json")
    case_id = json.loads(accepted.output)["case_id"]  # its own case: the actions that are legal move it on
    for action in _case_actions():
        for extra in ([], ["--reason", "  "], ["--material", "不存在的材料"]):
            args = ["case", "act", case_id, action, *extra]
            result = run(*args)
            if result.exit_code:
                assert english_words(result.output, [*args, *COMMAND_NAMES]) == [], (args, result.output)


def test_unknown_ids_are_told_in_chinese(village):
    run = _runner(village / "village")
    for args in (["case", "show", "440608100201-2026-009999"], ["catalog", "show", "XX-999"],
                 ["case", "act", "440608100201-2026-000001", "deliver"],
                 ["case", "act", "440608100201-2026-000001", "supplement"],
                 ["case", "act", "440608100201-2026-000001", "complete"]):
        result = run(*args)
        assert result.exit_code != 0 and result.output.startswith("错误："), (args, result.output)
        assert english_words(result.output, args) == [], (args, result.output)


@pytest.fixture
def town(tmp_path, clock):
    node = home.init(tmp_path / "town", "440608100000", "示范镇", clock=clock)
    served = ServedNode(node).start()
    yield served
    served.stop()
    node.close()


def test_the_servers_refusals_reach_the_clerk_in_chinese(town, village, tmp_path):
    run = _runner(village / "village")
    wrong = f"wrong-code.{town.node.keys.tls_fingerprint}"
    result = run("enroll", "--parent", town.url, "--code", wrong)
    assert result.exit_code == 1 and "上级拒绝注册：" in result.output
    assert english_words(result.output, [town.url]) == [], result.output
    en = run("--lang", "en", "enroll", "--parent", town.url, "--code", wrong)
    assert "the parent refused: check the invitation code" in en.output
    # an unenrolled child's sync is refused by the parent: in the clerk's language too
    with home.open_node(village / "village") as v:
        from dataclasses import replace
        from yimen.node import config
        config.save(v.home, replace(v.config, parent_url=town.url))
    result = run("sync", "--once")
    assert result.exit_code == 1 and english_words(result.output, [town.url]) == [], result.output


def test_an_old_nodes_english_only_answer_is_still_shown():
    e = answered("440608100000", 403, {"error": "unknown_node", "message": "unknown node"})
    assert e.code == "unknown_node" and "unknown node" in e.zh and "unknown node" in e.en
    refused = enrollment.refused_by_parent({"error": "enrollment_refused", "message": "no", "message_zh": "不行"})
    assert refused.zh == "上级拒绝注册：不行" and refused.en == "the parent refused: no"


def test_what_a_clerk_reads_day_to_day_is_chinese_too(village):
    """Not only errors: the screens of a working day (a case, the lists, the reports, the
    node's status, an item's guide) hold no English word in zh mode."""
    run = _runner(village / "village")
    [case_id] = [r["case_id"] for r in json.loads(run("case", "list", "--json").output)["rows"]][:1]
    run("case", "act", case_id, "提交后台")
    for args in (["case", "show", case_id], ["case", "list"], ["case", "inbox"], ["report", "overdue"],
                 ["report", "refusals", "--week"], ["status"], ["catalog", "show", "MZ-003"], ["catalog", "list"],
                 ["clerk", "list"], ["quarantine", "list"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert english_words(result.output, [str(village)]) == [], (args, result.output)


def test_sign_in_refusals_are_told_in_chinese(cli, monkeypatch):
    """Each refusal of signing in and of the admin's commands: one Chinese sentence in zh
    mode, one English one in en mode."""
    from support.signin import PASSWORD as PW

    def refused(*args: str, input: str | None = None) -> None:
        for lang in ("zh", "en"):
            out = cli("--lang", lang, *args, ok=False, input=input).output
            assert out.startswith("错误：" if lang == "zh" else "Error: ") and out.count("\n") == 1, (args, out)
            if lang == "zh":
                assert english_words(out, [*args, *COMMAND_NAMES]) == [], (args, out)
            else:
                assert not re.search(r"[\u4e00-\u9fff]", out.replace("李敏", "")), (args, out)
    cli("clerk", "add", "--id", "c01", "--name", "李敏", "--role", "民政", "--password-stdin")
    refused("clerk", "add", "--id", "c02", "--name", "王芳", "--role", "民政", "--password-stdin", input="短密码\n")
    refused("clerk", "add", "--id", "c02", "--name", "王芳", "--role", "民政", "--password-stdin", input="c02-c02-c02\n")
    refused("clerk", "deactivate", "a01")
    refused("clerk", "roles", "a01", "--remove", "admin")
    refused("clerk", "bootstrap", "--id", "a02", "--name", "李", "--password-stdin", input=f"{PW}\n")
    refused("login", "--id", "c77", "--password-stdin", input=f"{PW}\n")
    refused("login", "--id", "c01", "--password-stdin", input="Wrong-Pass-2026\n")  # two failures
    for _ in range(3):
        cli("login", "--id", "c01", "--password-stdin", input="Wrong-Pass-2026\n", ok=False)
    refused("login", "--id", "c01", "--password-stdin", input=f"{PW}\n")  # locked
    cli("clerk", "unlock", "c01")
    cli.sign_in("c01")
    refused("clerk", "unlock", "c01")
    refused("catalog", "import", str(SAMPLE))
    refused("passwd", "--password-stdin", input=f"{PW}\nshort\n")
    cli("logout")
    refused("case", "list")
    monkeypatch.setenv("YIMEN_CLERK", "c01")
    refused("status")
