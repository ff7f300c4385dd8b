"""The window's pages over HTTP, without a browser: an aiohttp test client that signs in
as a clerk and carries the CSRF token of the page it last read, so a test can post forms
as a browser would (and forge what a browser would not)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from support.signin import PASSWORD
from yimen.node.home import Node
from yimen.node.services import clerks

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Window:
    """A test client of one node's pages."""

    def __init__(self, client: TestClient):
        self.client = client
        self.token = ""

    async def get(self, path: str, status: int = 200, **kw: Any) -> str:
        """GET `path`, expecting `status`; the page's text (its CSRF token kept)."""
        r = await self.client.get(path, **kw)
        text = await r.text()
        assert r.status == status, (r.status, text[-2000:])
        if m := TOKEN.search(text):
            self.token = m.group(1)
        return text

    async def post(self, path: str, data: dict[str, Any] | None = None, status: int = 200,
                   token: bool = True, **kw: Any) -> str:
        """POST a form (with the CSRF token unless `token=False`), following a redirect;
        the answer's text."""
        body = dict(data or {})
        if token:
            body.setdefault("csrf_token", self.token)
        r = await self.client.post(path, data=body, **kw)
        text = await r.text()
        assert r.status == status, (r.status, text[-2000:])
        if m := TOKEN.search(text):
            self.token = m.group(1)
        return text

    async def sign_in(self, clerk_id: str, password: str = PASSWORD) -> str:
        await self.get("/signin")
        return await self.post("/signin", {"clerk_id": clerk_id, "password": password, "next": "/"})


def add_clerk(node: Node, clerk_id: str, roles: list[str], name: str | None = None) -> None:
    """A clerk with the tests' password (through the services)."""
    clerks.add(node, clerk_id, name or f"测试{clerk_id}", roles, PASSWORD)


async def window(aiohttp_client: Any, node: Node, clerk_id: str | None = None) -> Window:
    """A client of `node`'s app (`create_app`), signed in as `clerk_id` if given."""
    from yimen.node.server.app import create_app
    w = Window(await aiohttp_client(create_app(node)))
    if clerk_id:
        await w.sign_in(clerk_id)
    return w
