"""Stream positions and own numbering, checked against what this node holds.

A peer's word on how far it holds our feed comes in a hello answer, in the answer to a
push, in a pull's `since` and in a bundle's header. The sender of a feed is the only
authority on positions in it, so before such a word is recorded it is checked against our
feed, by `acknowledged`, the one function every transport goes through. The word cannot
be true when

- it is past the end of our feed: nobody holds what we never had. A stolen key signed an
  inflated `next`, or we lost the end of our feed (restored from an older copy);
- the peer holds one of our own seals that our feed lacks (its `last_seal`): we were
  restored from an older copy.

Then the word is not recorded. We say so (the log; the node's last notice, read by
`yimen status`; the round's stats or the bundle import's summary) and restate our feed from the last position we
had recorded (`Resume.rewind`): the receiver's position becomes what the restating batch
says (`Peers.received`). The rewind stays pending until the peer's word matches where the
restating batch ended.

A restored node also continues its numbering after what the chain holds: the peer's
`last_seal` raises the seal counter, an ancestor's `numbers` (of documents named
`<node>-<series>-<number>`, as a case's receipt number is) raise the per-series counters
and confirm a node restored by `yimen restore` (`UNCONFIRMED`), and the own seals that
may have gone out under a number the peer holds for another seal are sealed again
(a change is identified by (doc, peer, counter): sending it again is harmless). Seal
numbers also never fall below the wall clock in microseconds (`Engine.seal_floor`), so a
restored node with a sane clock does not reuse one even before it hears from anyone.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from yimen.schema import region
from yimen.sync import seal
from yimen.sync.docs import KINDS
from yimen.sync.errors import SyncError
from yimen.sync.store.db import numbered_name

if TYPE_CHECKING:
    from yimen.sync.store import Store

log = logging.getLogger("yimen.sync")

LIMIT = 1 << 63  # SQLite stores positions and numbers as signed 64-bit integers
NUMBERS_MAX = 8  # series told at a time (the latest ones: a year is a series)
UNAPPLIED_READ = 32  # a peer's newest unapplied seals read for its numbers (see `holding`)
FUTURE_US = 86_400 * 10**6  # a seal number a peer reports may run this far ahead of our clock
LOST_SEAL = "seal:lost"  # counter: the highest own seal number a peer held that our feed lacked
UNCONFIRMED = "restore:unconfirmed"  # meta: restored; no ancestor has told the numbers it holds yet
NOTICE = "sync:notice"  # meta: the last impossible word noticed (JSON), for `yimen status`
REWIND = "sync:rewind:"  # meta, per peer: a restatement of our feed is pending (JSON)


class BadPosition(SyncError):
    """A stream position or number that cannot be one (negative, too large, malformed)."""

    code = "bad_request"


def is_count(v: Any) -> bool:
    return type(v) is int and 0 <= v < LIMIT


def valid_numbers(v: Any) -> bool:
    """`{"<kind>:<series>": number}`, a few of them (a kind of document, so that no other
    counter, such as the seal numbers', can be named)."""
    return isinstance(v, dict) and len(v) <= NUMBERS_MAX and all(
        isinstance(k, str) and len(k) <= 64 and k.partition(":")[0] in KINDS and k.partition(":")[2]
        and is_count(n) for k, n in v.items())


def wall_us() -> int:
    return time.time_ns() // 1000


class Notice(NamedTuple):
    """What was impossible about a peer's word, in both languages."""

    zh: str
    en: str


@dataclass(frozen=True)
class Holding:
    """What a node holds of a peer's feed and numbering, as it tells that peer: how far it
    holds the feed (`upto`), the highest number of the peer's own seals it holds
    (`last_seal`), and the highest number per series of the peer's named documents
    (`numbers`, e.g. `{"case:2026": 31}`); None: not told."""

    upto: int
    last_seal: int | None = None
    numbers: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if not (is_count(self.upto) and (self.last_seal is None or is_count(self.last_seal))
                and (self.numbers is None or valid_numbers(self.numbers))):
            raise BadPosition("流位置或编号无效（须为非负整数）",
                              "a stream position or number is malformed (non-negative integers only)")

    @classmethod
    def from_wire(cls, message: Mapping[str, Any], key: str) -> Holding:
        """From a hello answer (`recv_upto`), a pull (`since`) or a bundle header (`ack`)."""
        return cls(message.get(key), message.get("last_seal"), message.get("numbers"))

    def wire(self) -> dict[str, Any]:
        """The fields besides the position (which each message names its own way)."""
        return {k: v for k, v in (("last_seal", self.last_seal), ("numbers", self.numbers)) if v is not None}


@dataclass(frozen=True)
class Resume:
    """Where to send a peer our feed from; `rewind`: restate it from there (the peer's
    position becomes where the restating batch ends); `notice`: why, when it is new."""

    since: int
    rewind: bool = False
    notice: Notice | None = None


def holding(store: Store, peer: str) -> Holding:
    """What this node holds of `peer`'s feed and numbering: its documents, and those in
    its latest seals stored but not applied yet (a hub's backlog: the newest seals hold
    the highest numbers, as a node numbers its documents in the order it makes them)."""
    numbers = store.numbered(peer, NUMBERS_MAX)
    for body, sig in store.feed.unapplied_by(peer, UNAPPLIED_READ):
        for c in seal.decode(body, sig).changes:
            named = numbered_name(peer, c.doc_id, c.kind)
            if named and (named[0] in numbers or len(numbers) < NUMBERS_MAX):
                numbers[named[0]] = max(named[1], numbers.get(named[0], 0))
    return Holding(store.peers.positions(peer)[0], store.feed.last_seq(peer), numbers)


def acknowledged(store: Store, me: str, peer: str, held: Holding, at: str, newer: bool = True) -> Resume:
    """`peer` says it holds `held` of our feed: check it, record it, and say where to send
    from (see the module's docstring). `newer` False: the word may be older than one
    already recorded (a bundle imported late), so it moves the position only forward."""
    with store.transaction():
        lost = _continue_numbering(store, me, peer, held)
        head, sent = store.feed.head(), store.peers.positions(peer)[1]
        start = min(sent, head, held.upto)  # a restatement starts here (lower if the peer holds less)
        notice = None
        if lost:
            notice = Notice(
                f"{peer} 持有本节点的签封 #{held.last_seal}，而本节点没有：本节点是从较早的副本恢复的；"
                f"编号已接续其后，并从位置 {start} 起向 {peer} 重发",
                f"{peer} holds our seal #{held.last_seal}, which our feed lacks: this node was restored from "
                f"an older copy; numbering goes on after it and our feed is restated to {peer} from {start}")
            store.changes.unseal(me, store.feed.seqs_after(me, start, held.last_seal))
        elif held.upto > head:
            notice = Notice(
                f"{peer} 称已收到本节点数据至位置 {held.upto}，超出本节点的末尾 {head}"
                f"（位置被伪造，或本节点从较早的副本恢复）；从位置 {start} 起重发",
                f"{peer} says it holds our feed up to {held.upto}, past the end of our feed ({head}): "
                f"a forged position or a node restored from an older copy; restating from {start}")
        pending = _pending(store, peer)
        if notice is None and (pending is None or held.upto == pending.get("to")):
            if pending is not None:  # the restatement arrived
                store.delete_meta(REWIND + peer)
            upto = held.upto if newer else max(held.upto, sent)
            store.peers.acknowledged(peer, upto, at)
            return Resume(upto)
        if notice is not None:
            log.warning("%s", notice.en)
            store.set_meta(NOTICE, json.dumps({"at": at, "peer": peer, "zh": notice.zh, "en": notice.en},
                                              ensure_ascii=False))
            store.set_meta(REWIND + peer, json.dumps({"to": None}))
        # (Without a notice: said before our restatement arrived, or it was lost: restate again.)
        return Resume(start, True, notice)


def resume(store: Store, peer: str) -> Resume:
    """Where to send from with no new word from the peer (a bundle): the recorded
    position, restated if a restatement is pending."""
    return Resume(store.peers.positions(peer)[1], _pending(store, peer) is not None)


def restated(store: Store, peer: str, to: int) -> None:
    """A restatement of our feed to `peer` went out and ends at `to`: a word of `to` from
    the peer shows it arrived."""
    if _pending(store, peer) is not None:
        with store.transaction():
            store.set_meta(REWIND + peer, json.dumps({"to": to}))


def _pending(store: Store, peer: str) -> dict[str, Any] | None:
    raw = store.meta(REWIND + peer)
    return json.loads(raw) if raw else None


def _continue_numbering(store: Store, me: str, peer: str, held: Holding) -> bool:
    """Raise our counters to what the peer holds; return whether it holds an own seal our
    feed lacks that we had not noticed before."""
    lost = False
    last = held.last_seal or 0
    # A stolen key may report any number: one that even a clock running fast could not
    # have given is not taken (it would push our numbers to the end of their range).
    if 0 < last <= max(store.sequence("seal"), wall_us()) + FUTURE_US:
        store.raise_sequence("seal", last)
        if last > store.sequence(LOST_SEAL) and not store.feed.has(me, last):
            store.raise_sequence(LOST_SEAL, last)
            lost = True
    if held.numbers is not None and peer != me and region.is_within(me, peer):
        for name, number in held.numbers.items():
            store.raise_sequence(name, number)
        store.delete_meta(UNCONFIRMED)
    return lost


def notice(store: Store, lang: str = "en") -> dict[str, Any]:
    """For `yimen status`: the last impossible word noticed, the peers our feed is being
    restated to, and whether this node, restored, still waits for an ancestor's numbers."""
    raw = store.meta(NOTICE)
    last = json.loads(raw) if raw else None
    return {"last_notice": last and {"at": last["at"], "peer": last["peer"], "text": last[lang]},
            "restating_to": [r["peer"] for r in store.peers.rows() if store.meta(REWIND + r["peer"])],
            "restore_unconfirmed": store.meta(UNCONFIRMED)}
