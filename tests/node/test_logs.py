"""Log files are private: their lines can name cases and applicants."""

from __future__ import annotations

import logging

from yimen.node import logs


def test_a_log_file_and_its_rotations_are_created_0600(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "ROTATE_BYTES", 200)
    path = tmp_path / "logs" / "yimen.log"
    handler = logs.setup("en", path)
    try:
        for i in range(20):
            logging.getLogger("yimen.test").info("line %d of a log that rotates", i)
    finally:
        logs.remove(handler)
    files = sorted(path.parent.iterdir())
    assert len(files) > 1 and {oct(p.stat().st_mode & 0o777) for p in files} == {"0o600"}


def test_a_log_file_from_before_becomes_private(tmp_path):
    path = tmp_path / "yimen.log"
    path.write_text("old\n")
    path.chmod(0o644)
    handler = logs.PrivateFileHandler(path)
    handler.close()
    assert path.stat().st_mode & 0o777 == 0o600
