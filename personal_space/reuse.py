"""Which materials of an item a citizen's space satisfies (pure): the rule of reuse at the
window, "let the data run, not the people".

A material is satisfied by reference when the space holds a usable document of its type
(`doc_type`): one not past its `valid_until`. Of several, a result (an issued document,
with its e-certificate) is preferred to a scan, then the one issued last, then the one
deposited last; the document id breaks the last tie, so every replica picks the same one.
A material the clerk recorded a scan of at the window keeps that scan (the clerk's word of
what was handed in today); a material merely said to be handed in, or deferred, is
satisfied from the space instead: the citizen brings nothing already issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable


@dataclass(frozen=True)
class Held:
    """A space document as the reuse rule sees it (a `space_docs` row's fields)."""

    doc_id: str
    doc_type: str
    source: str = "scan"
    issued_on: str = ""
    valid_until: str = ""
    deposited_at: str = ""


def usable(doc: Held, today: str) -> bool:
    """Not expired on `today` (ISO dates compare as text)."""
    return not doc.valid_until or doc.valid_until >= today


def _rank(doc: Held) -> tuple:
    return doc.source == "result", doc.issued_on, doc.deposited_at, doc.doc_id


def best(docs: Iterable[Held], today: str) -> dict[str, Held]:
    """The document reuse takes for each type the space holds a usable one of."""
    out: dict[str, Held] = {}
    for d in docs:
        if usable(d, today) and (d.doc_type not in out or _rank(d) > _rank(out[d.doc_type])):
            out[d.doc_type] = d
    return out


def satisfied(materials: Iterable[tuple[str, str | None]], docs: Iterable[Held], today: str,
              scanned: Collection[str] = ()) -> dict[str, Held]:
    """Material name -> the document that satisfies it, for the materials (name, doc_type)
    of an item; those in `scanned` (a scan recorded today) are left to their scan."""
    by_type = best(docs, today)
    return {name: by_type[t] for name, t in materials if t and t in by_type and name not in scanned}
