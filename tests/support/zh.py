"""What a clerk reads in zh mode holds no English word: `english_words(text, allowed)`
names the words left once what must stay Latin is taken out: option names (--clerk),
argument names as click writes them ('FILE', 'CASE_ID'), file paths, URLs, codes and ids
(MZ-003, 440608100201-2026-000001, hex keys), file extensions (.json), the program's name,
wire fields named as such (字段 start),
and whatever the caller passes (the values the clerk typed, the codes a choice takes)."""

from __future__ import annotations

import re
from typing import Iterable

_LATIN_KEPT = re.compile("|".join([
    r"https?://\S+",                 # URLs
    r"(?<![\w-])--?[a-z][a-z-]*",    # option names
    r"(?:[A-Za-z0-9_.~-]*/[A-Za-z0-9_./@+~-]*)",  # file paths (anything with a slash)
    r"(?<![A-Za-z])[A-Z][A-Z0-9_]*(?![A-Za-z])",  # argument names, codes, acronyms (FILE, MZ, JSON)
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*",  # ids and codes holding a digit (MZ-003, c01, hex)
    r"\.[a-z]{2,4}\b",               # file extensions
    r"\byimen\b",
    r"(?<=字段 )[a-z_]+",             # a wire protocol field, named as such (字段 start)
]))
WORD = re.compile(r"[A-Za-z]{2,}")
NEVER = ("UTC", "OPTIONS", "ARGS", "COMMAND")  # an English frame or zone, not a name


def english_words(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The English words in `text` (empty when the text is wholly the clerk's language)."""
    found = [w for w in NEVER if re.search(rf"(?<![A-Za-z]){w}(?![A-Za-z])", text)]
    for a in sorted({a for a in allowed if a}, key=len, reverse=True):
        text = text.replace(a, " ")
    return found + WORD.findall(_LATIN_KEPT.sub(" ", text))
