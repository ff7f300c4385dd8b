"""Text for people in both languages, chosen where it is shown.

A log line is written before anyone knows who reads it: `log.info(Text("与 %s 同步", "synced
with %s"), peer)` keeps both, and the log handler of a running node picks the configured
language (`yimen.node.logs`). Without that handler the English text is used."""

from __future__ import annotations


class Text:
    """A `%`-template in Chinese and English (the `msg` of a log record)."""

    __slots__ = ("zh", "en")

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en

    def text(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:
        return self.en
