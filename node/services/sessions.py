"""Clerks sign in: Argon2id password hashes, lockout after repeated failures, sessions.

A session is a random token; the database keeps only its SHA-256, so a copied database
holds no usable session (the token stays with the clerk: the CLI keeps it in a 0600 file
off the data disk, the web pages of a later issue will keep it in a cookie). A session
ends after `session_idle_hours` without use, at sign-out, when its clerk is deactivated
and, for the clerk's other sessions, when their password changes.

Failed sign-ins are counted in the clerks table, so every process of the node shares the
count: after `MAX_FAILURES` in a row the clerk is locked for `LOCK_MINUTES` (an admin may
unlock them sooner). A failed sign-in says the same sentence for an unknown clerk and a
wrong password, and costs the same time (an unknown clerk's password is checked against a
dummy hash).

A one-time sign-in link (`make_link`, an admin's) opens one session without the password,
once, within its minutes: for a clerk's first day at the window, or the demo's sample
clerk. Only its token's SHA-256 is kept; using it deletes it.

This module trusts its caller for who is asking; it is the boundary (CLI, later the web
pages) that asks for the password. `sign_in_recorded` is the one place a sign-in's outcome
passes through (for the audit log).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

import argon2
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.services import audit

MAX_FAILURES = 5
LOCK_MINUTES = 15
TOUCH_EVERY = timedelta(minutes=1)
PROFILES = {"standard": argon2.profiles.RFC_9106_LOW_MEMORY, "cheapest": argon2.profiles.CHEAPEST}


class SignInFailed(NodeError):
    """The clerk id or the password is wrong (one answer for both, so ids cannot be probed)."""

    code = "sign_in_failed"


class ClerkLocked(NodeError):
    """Too many failed sign-ins in a row: the clerk is locked for a while."""

    code = "clerk_locked"


class LinkRefused(NodeError):
    """A sign-in link that is unknown, used already, expired, or for a deactivated clerk."""

    code = "signin_link_refused"


class NotSignedIn(NodeError):
    """No clerk is signed in here, or the sign-in has ended."""

    code = "not_signed_in"


@lru_cache(maxsize=None)
def _hasher(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(PROFILES[profile])


@lru_cache(maxsize=None)
def _dummy_hash(profile: str) -> str:
    """A hash of nothing anyone knows, checked when the clerk is unknown: the answer takes
    as long as for a known clerk."""
    return _hasher(profile).hash(secrets.token_hex(16))


def hash_password(node: Node, password: str) -> str:
    return _hasher(node.config.password_profile).hash(password)


def weak_hashing(node: Node) -> bool:
    """The node hashes passwords at the test-only cost (`yimen status` says so)."""
    return node.config.password_profile != "standard"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(node: Node, stored: str | None, password: str) -> bool:
    ph = _hasher(node.config.password_profile)
    try:
        return ph.verify(stored or _dummy_hash(node.config.password_profile), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _failed() -> SignInFailed:
    return SignInFailed("工号或密码不正确", "wrong clerk id or password")


def authenticate(node: Node, clerk_id: str, password: str) -> None:
    """Check a clerk's password, counting a failure. A deactivated clerk, an unknown one
    and a wrong password get the same answer; a locked clerk is told until when."""
    row = node.store.conn.execute(
        "SELECT password_hash, active, failed_signins, locked_until FROM clerks WHERE clerk_id = ?",
        (clerk_id,)).fetchone()
    stored, active, failures, locked_until = row or (None, 0, 0, None)
    ok = _verify(node, stored, password)  # always, so that every answer costs the same
    now = node.clock()
    if locked_until and datetime.fromisoformat(locked_until) > now:
        sign_in_recorded(node, clerk_id, False, "locked")
        until = locked_until[11:16]
        raise ClerkLocked(f"密码连续输错 {MAX_FAILURES} 次，该工号已锁定至 {until}；可请管理员解锁（clerk unlock）",
                          f"{MAX_FAILURES} wrong passwords in a row: this clerk is locked until {until}; "
                          f"an admin can unlock them (clerk unlock)")
    if not (ok and active):
        if row is not None:
            _count_failure(node, clerk_id, failures + 1, now)
        sign_in_recorded(node, clerk_id, False, "wrong password" if row else UNKNOWN)
        raise _failed()


def sign_in(node: Node, clerk_id: str, password: str) -> str:
    """Check a clerk's password (`authenticate`) and open a session; returns its token."""
    authenticate(node, clerk_id, password)
    return _open(node, clerk_id, password)


