"""Which space documents a consent covers at a node, and which a node may keep (pure).

The rule itself is `visibility.may_hold` (written once): a node may hold a space document
if it is the document's home or an ancestor, or if it is a consent's node X, or an
ancestor of X, for a live consent of the citizen's that covers the document's type. This
module only gathers, from the rows a node holds, the consent nodes that rule is given:

- `covered`: what a requester may be handed under one consent (the answering side of
  on-demand delivery: `yimen.node.services.space_delivery`);
- `may_keep` / `purge_reason`: whether a node that holds a document outside the stream
  keeps it, and if not, why (`yimen.node.services.space_purge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from yimen.personal_space.documents import covers, live
from yimen.schema import region
from yimen.sync.visibility import SPACE, may_hold, visible

WITHDRAWN, EXPIRED, NO_CONSENT = "withdrawn", "expired", "no_consent"


@dataclass(frozen=True)
class HeldConsent:
    """A consent as a node holds it (its `space_consents` row)."""

    consent_id: str
    subject: str
    node: str
    types: tuple[str, ...]
    expires_at: str
    withdrawn_at: str = ""

    def live(self, now: str) -> bool:
        return live(self.expires_at, self.withdrawn_at, now)

    def applies(self, subject: str, doc_type: str) -> bool:
        return self.subject == subject and covers(self.types, doc_type)


@dataclass(frozen=True)
class HeldDoc:
    """A space document as a node holds it (its `space_docs` row): `home` is its scope."""

    doc_id: str
    subject: str
    doc_type: str
    home: str


def consented(consents: Iterable[HeldConsent], subject: str, doc_type: str, now: str) -> list[str]:
    """The nodes of the live consents among `consents` that cover `subject`'s documents of
    `doc_type` (what `may_hold` is given)."""
    return sorted({c.node for c in consents if c.applies(subject, doc_type) and c.live(now)})


def may_keep(doc: HeldDoc, holder: str, consents: Iterable[HeldConsent], now: str) -> bool:
    """May node `holder` keep `doc`, given the consents it holds?"""
    return may_hold(doc.home, holder, consented(consents, doc.subject, doc.doc_type, now))


def covered(consent: HeldConsent, docs: Iterable[HeldDoc], requester: str, consents: Iterable[HeldConsent],
            now: str) -> list[str]:
    """The documents among `docs` that `requester` may be handed on demand under `consent`:
    the consent is live and its node lies within the requester's subtree, the document is
    the citizen's and of a type it covers, the requester does not get it in the stream
    already (it is not the home nor an ancestor), and `may_hold` lets it hold it."""
    if not (consent.live(now) and region.is_within(consent.node, requester)):
        return []
    consents = list(consents)
    return sorted(d.doc_id for d in docs
                  if consent.applies(d.subject, d.doc_type) and not visible(d.home, SPACE, requester)
                  and may_hold(d.home, requester, consented(consents, d.subject, d.doc_type, now)))


def purge_reason(doc: HeldDoc | None, holder: str, consents: Iterable[HeldConsent], now: str) -> str:
    """Why `holder` may no longer keep `doc` (None: a document it holds whose body could
    not be read): a covering consent within the holder was withdrawn, or expired, or
    there is none."""
    if doc is None:
        return NO_CONSENT
    mine = [c for c in consents if c.applies(doc.subject, doc.doc_type) and region.is_within(c.node, holder)]
    if any(c.withdrawn_at for c in mine):
        return WITHDRAWN
    return EXPIRED if mine else NO_CONSENT
