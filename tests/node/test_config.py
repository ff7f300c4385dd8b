"""Settings from node.json and the environment: a mistyped setting is an error naming the
setting it resembles; a variable unrelated to Yimen's is ignored."""

from __future__ import annotations

import pytest

from yimen.node import config, home
from yimen.node.errors import InvalidConfig


@pytest.fixture
def folder(tmp_path):
    home.init(tmp_path / "node", "440608100201", "示范村").close()
    return tmp_path / "node"


def test_a_setting_from_the_environment(folder):
    assert config.load(folder, {"YIMEN_YELLOW_DAYS": "3"}).yellow_days == 3


@pytest.mark.parametrize("raw, plain", [("1", True), ("true", True), (" Yes ", True), ("0", False), ("", False),
                                        ("false", False), ("no", False)])
def test_plain_http_from_the_environment(folder, raw, plain):
    assert config.load(folder, {"YIMEN_PLAIN_HTTP": raw}).plain_http is plain
    assert config.load(folder, {}).plain_http is False  # off unless asked


@pytest.mark.parametrize("raw", ["2", "on?", "真"])
def test_plain_http_must_be_a_yes_or_no(folder, raw):
    with pytest.raises(InvalidConfig, match="YIMEN_PLAIN_HTTP must be 1 or 0"):
        config.load(folder, {"YIMEN_PLAIN_HTTP": raw})


@pytest.mark.parametrize("name", ["YIMEN_FOO", "YIMEN_DEBUG", "YIMEN_LOG", "YIMEN_HOME", "YIMEN_PORT", "PATH"])
def test_an_unrelated_or_known_variable_is_ignored(folder, name):
    assert config.load(folder, {name: "1"}).yellow_days == 1


@pytest.mark.parametrize("name,meant", [("YIMEN_YELOW_DAYS", "YIMEN_YELLOW_DAYS"), ("YIMEN_HOEM", "YIMEN_HOME"),
                                        ("YIMEN_PARENT", "YIMEN_PARENT_URL"), ("YIMEN_calendar", "YIMEN_CALENDAR_FILE")])
def test_a_mistyped_variable_names_what_it_resembles(folder, name, meant):
    with pytest.raises(InvalidConfig) as e:
        config.load(folder, {name: "2"})
    assert name in e.value.zh and meant in e.value.zh and meant in e.value.en


def test_a_mistyped_key_in_the_file_names_what_it_resembles(folder):
    path = folder / config.CONFIG_FILE
    path.write_text(path.read_text("utf-8").replace('"yellow_days"', '"yelow_days"'), "utf-8")
    with pytest.raises(InvalidConfig, match="did you mean yellow_days"):
        config.load(folder, {})
