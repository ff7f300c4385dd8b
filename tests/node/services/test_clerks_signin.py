"""Clerks sign in (`services.sessions`): password rules, lockout counted in the database,
sessions that end when idle, when the clerk is deactivated or their password changes,
hashes made again at the node's cost, and a node that always keeps an admin."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import dump
from yimen.sync.store import driver
from yimen.node.services import clerks, sessions
from yimen.node.services.clerks import AdminExists, LastAdmin, WeakPassword
from yimen.node.services.sessions import ClerkLocked, NotSignedIn, SignInFailed

PASSWORD = "Window-Pass-2026"


@pytest.fixture
def signed(node):
    """The node fixture's clerks with passwords, and an admin a01."""
    for cid in ("c01", "c02"):
        clerks.set_password(node, cid, PASSWORD)
    clerks.bootstrap_admin(node, "a01", "张管理", PASSWORD)
    return node


def test_a_wrong_password_and_an_unknown_clerk_get_the_same_answer(signed):
    answers = []
    for cid, pw in (("c01", "Wrong-Pass-2026"), ("c99", PASSWORD), ("c01", "")):
        with pytest.raises(SignInFailed) as e:
            sessions.sign_in(signed, cid, pw)
        answers.append((e.value.zh, e.value.en))
    assert len(set(answers)) == 1 and answers[0] == ("工号或密码不正确", "wrong clerk id or password")
    clerks.set_active(signed, "c02", False)
    with pytest.raises(SignInFailed) as e:  # a deactivated clerk too: nobody learns who left
        sessions.sign_in(signed, "c02", PASSWORD)
    assert (e.value.zh, e.value.en) == answers[0]


def test_five_failures_lock_the_clerk_for_fifteen_minutes_or_until_an_admin_unlocks(signed, clock):
    for _ in range(sessions.MAX_FAILURES):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, "c01", "Wrong-Pass-2026")
    with pytest.raises(ClerkLocked) as e:  # the right password too, while locked
        sessions.sign_in(signed, "c01", PASSWORD)
    assert "09:15" in e.value.zh and "clerk unlock" in e.value.en
    assert clerks.get(signed, "c01")["locked_until"] == "2026-11-16T09:15:00+08:00"
    clock.advance(minutes=15, seconds=1)
    assert sessions.resolve(signed, sessions.sign_in(signed, "c01", PASSWORD)) == "c01"
    for _ in range(sessions.MAX_FAILURES):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, "c01", "Wrong-Pass-2026")
    clerks.unlock(signed, "c01", by="a01")
    sessions.sign_in(signed, "c01", PASSWORD)


def test_a_success_starts_the_count_again(signed):
    for _ in range(sessions.MAX_FAILURES - 1):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, "c01", "Wrong-Pass-2026")
    sessions.sign_in(signed, "c01", PASSWORD)
    for _ in range(sessions.MAX_FAILURES - 1):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, "c01", "Wrong-Pass-2026")
    sessions.sign_in(signed, "c01", PASSWORD)


def test_a_session_ends_when_idle_and_lives_while_used(signed, clock):
    token = sessions.sign_in(signed, "c01", PASSWORD)
    for _ in range(3):  # used every 7 hours: alive for 21
        clock.advance(hours=7)
        assert sessions.resolve(signed, token) == "c01"
    clock.advance(hours=signed.config.session_idle_hours, minutes=1)
    with pytest.raises(NotSignedIn):
        sessions.resolve(signed, token)
    with pytest.raises(NotSignedIn):  # and it stays ended
        sessions.resolve(signed, token)


def test_the_idle_limit_is_a_setting(signed, clock):
    object.__setattr__(signed, "config", replace(signed.config, session_idle_hours=1))
    token = sessions.sign_in(signed, "c01", PASSWORD)
    clock.advance(minutes=61)
    with pytest.raises(NotSignedIn):
        sessions.resolve(signed, token)


def test_deactivation_ends_the_sessions_and_a_password_change_the_others(signed):
    desk_a, desk_b = sessions.sign_in(signed, "c01", PASSWORD), sessions.sign_in(signed, "c01", PASSWORD)
    clerks.set_password(signed, "c01", "Another-Pass-2026", by="c01", keep_session=desk_b)
    with pytest.raises(NotSignedIn):
        sessions.resolve(signed, desk_a)
    assert sessions.resolve(signed, desk_b) == "c01"
    clerks.set_active(signed, "c01", False, by="a01")
    with pytest.raises(NotSignedIn):
        sessions.resolve(signed, desk_b)
    clerks.set_active(signed, "c01", True, by="a01")
    with pytest.raises(NotSignedIn):  # activating again opens no old session
        sessions.resolve(signed, desk_b)