def _count_failure(node: Node, clerk_id: str, failures: int, now: datetime) -> None:
    """One more failure, counted in the database (an UPDATE, so that two processes trying
    at once both count); the last allowed one locks the clerk and starts the count again."""
    with node.store.transaction():
        if failures >= MAX_FAILURES:
            until = (now + timedelta(minutes=LOCK_MINUTES)).isoformat(timespec="seconds")
            node.store.conn.execute("UPDATE clerks SET failed_signins = 0, locked_until = ? WHERE clerk_id = ?",
                                    (until, clerk_id))
        else:
            node.store.conn.execute("UPDATE clerks SET failed_signins = failed_signins + 1 WHERE clerk_id = ?",
                                    (clerk_id,))


def _open(node: Node, clerk_id: str, password: str) -> str:
    """The session of a sign-in that succeeded; the hash is made again when the node's
    cost has changed since (`check_needs_rehash`)."""
    token = secrets.token_urlsafe(32)
    with node.store.transaction():
        conn = node.store.conn
        stored = conn.execute("SELECT password_hash FROM clerks WHERE clerk_id = ?", (clerk_id,)).fetchone()[0]
        conn.execute("UPDATE clerks SET failed_signins = 0, locked_until = NULL WHERE clerk_id = ?", (clerk_id,))
        if _hasher(node.config.password_profile).check_needs_rehash(stored):
            conn.execute("UPDATE clerks SET password_hash = ? WHERE clerk_id = ?", (hash_password(node, password), clerk_id))
        _new_session(node, token, clerk_id)
        sign_in_recorded(node, clerk_id, True, "")
    return token


def _new_session(node: Node, token: str, clerk_id: str) -> None:
    now = node.now()
    node.store.conn.execute("INSERT INTO clerk_sessions(token_sha256, clerk_id, created_at, last_used_at)"
                            " VALUES (?, ?, ?, ?)", (token_digest(token), clerk_id, now, now))


LINK_MINUTES = (1, 24 * 60)  # the shortest and longest a link may live


def make_link(node: Node, clerk_id: str, by: str | None, minutes: int = 60) -> dict[str, str]:
    """A one-time sign-in link for an active `clerk_id`, made by the admin `by`, valid for
    `minutes`: its `token` (shown once) and `expires_at`. Links past their time are deleted."""
    low, high = LINK_MINUTES
    if not low <= minutes <= high:
        raise LinkRefused(f"登录链接的有效时间须在 {low} 到 {high} 分钟之间",
                          f"a sign-in link lives {low} to {high} minutes")
    conn = node.store.conn
    if not conn.execute("SELECT 1 FROM clerks WHERE clerk_id = ? AND active", (clerk_id,)).fetchone():
        raise LinkRefused(f"没有在岗的窗口人员 {clerk_id}", f"no active clerk {clerk_id}")
    token, expires = secrets.token_urlsafe(32), (node.clock() + timedelta(minutes=minutes)).isoformat(timespec="seconds")
    with node.store.transaction():
        conn.execute("DELETE FROM signin_links WHERE expires_at < ?", (node.now(),))
        conn.execute("INSERT INTO signin_links VALUES (?, ?, ?, ?)", (token_digest(token), clerk_id, expires, by))
        audit.record(node, "signin_link", by, for_clerk=clerk_id, expires_at=expires)
    return {"token": token, "clerk_id": clerk_id, "expires_at": expires}


