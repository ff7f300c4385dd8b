"""Fixtures of the window's tests: a node with the small catalog and clerks of several
roles; for browser tests, that node served on 127.0.0.1 (a real aiohttp server in a thread
of its own) and one headless Chromium for the whole session, a fresh context (no cookies)
per test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from support import MINI_CATALOG, VILLAGE
from support import browser as chromium
from support.pages import add_clerk
from support.served import ServedNode
from support.signin import PASSWORD
from yimen.node import home
from yimen.node.services import catalog
from yimen.schema.catalog import parse_catalog_json

CLERKS = {"c01": ["民政", "社保", "村委会"], "a01": ["管理员"], "c02": ["社保"]}


def window_node(folder: Path, region: str = VILLAGE, name: str = "示范村党群服务中心", **kw) -> home.Node:
    """A node with the small catalog and the clerks of `CLERKS` (password `PASSWORD`);
    `kw` go to `home.init` (a clock)."""
    node = home.init(folder, region, name, **kw)
    catalog.import_items(node, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    for clerk_id, roles in CLERKS.items():
        add_clerk(node, clerk_id, roles)
    return node


@pytest.fixture
def window_home(tmp_path: Path) -> Iterator[home.Node]:
    node = window_node(tmp_path / "village")
    yield node
    node.close()


@pytest.fixture
def window_nodes(tmp_path: Path) -> Iterator[list[home.Node]]:
    """Make more window nodes with `window_node(...)` and append them: closed after the
    test's clients (request this fixture before `aiohttp_client`)."""
    made: list[home.Node] = []
    yield made
    for n in made:
        n.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    """The node served for a module's browser tests (its data is shared by them)."""
    with pytest.MonkeyPatch.context() as mp:  # before the function-scoped fixture that sets it
        mp.setenv("YIMEN_PASSWORD_PROFILE", "cheapest")
        node = window_node(tmp_path_factory.mktemp("served") / "village")
    s = ServedNode(node, materialize=True).start()
    yield s
    s.stop()
    node.close()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = chromium.launch(p)
        yield b
        b.close()


@pytest.fixture
def page(chromium_browser, served: ServedNode) -> Iterator[object]:
    """A page of a fresh browser context; the test fails if it asked anything of another host."""
    context = chromium_browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    p = context.new_page()
    outside = chromium.only_local(p, served.url)
    yield p
    context.close()
    assert not outside, outside


@pytest.fixture
def clerk_page(page, served: ServedNode):
    """The page, signed in as c01 (民政, 社保, 村委会)."""
    chromium.sign_in(page, served.url, "c01", PASSWORD)
    return page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running for the session,
    and the async tests after it could not start their own."""
    items.sort(key=lambda i: "chromium_browser" in getattr(i, "fixturenames", ()))
