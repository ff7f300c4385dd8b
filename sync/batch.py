"""What a sync session carries: a batch of seals from one node's feed, and the refusal of
one that starts past what the receiver holds."""

from __future__ import annotations

from dataclasses import dataclass

from yimen.sync.errors import SyncError


class OutOfOrder(SyncError):
    """A batch starts past what this node holds from its sender (a gap): resend from
    `recv_upto`, the position this node holds (in the answer)."""

    code = "out_of_order"

    def __init__(self, zh: str, en: str, recv_upto: int):
        super().__init__(zh, en)
        self.recv_upto = recv_upto


@dataclass(frozen=True)
class Batch:
    """Seals from `start` (exclusive) to `next` (inclusive) of the sender's feed. A repair
    batch (`start == next == 0`, from reconcile) moves no position. `rewind`: the sender
    restates its feed from `start`, so the receiver's position becomes `next` even if it
    held more (see `yimen.sync.positions`)."""

    sender: str
    start: int
    next: int
    seals: list[tuple[bytes, bytes]]  # (body, signature)
    more: bool = False
    rewind: bool = False

    @property
    def size(self) -> int:
        return sum(len(b) + len(s) for b, s in self.seals)

    @classmethod
    def repair(cls, sender: str, seals: list[tuple[bytes, bytes]]) -> Batch:
        return cls(sender, 0, 0, seals)
