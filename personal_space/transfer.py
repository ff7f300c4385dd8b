"""Moving file chunks between nodes (pure): the one rule of which chunks may move, the
shape of a list of chunk hashes taken from outside, and the bound of one round's work.

The rule, for both directions between this node and a peer P: a chunk moves only if a
space document held here lists it and P may hold that document (`visibility.may_hold`,
given the nodes whose live consents held here cover it); to a node below, only a document
from outside its subtree counts (see `may_move`). So a node serves P only chunks of
documents P may see, takes from P only chunks of documents it holds (and checks each
against its hash: the signed document is what says which chunks make a file), and a hub
ends up holding every file of its subtree because its children push what it lacks.

Chunks move one per request (or one per bundle record), each committed when whole: a link
cut mid-transfer loses at most the chunk in flight, and the next attempt asks again what
is missing (`missing` is a pure function of what is held), so a transfer resumes from the
last whole chunk with no position of its own to keep."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from yimen.schema import region
from yimen.sync.transports.chunks import MAX_HASHES
from yimen.sync.visibility import may_hold


@dataclass(frozen=True)
class Holder:
    """A space document held here, as far as the rule needs it: its home (scope), and a
    way to learn the nodes whose live consents cover it (asked only when the home alone
    does not decide: a consent lookup per document would cost a hub a query each)."""

    doc_id: str
    home: str
    consented: Callable[[], Sequence[str]]


def may_move(holders: Iterable[Holder], peer: str, down: bool = False) -> bool:
    """May a chunk listed by `holders` (the documents held here that list it) move between
    this node and `peer`? Yes if `peer` may hold one of them. Going `down` (given to a node
    below this one), a document of the peer's own subtree does not count: its files came up
    from there, and anyone there could write one listing any hash it has seen (a reused
    material's hash is on a case), so only a document from outside, under a live consent,
    lets a chunk go down."""
    for h in holders:
        own = region.is_within(h.home, peer)
        if own and not down or not own and may_hold(h.home, peer, h.consented()):
            return True
    return False


def missing(chunks: Iterable[str], held: set[str]) -> list[str]:
    """The chunks not held, in order and without repeats: where a transfer goes on from."""
    return [c for c in dict.fromkeys(chunks) if c not in held]


@dataclass
class Budget:
    """How much one round may move: bytes and seconds, whichever ends first. A chunk is
    always started whole (checked before each one), so a round moves at least one."""

    max_bytes: int
    max_seconds: float
    clock: Callable[[], float] = time.monotonic
    used: int = 0
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def left(self) -> bool:
        return self.used < self.max_bytes and self.clock() - self.started < self.max_seconds

    def spend(self, n: int) -> None:
        self.used += n


def slices(items: Sequence[str], size: int = MAX_HASHES) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
