"""Hypothesis fuzzing of every sync route on a real server: a town's aiohttp server on
127.0.0.1 (one per test, for all its examples) with villages A and B enrolled. Each example starts
from what village A really sends (a hello, a push of a fresh case, a pull, its reconcile
digests, a seals request, an enrollment with a valid invitation code, a status GET) and
mutates it structurally (see `support.mutate`), signed again with A's key, since a stolen
key signs whatever it likes.

Every answer keeps the invariants of `support.wire_fuzz` (an answer, JSON errors, no 5xx,
no traceback nor ERROR log, nothing written for a refused request, what was accepted can
be applied), and after each route's examples the town still syncs village B.

Bounded by the hypothesis profile (`ci` under CI); `HYPOTHESIS_PROFILE=dev` runs more, and
scripts/fuzz_wire.py runs any number and prints the figures.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings

from support import mutate
from support.mutate import (Blob, ChangeCell, ChangeRows, EnrollPlan, InSeal, ManyDocs, Merge, Named, Plan,
                            Poison, SealHead, Seals, Set, Unsigned)
from support.served import Request
from support.wire_fuzz import STRANGER, VA, VB, Hub, InProcess, make_template, open_copy
from yimen.node.server import routes
from yimen.node.services import enrollment


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("fuzz-routes"))


@pytest.fixture
def hub(template, tmp_path, monkeypatch):
    """A fresh copy of the town and its villages, the town served (one server for all the
    examples of a test: a finding that stalls it stalls no other test)."""
    monkeypatch.setattr(routes, "MAX_WAIT_S", 0.2)  # a pull told to wait is answered soon
    town, villages = open_copy(template, tmp_path)
    server = InProcess(town).start()
    try:
        yield Hub(server, town, villages)
    finally:
        server.stop()
        for n in (town, *villages.values()):
            n.close()


def fuzz(hub: Hub, path: str, plans, scale: int = 1) -> None:
    """Every example of `plans` (`scale` times the profile's number) keeps the invariants;
    then the town still syncs both villages."""
    @settings(max_examples=settings().max_examples * scale)
    @given(plan=plans)
    def one(plan):
        outcome = hub.check(path, plan)
        assert not outcome.problems, outcome.describe()

    one()
    hub.still_serves()


def test_hello(hub):
    fuzz(hub, "/v1/hello", mutate.hello_plans())


def test_push(hub):
    fuzz(hub, "/v1/push", mutate.push_plans(), scale=3)  # the deepest checks are behind it


def test_pull(hub):
    fuzz(hub, "/v1/pull", mutate.pull_plans())


def test_reconcile(hub):
    fuzz(hub, "/v1/reconcile", mutate.reconcile_plans())


def test_seals(hub):
    fuzz(hub, "/v1/seals", mutate.seals_plans())


def test_enroll(hub):
    fuzz(hub, "/v1/enroll", mutate.enroll_plans())


def test_status(hub):
    fuzz(hub, "/v1/status", mutate.status_requests())


# -- the field campaign's findings, every time ---------------------------------------------------
def in_seal(*ops) -> Plan:
    return Plan(message=(InSeal(0, ops),))


FINDINGS = {
    "hello unchanged": ("/v1/hello", Plan()),
    "push unchanged": ("/v1/push", Plan()),
    "pull unchanged": ("/v1/pull", Plan()),
    "reconcile unchanged": ("/v1/reconcile", Plan()),
    "seals unchanged": ("/v1/seals", Plan()),
    "enroll unchanged": ("/v1/enroll", EnrollPlan()),
    "seal seq 2**63": ("/v1/push", in_seal(SealHead(2, 2**63))),
    "seal seq 2**64-1": ("/v1/push", in_seal(SealHead(2, 2**64 - 1))),
    "change peer 2**64-1": ("/v1/push", in_seal(ChangeCell(0, 2, 2**64 - 1))),
    "reconcile digests with bytes keys": ("/v1/reconcile", Plan(message=(Merge("digests", {b"440608100201": "x"}),))),
    "enroll nested 200000 deep": ("/v1/enroll", EnrollPlan(raw=("deep_request", 200_000))),
    "enroll a list nested 200000 deep": ("/v1/enroll", EnrollPlan(raw=("deep_list", 200_000))),
    "time of 400 digits": ("/v1/hello", Plan(headers=(Set("X-Yimen-Time", "9" * 400),))),
    "garbage Loro blob": ("/v1/push", in_seal(ChangeCell(0, 5, Blob("garbage", 7)))),
    "truncated Loro blob": ("/v1/push", in_seal(ChangeCell(0, 5, Blob("truncated", 9)))),
    "own case whose applicant name is a list": ("/v1/push", in_seal(Poison("applicant_name", ["张三"]))),
    "own case whose body claims village B": ("/v1/push", in_seal(Poison("node", Named("victim")))),
    "seal scope not a region": ("/v1/push", in_seal(SealHead(3, "not-a-region"))),
    "empty push with next 2**62-1": ("/v1/push", Plan(message=(Set("next", 2**62 - 1), Seals("none")))),
    "seal of another village's scope": ("/v1/push", in_seal(SealHead(3, Named("victim")))),
    "change of another village's peer": ("/v1/push", in_seal(ChangeCell(0, 2, Named("victim_peer")))),
    "oversized change": ("/v1/push", in_seal(ChangeCell(0, 5, Blob("huge")))),
    "1001 changes": ("/v1/push", in_seal(ChangeRows("too_many"))),
    "300 garbage seals": ("/v1/push", Plan(message=(Seals("tiny_garbage", 300),))),
    "seals not bytes": ("/v1/seals", Plan(message=(Set("docs", [b"x"]),))),
    "1001 documents asked": ("/v1/seals", Plan(message=(ManyDocs(1001),))),
    "pull since 2**64-1": ("/v1/pull", Plan(message=(Set("since", 2**64 - 1),))),
    "pull wait NaN": ("/v1/pull", Plan(message=(Set("wait", float("nan")),))),
    "unsigned hello": ("/v1/hello", Plan(headers=(Unsigned(),))),
    "protocol 2**64-1": ("/v1/hello", Plan(message=(Set("protocol", 2**64 - 1),))),
}


@pytest.mark.parametrize("name", FINDINGS)
def test_finding(hub, name):
    """The requests of the outside campaign (and a valid one of each route), every time."""
    path, plan = FINDINGS[name]
    outcome = hub.check(path, plan)
    assert not outcome.problems, outcome.describe()
    hub.still_serves()


# -- what an unauthenticated caller learns -------------------------------------------------------
def test_status_tells_an_unauthenticated_caller_nothing_of_the_peers(hub):
    """Anyone may GET /v1/status: it must not hand out the codes of the enrolled nodes,
    nor their last contact and traffic (an attacker's list of whom to impersonate). It
    may answer a little, or refuse."""
    answer = hub.server.send(Request("GET", "/v1/status", {}, b""))
    assert answer.status in (200, 401, 403) and answer.content_type == "application/json", answer
    info = json.loads(answer.body)
    text = answer.body.decode()
    assert VA not in text and VB not in text, info
    assert "peers" not in info and "last_contact" not in text and "bytes_in" not in text, info


def test_enroll_answers_alike_for_an_enrolled_region_and_another(hub):
    """A wrong invitation code is refused in the same words whether or not the region
    already has a node, so enrollment does not tell which regions are enrolled."""
    def refused(region: str) -> tuple:
        req = {**enrollment.request(hub.stranger), "region": region}
        answer = hub.server.send(Request("POST", "/v1/enroll", {"Content-Type": "application/json"},
                                         json.dumps({"request": req, "code": "not-the-code"}).encode()))
        body = json.loads(answer.body)
        return answer.status, body["error"], re.sub(r"\d{9,12}", "<region>", body["message"])

    assert refused(VA) == refused(STRANGER)
    assert refused(VA)[0] == 403


def test_signed_routes_answer_alike_for_an_enrolled_region_and_another(hub):
    """A stranger who signs with its own key for an enrolled village's code, and for a
    code that has no node, gets the same answer (a difference would list the enrolled
    regions); so does a request with no signature at all."""
    from yimen.node.replication import signing_key
    from yimen.sync.transports import wire

    def answer(sender: str, signed: bool = True) -> tuple:
        body = wire.pack({"protocol": wire.PROTOCOL})
        headers = wire.sign_request(signing_key(hub.stranger), sender, hub.town.node_id, "POST", "/v1/hello", body)
        if not signed:
            headers.pop(wire.SIGNATURE)
        got = hub.server.send(Request("POST", "/v1/hello", headers, body))
        return got.status, re.sub(r"\d{9,12}", "<region>", got.body.decode())

    for signed in (True, False):
        assert answer(VA, signed) == answer(STRANGER, signed) == answer(hub.town.node_id, signed)
        assert answer(VA, signed)[0] == 401
