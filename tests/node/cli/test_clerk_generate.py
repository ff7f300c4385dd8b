"""`yimen clerk add --generate` and `clerk passwd --generate`: a password made by the same
service as the admin's page, printed once, and one that signs in."""

from __future__ import annotations

import re


def made(output: str) -> str:
    return re.search(r"仅显示这一次，请当面交给本人）：(\S+)", output).group(1)


def test_a_made_password_is_printed_once_and_signs_in(cli):
    first = made(cli("clerk", "add", "--id", "c05", "--name", "王强", "--role", "社保", "--generate").output)
    cli.sign_in("c05", first)
    cli.as_admin()
    second = made(cli("clerk", "passwd", "c05", "--generate").output)
    assert second != first
    cli.sign_in("c05", first, ok=False)
    cli.sign_in("c05", second)


def test_generate_and_stdin_are_one_or_the_other(cli):
    r = cli("clerk", "add", "--id", "c06", "--name", "赵六", "--role", "社保", "--generate", "--password-stdin", ok=False)
    assert "--generate 与 --password-stdin 只能选一个" in r.output
    assert "c06" not in cli("clerk", "list").output
