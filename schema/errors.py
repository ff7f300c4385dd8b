"""The root of every Yimen error.

Each error carries a stable machine code (for HTTP answers and logs), a Chinese sentence
for the clerk and an English one for logs and English users. Packages define their own
root below this one (`SchemaError`, `SyncError`, `NodeError`)."""

from __future__ import annotations


class YimenError(Exception):
    """Something a user asked for cannot be done; nothing was changed."""

    code = "yimen_error"

    def __init__(self, zh: str, en: str | None = None):
        super().__init__(en or zh)
        self.zh = zh
        self.en = en or zh

    def text(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


class SchemaError(YimenError):
    """Input does not satisfy a domain rule (bad code, bad ID number, illegal transition)."""

    code = "invalid_input"