def test_the_database_keeps_no_password_and_no_token(signed):
    token = sessions.sign_in(signed, "c01", PASSWORD)
    text = "\n".join(dump(signed)) + "\n".join(driver.iterdump(signed.store.conn))
    assert PASSWORD not in text and token not in text and sessions.token_digest(token) in text


def test_a_hash_made_at_another_cost_is_made_again_at_sign_in(signed):
    def stored():
        return signed.store.conn.execute("SELECT password_hash FROM clerks WHERE clerk_id = 'c01'").fetchone()[0]
    assert stored().startswith("$argon2id$") and "m=8," in stored()  # the test-only cost
    object.__setattr__(signed, "config", replace(signed.config, password_profile="standard"))
    sessions.sign_in(signed, "c01", PASSWORD)
    assert "m=65536,t=3,p=4" in stored()
    sessions.sign_in(signed, "c01", PASSWORD)
    assert not sessions.weak_hashing(signed)


def test_the_first_admin_only_while_there_is_none_and_the_last_admin_stays(signed):
    with pytest.raises(AdminExists):
        clerks.bootstrap_admin(signed, "a02", "李管理", PASSWORD)
    before = dump(signed)
    with pytest.raises(LastAdmin):
        clerks.set_active(signed, "a01", False, by="a01")
    with pytest.raises(LastAdmin):
        clerks.set_roles(signed, "a01", ["民政"], ["admin"], by="a01")
    assert dump(signed) == before
    clerks.set_roles(signed, "c01", ["admin"], [], by="a01")  # `admin` is 管理员
    assert clerks.ADMIN in clerks.get(signed, "c01")["roles"]
    clerks.set_active(signed, "a01", False, by="c01")


def test_an_admin_is_no_department(signed):
    from yimen.node.errors import RoleMissing
    with pytest.raises(RoleMissing):
        clerks.require_role(clerks.get(signed, "a01"), "民政")
    with pytest.raises(clerks.NotAdmin):
        clerks.require_admin(clerks.get(signed, "c01"))


@given(st.text(min_size=8, max_size=40).filter(lambda p: len(set(p)) > 1))
def test_a_long_enough_password_without_the_id_or_name_passes(password):
    clean = "".join(c for c in password if ord(c) >= 32 and ord(c) != 127)
    if len(clean) < 8 or len(set(clean)) < 2 or "c01" in clean.casefold() or clean.strip().casefold() == "李敏":
        return
    clerks.check_password(clean, "c01", "李敏")


@given(st.text(max_size=7))
def test_a_short_password_fails(password):
    with pytest.raises(WeakPassword):
        clerks.check_password(password, "c01", "李敏")


@given(st.text(min_size=0, max_size=20), st.text(min_size=0, max_size=20), st.sampled_from(["c01", "C01", "c01 "]))
def test_a_password_holding_the_id_fails(before, after, cid):
    with pytest.raises(WeakPassword):
        clerks.check_password(f"{before}{cid.strip()}{after}" + "xY-2026", "c01", "李敏")


@given(st.characters(), st.integers(8, 40))
def test_one_character_repeated_fails(ch, n):
    with pytest.raises(WeakPassword):
        clerks.check_password(ch * n, "c01", "李敏")


@given(st.text(min_size=8, max_size=20), st.characters(max_codepoint=31))
def test_a_control_character_fails(password, control):
    with pytest.raises(WeakPassword):
        clerks.check_password(password[:4] + control + password[4:], "c01", "李敏")


def test_the_name_is_no_password_and_length_counts_characters(signed):
    with pytest.raises(WeakPassword):
        clerks.check_password("Wang Fang Li", "x9", " wang fang li ")
    clerks.check_password("我的密码很长很安全", "c01", "李敏")  # nine Chinese characters
    with pytest.raises(WeakPassword):
        clerks.check_password("x" * 120 + "y" * 9, "c01", "李敏")


def test_every_failed_answer_costs_one_argon2_check(signed, monkeypatch):
    """An unknown clerk, a deactivated one, a wrong password and a locked clerk each cost
    one Argon2 verification (an unknown clerk's against a dummy hash), so the time taken
    does not tell them apart."""
    from argon2 import PasswordHasher
    checks = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: checks.append(h) or real(self, h, p))
    clerks.set_active(signed, "c02", False)
    for cid, pw in (("c99", PASSWORD), ("c02", PASSWORD), ("c01", "Wrong-Pass-2026")):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, cid, pw)
    for _ in range(sessions.MAX_FAILURES - 1):
        with pytest.raises(SignInFailed):
            sessions.sign_in(signed, "c01", "Wrong-Pass-2026")
    with pytest.raises(ClerkLocked):
        sessions.sign_in(signed, "c01", PASSWORD)
    assert len(checks) == 3 + sessions.MAX_FAILURES - 1 + 1
    assert checks[0].startswith("$argon2id$") and checks[0] != checks[2]  # the dummy hash
