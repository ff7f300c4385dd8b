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
