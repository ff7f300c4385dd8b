"""The demo's check of the window (web pages): a clerk signs in to a node's pages as a
browser would (the CSRF token of the sign-in page, the session cookie), with a password
or a one-time sign-in link, and the first page greets them. The nodes serve TLS with their own certificates, which a browser is
asked to accept once; this check, on loopback, does not verify them."""

from __future__ import annotations

import asyncio
import re

import aiohttp

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _sign_in(url: str, clerk_id: str, password: str, name: str) -> str | None:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=False)) as s:
        async with s.get(f"{url}/signin") as r:
            page = await r.text()
            if r.status != 200 or not (m := TOKEN.search(page)):
                return f"the sign-in page at {url} answered {r.status}"
        form = {"csrf_token": m.group(1), "clerk_id": clerk_id, "password": password, "next": "/"}
        async with s.post(f"{url}/signin", data=form) as r:
            page = await r.text()
            if r.status != 200 or f"您好，{name}" not in page:
                return f"{clerk_id} could not sign in to the pages at {url} (HTTP {r.status})"
    return None


async def _follow_link(url: str, path: str, name: str) -> str | None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=False)) as s:
        async with s.get(f"{url}{path}") as r:
            page = await r.text()
            if r.status != 200 or not (m := TOKEN.search(page)):
                return f"the sign-in link page at {url} answered {r.status}"
        async with s.post(f"{url}{path}", data={"csrf_token": m.group(1)}) as r:
            if r.status != 200 or f"您好，{name}" not in await r.text():
                return f"a one-time sign-in link did not sign {name} in at {url} (HTTP {r.status})"
    return None


def follow_link(url: str, path: str, name: str) -> list[str]:
    """Problems found using the one-time sign-in link `path` at `url` (none: it worked)."""
    problem = asyncio.run(_follow_link(url, path, name))
    return [problem] if problem else []


def sign_in(url: str, clerk_id: str, password: str, name: str) -> list[str]:
    """Problems found signing `clerk_id` in to the pages at `url` (none: it worked)."""
    problem = asyncio.run(_sign_in(url, clerk_id, password, name))
    return [problem] if problem else []
