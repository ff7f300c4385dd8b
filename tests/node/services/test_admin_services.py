"""The rules the admin's pages share with the CLI: the audit search's filters, a password
made for a clerk, a pasted request file's bounds."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Clock
from yimen.node import home
from yimen.node.services import audit, clerks, enrollment
from yimen.node.services.enrollment import EnrollmentRefused

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=n) for n in range(10)]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A node whose log holds, for each of ten days, one entry by c01 and one by c02."""
    clock = Clock(datetime(2026, 11, 1, 10, tzinfo=home.CHINA_TZ))
    node = home.init(tmp_path_factory.mktemp("audit") / "node", "440608100201", "示范村", clock=clock)
    for day in DAYS:
        clock.now = datetime.combine(day, time(10), tzinfo=home.CHINA_TZ)
        audit.record(node, "case_list", "c01", day=day.isoformat())
        audit.record(node, "case_inbox", "c02", day=day.isoformat())
    yield node
    node.close()


@settings(max_examples=60, deadline=None)
@given(since=st.sampled_from([None, *DAYS]), until=st.sampled_from([None, *DAYS]),
       clerk=st.sampled_from(["", "c01", "c02", "c03"]), newest=st.booleans())
def test_a_search_keeps_what_every_filter_given_allows(logged, since, until, clerk, newest):
    f = audit.Filter(clerk=clerk, since=since.isoformat() if since else "", until=until.isoformat() if until else "")
    rows = [r for r in audit.search(logged, f, newest_first=newest) if r["action"] in ("case_list", "case_inbox")]
    days = {json.loads(r["detail"])["day"] for r in rows}
    wanted = {d.isoformat() for d in DAYS if (since is None or d >= since) and (until is None or d <= until)}
    assert days == (wanted if clerk != "c03" else set())
    assert all(r["clerk"] == clerk for r in rows if clerk)
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs, reverse=newest)
    assert audit.count(logged, f) >= len(rows)


@given(st.text(max_size=12))
def test_a_date_filter_is_a_date_or_one_sentence(logged, text):
    f = audit.Filter(since=text.strip())
    try:
        ok = len(text.strip()) == 10 and date.fromisoformat(text.strip()) is not None
    except ValueError:
        ok = False
    if ok or not text.strip():
        audit.search(logged, f, limit=1)
    else:
        with pytest.raises(audit.BadAuditFilter):
            audit.search(logged, f, limit=1)


def test_a_page_of_the_search_and_its_count(logged):
    f = audit.Filter(action="case_list")
    assert audit.count(logged, f) == 10
    assert [r["seq"] for r in audit.search(logged, f, limit=3, offset=3, newest_first=True)] == \
        [r["seq"] for r in audit.search(logged, f, newest_first=True)][3:6]


@settings(max_examples=40, deadline=None)
@given(limit=st.one_of(st.none(), st.integers(1, 25)), offset=st.integers(0, 30), clerk=st.sampled_from(["", "c01"]))
def test_a_page_of_a_search_and_the_total_of_all(logged, limit, offset, clerk):
    f = audit.Filter(clerk=clerk, until=DAYS[-1].isoformat())
    everything = audit.search(logged, f, newest_first=True)
    rows, total = audit.show(logged, "a01", f, limit, offset, newest_first=True)
    assert total == len(everything) and rows == everything[offset:None if limit is None else offset + limit]


@settings(max_examples=200)
@given(clerk_id=st.text(min_size=1, max_size=4).filter(str.strip), name=st.text(min_size=1, max_size=4))
def test_a_made_password_follows_the_rules(clerk_id, name):
    password = clerks.new_password(clerk_id, name)
    assert len(password) == 12 and set(password) <= set(clerks.PASSWORD_ALPHABET)
    clerks.check_password(password, clerk_id, name)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=8)


@given(json_values)
def test_a_pasted_file_reads_back_or_is_one_sentence(value):
    text = json.dumps(value, ensure_ascii=False)
    if enrollment.json_depth(text) <= enrollment.MAX_FILE_DEPTH:
        assert enrollment.parse(text) == value
    else:
        with pytest.raises(EnrollmentRefused):
            enrollment.parse(text)


@pytest.mark.parametrize("text", ["[" * 100_000, "{not json", "", "x" * (enrollment.MAX_FILE + 1)])
def test_a_pasted_file_that_is_none_is_refused(text):
    with pytest.raises(EnrollmentRefused, match="not valid JSON"):
        enrollment.parse(text)
