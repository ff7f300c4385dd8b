"""Every page a clerk or an admin can reach from the menu, followed link by link: each
answers (no 500), and in zh mode holds no English word (`support.zh`) — the frame, the
labels, the buttons, the placeholders and the tooltips."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from support import accept, id_number
from support.pages import window
from support.zh import english_words
from yimen.node.services import cases

LINK = re.compile(r'href="(/[^"#]*)"')
SKIP = ("/static/", "/signout")
LATIN_NAMES = ("English", "Excel", "CSV")  # the language switch's own name; file formats by name
MAX_PAGES = 80


class Visible(HTMLParser):
    """The text a reader meets: the data outside script and style, and the attributes shown."""

    SHOWN = ("placeholder", "title", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in self.SHOWN and v]
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    p = Visible()
    p.feed(html)
    return " ".join(p.parts)


def _some_cases(node) -> list[str]:
    """A case in each state a page shows differently."""
    made = [accept(node, 1)]  # completed at once
    app = cases.Application("T-DIBAO", id_number(2), "陈美玲", {"居民身份证": None}, {"收入证明": None})
    made.append(cases.accept(node, "c01", app)["case_id"])
    supplement = cases.accept(node, "c01", cases.Application("T-DIBAO", id_number(3), "黄志强",
                                                              {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cases.act(node, supplement, "supplement", "c01", "申请表签名缺失")
    made.append(supplement)
    made.append(cases.not_accept(node, "c01", "T-DIBAO", id_number(4), "李秀英", "申请人不属于本村户籍")["case_id"])
    return made


async def _crawl(w) -> dict[str, str]:
    seen: dict[str, str] = {}
    todo = ["/"]
    while todo and len(seen) < MAX_PAGES:
        path = todo.pop(0)
        if path in seen or path.startswith(SKIP) or "lang=" in path:
            continue
        r = await w.client.get(path)
        text = await r.text() if r.content_type == "text/html" else ""  # a download (.xlsx) is no text
        assert r.status < 500, (path, r.status, text[-1500:])
        seen[path] = text
        todo += [p.replace("&amp;", "&") for p in LINK.findall(text)]
    return seen


async def test_every_page_reachable_answers_and_speaks_only_chinese(window_home, aiohttp_client):
    _some_cases(window_home)
    for clerk_id in ("c01", "a01"):
        w = await window(aiohttp_client, window_home, clerk_id)
        pages = await _crawl(w)
        assert len(pages) > 3, pages.keys()
        for path, html in pages.items():
            words = english_words(visible(html), LATIN_NAMES)
            assert not words, (clerk_id, path, words)
