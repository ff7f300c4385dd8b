from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.case import ACTION_ZH, ACTIONS, STATUS_ZH
from yimen.schema.words import LISTED_STATUSES, UnknownWord, action_code, status_code


@pytest.mark.parametrize("status", LISTED_STATUSES)
def test_a_status_by_code_or_chinese_word(status):
    assert status_code(status) == status_code(STATUS_ZH[status]) == status_code(f" {status.upper()} ") == status


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_by_code_or_chinese_word(action):
    assert action_code(ACTION_ZH[action], ACTIONS) == action_code(action, ACTIONS) == action


def test_an_unknown_word_names_the_known_ones():
    with pytest.raises(UnknownWord) as e:
        status_code("bogus")
    assert "审批中、已批准" in e.value.zh and "in_review" not in e.value.zh and "in_review" in e.value.en
    with pytest.raises(UnknownWord):
        action_code("受理", ["approve", "reject"])  # a word outside those allowed


@given(st.text(max_size=10))
def test_any_word_is_a_code_or_one_clear_error(text):
    try:
        assert status_code(text) in LISTED_STATUSES
    except UnknownWord:
        pass
