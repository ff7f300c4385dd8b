"""Compile node/locale/*/LC_MESSAGES/*.po to the .mo beside it (run after editing a .po;
tests/node/cli/test_language.py fails while a committed .mo differs from its .po)."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parents[1] / "node" / "locale"


def compiled(po: Path) -> bytes:
    out = io.BytesIO()
    with po.open("rb") as f:
        write_mo(out, read_po(f))
    return out.getvalue()


if __name__ == "__main__":
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        po.with_suffix(".mo").write_bytes(compiled(po))
        print(po.with_suffix(".mo"))
