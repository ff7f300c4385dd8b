"""The log of a running node (`yimen serve`, `yimen sync`): lines for the people who run it,
in the configured language, on stderr (systemd's journal) or in a rotating file.

A line written as `yimen.schema.text.Text`, and a Yimen error among its arguments, shows
in the handler's language; tracebacks stay as Python writes them (they are for engineers).
With `access_log` each HTTP request is logged too (logger `yimen.access`)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from yimen.schema.errors import YimenError
from yimen.schema.text import Text

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
ROTATE_BYTES = 10 * 1024 * 1024  # a village PC's disk: at most 6 files of 10 MB
ROTATE_KEEP = 5
ACCESS_LOGGER = "yimen.access"


class LangFilter(logging.Filter):
    """Puts a record's bilingual message and arguments in one language."""

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Text):
            record.msg = record.msg.text(self.lang)
        if isinstance(record.args, tuple):
            record.args = tuple(a.text(self.lang) if isinstance(a, (Text, YimenError)) else a for a in record.args)
        return True


class PrivateFileHandler(logging.FileHandler):
    """A log file created 0600: its lines can name cases and applicants."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file from before, world-readable
        except OSError:  # someone else's file (a shared log folder): leave its mode to them
            pass
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """`PrivateFileHandler`, rotated (each new file 0600 too; renamed ones keep their mode)."""

    _open = PrivateFileHandler._open


LOGGERS = ("yimen", "aiohttp")  # ours, and the HTTP server's own complaints


def setup(lang: str, log_file: Path | None = None, access_log: bool = False) -> logging.Handler:
    """Send the log lines (INFO and up) of Yimen and aiohttp to `log_file`, rotated, or to
    stderr, until `remove`. An unusable file raises its `OSError` (the CLI says which file
    and why). The root logger is left alone: whatever else the process logs is its own."""
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = PrivateRotatingFileHandler(
            log_file, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(LangFilter(lang))
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
    return handler


def remove(handler: logging.Handler) -> None:
    """Undo `setup`."""
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
    handler.close()
