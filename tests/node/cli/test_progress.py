"""Progress lines name their stage in the clerk's language (plain lines and tqdm's)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from support.zh import english_words
from yimen.node.cli import progress

NODE = Path(__file__).resolve().parents[3] / "node"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_stage_a_service_reports_has_both_labels():
    reported = {m for f in NODE.rglob("*.py") for m in re.findall(r'progress\("([a-z_]+)"', f.read_text("utf-8"))}
    assert reported and reported <= set(progress.STAGES)


@pytest.mark.parametrize("stream", [io.StringIO, Tty])
@pytest.mark.parametrize("stage", sorted(progress.STAGES))
def test_progress_is_in_the_clerks_language(stream, stage):
    shown = {}
    for lang in ("zh", "en"):
        out = stream()
        with progress.shown(lang, out) as p:
            for i in range(0, 79, 7):
                p(stage, i, 78)
        shown[lang] = out.getvalue()
    assert progress.STAGES[stage][0] in shown["zh"] and english_words(shown["zh"], ["it", "s"]) == []
    assert progress.STAGES[stage][1] in shown["en"] and "完成" not in shown["en"]