def _link_refused() -> LinkRefused:
    return LinkRefused("此登录链接无效、已用过或已过期：请用工号和密码登录，或请管理员另发一个",
                       "this sign-in link is unknown, used or expired: sign in with your id and password, "
                       "or ask an admin for another")


def link_clerk(node: Node, token: str) -> str:
    """The clerk a live link signs in (the link is not used)."""
    row = node.store.conn.execute(
        "SELECT l.clerk_id FROM signin_links l JOIN clerks c USING (clerk_id)"
        " WHERE l.token_sha256 = ? AND l.expires_at >= ? AND c.active", (token_digest(token), node.now())).fetchone()
    if row is None:
        raise _link_refused()
    return row[0]


def sign_in_by_link(node: Node, token: str) -> tuple[str, str]:
    """Use a link (once): its clerk id and a new session's token. A link an admin made
    opens a session of a clerk locked by wrong passwords too (the admin could unlock them)."""
    try:
        with node.store.transaction():
            clerk_id = link_clerk(node, token)
            node.store.conn.execute("DELETE FROM signin_links WHERE token_sha256 = ?", (token_digest(token),))
            session = secrets.token_urlsafe(32)
            _new_session(node, session, clerk_id)
            sign_in_recorded(node, clerk_id, True, "", via="link")
    except LinkRefused:
        sign_in_recorded(node, None, False, "link refused", via="link")
        raise
    return clerk_id, session


UNKNOWN = "unknown clerk"


def sign_in_recorded(node: Node, clerk_id: str | None, ok: bool, reason: str, **detail: str) -> None:
    """Every sign-in, succeeded or failed, passes here (the audit log records it here; a
    failure in a transaction of its own: the refusal that follows must not undo it)."""
    # an unknown id is not kept: it may be a password typed into the wrong field
    audit.record(node, "sign_in" if ok else "sign_in_failed", None if reason == UNKNOWN else clerk_id,
                 **({"reason": reason} if reason else {}), **detail)


def _not_signed_in() -> NotSignedIn:
    return NotSignedIn("尚未登录或登录已失效：请先运行 yimen login", "not signed in, or the sign-in has ended: run `yimen login`")


def resolve(node: Node, token: str) -> str:
    """The clerk id of a live session, which this use keeps alive; `NotSignedIn` for an
    unknown, idle-expired or deactivated clerk's session (an ended one is deleted). The
    last use is written at most once a minute: a command that only reads stays a read."""
    conn, digest = node.store.conn, token_digest(token)
    row = conn.execute("SELECT s.clerk_id, s.last_used_at, c.active FROM clerk_sessions s"
                       " JOIN clerks c USING (clerk_id) WHERE s.token_sha256 = ?", (digest,)).fetchone()
    if row is None:
        raise _not_signed_in()
    clerk_id, last_used, active = row
    now, last = node.clock(), datetime.fromisoformat(last_used)
    if not active or last + timedelta(hours=node.config.session_idle_hours) < now:
        with node.store.transaction():
            conn.execute("DELETE FROM clerk_sessions WHERE token_sha256 = ?", (digest,))
        raise _not_signed_in()
    if now - last >= TOUCH_EVERY:
        with node.store.transaction():
            conn.execute("UPDATE clerk_sessions SET last_used_at = ? WHERE token_sha256 = ?", (node.now(), digest))
    return clerk_id


def sign_out(node: Node, token: str) -> None:
    with node.store.transaction():
        node.store.conn.execute("DELETE FROM clerk_sessions WHERE token_sha256 = ?", (token_digest(token),))


def end_sessions(node: Node, clerk_id: str, keep: str | None = None) -> None:
    """End a clerk's sessions, but the one whose token is `keep` (inside the caller's
    transaction)."""
    node.store.conn.execute("DELETE FROM clerk_sessions WHERE clerk_id = ? AND token_sha256 != ?",
                            (clerk_id, token_digest(keep) if keep else ""))
