"""Hostile and malformed input to every page form: each answer is a page with one
sentence and a 4xx status (never a 500 or a traceback), and the database is as it was.
The forms are posted with a valid CSRF token (the attacker is a signed-in clerk), so what
is tested is the handler's own bounds, not the token check."""

from __future__ import annotations

import pytest

from support import dump, id_number
from support.pages import window
from yimen.node.services import cases

JUNK = ["", " ", "x" * 5000, "\x00", "../../etc/passwd", "<script>alert(1)</script>", "9" * 40, "\ud800".encode(
    "utf-8", "surrogatepass").decode("utf-8", "replace"), "' OR 1=1 --", "%s%s%n", "١٢٣", "²", "1" * 5000]
FIELDS = ["action", "reason", "department", "material", "event", "resolution", "score", "text", "id_number", "name",
          "phone", "how0", "due0", "how1", "due1", "commitment", "duplicate_ok", "do", "case_id", "clerk_id",
          "password", "roles", "minutes", "region", "hours", "request", "answer", "target", "confirm", "which"]


def _paths(cid: str) -> list[str]:
    return [f"/cases/{cid}/act", f"/cases/{cid}/review", f"/cases/{cid}/rate", "/cases/nope/act", "/accept/T-DIBAO",
            "/accept/NOPE", "/inbox/decide", f"/ratings/{cid}/follow-up", "/admin/clerks", "/admin/clerks/c02/roles",
            "/admin/clerks/c02/password", "/admin/clerks/nobody/roles", "/admin/clerks/c02/link",
            "/admin/enrollment/invite", "/admin/enrollment/admit", "/admin/enrollment/request",
            "/admin/enrollment/answer", "/admin/revoke/key", "/admin/revoke/cert", "/signin/link/" + "A" * 43,
            "/verify"]


def _kept(node) -> list[str]:
    """The database but its audit trail (reading pages and refusals are audited)."""
    return [line for line in dump(node) if "audit_log" not in line]


@pytest.mark.parametrize("clerk_id", ["c01", "a01"])
async def test_junk_in_every_field_of_every_form_is_a_sentence_and_changes_nothing(window_home, aiohttp_client,
                                                                                      clerk_id):
    cid = cases.accept(window_home, "c01", cases.Application(
        "T-DIBAO", id_number(3), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    w = await window(aiohttp_client, window_home, clerk_id)
    await w.get("/")
    before = _kept(window_home)
    statuses = []
    for path in _paths(cid):
        for junk in JUNK:
            body = {"csrf_token": w.token, **{f: junk for f in FIELDS}}
            r = await w.client.post(path, data=body, allow_redirects=False)
            text = await r.text()
            assert r.status < 500 and "Traceback" not in text, (path, junk[:20], r.status, text[-500:])
            statuses.append(r.status)
        r = await w.client.get(path.rsplit("/", 1)[0], params={"q": JUNK[2], "page": "-1", "week": JUNK[2][:300]})
        assert r.status < 500, path
        for page in ("²", "1" * 5000):
            r = await w.client.get("/cases", params={"page": page})
            assert r.status == 200, page
    assert statuses.count(400) >= 50, sorted(set(statuses))  # the forms' own refusals, not the token's
    if clerk_id == "c01":  # a clerk's junk changes nothing (an admin's may add a clerk named in it: allowed)
        assert _kept(window_home) == before
