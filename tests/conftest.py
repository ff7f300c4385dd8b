"""Shared fixtures (helpers they use are in `support`). Hypothesis profiles: `ci` (bounded, used when CI is set) and `dev`
(bigger, the default locally); choose with HYPOTHESIS_PROFILE."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from support import MINI_CATALOG, VILLAGE, Clock
from yimen.node import home, vault
from yimen.node.services import catalog, clerks
from yimen.schema.catalog import parse_catalog_json

# Every node the tests make is encrypted, unlocked by this one key file (as if on a USB
# stick), set in the environment at import so that CLI runners and server subprocesses find
# it too; no test types a passphrase, and only the tests of the passphrase pay for Argon2id.
_KEYS = Path(tempfile.mkdtemp(prefix="yimen-test-key-"))
os.environ[vault.ENV_KEY_FILE] = str(vault.new_key_file(_KEYS / "yimen.key").path)
os.environ.pop(vault.ENV_PASSPHRASE, None)
atexit.register(shutil.rmtree, _KEYS, ignore_errors=True)

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Nodes of the tests serve and reach each other over plain HTTP on 127.0.0.1 (the explicit
# `plain_http` setting, refused on any other address) where TLS is not what a test is about;
# tests/node/server/test_tls.py turns it off and runs real TLS links.
os.environ["YIMEN_PLAIN_HTTP"] = "1"


@pytest.fixture(autouse=True)
def _sign_in_cheaply(tmp_path_factory, monkeypatch):
    """Each test keeps clerks' session files in a folder of its own (never the real
    runtime folder), and hashes passwords at the test-only cost (`password_profile`)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
    monkeypatch.setenv("YIMEN_PASSWORD_PROFILE", "cheapest")
    monkeypatch.delenv("YIMEN_CLERK", raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))  # a Monday


@pytest.fixture
def fresh_node(tmp_path: Path, clock: Clock):
    node = home.init(tmp_path / "village", VILLAGE, "示范村党群服务中心", clock=clock)
    yield node
    node.close()


@pytest.fixture
def node(fresh_node):
    """A village node with the mini catalog and two clerks: c01 (民政, 社保, 村委会) and
    c02 (社保 only)."""
    catalog.import_items(fresh_node, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(fresh_node, "c01", "李敏", ["民政", "社保", "村委会"])
    clerks.add(fresh_node, "c02", "王芳", ["社保"])
    return fresh_node
