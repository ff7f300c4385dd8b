"""Hypothesis fuzzing of bundle import, through the service and through `yimen bundle
import` (click's CliRunner), at a town whose villages A and B carry bundles by stick (a fresh
copy of them for each test, for all its examples).

Each example starts from a real bundle village A exports (a fresh case in it), decrypts it
with the town's identity, takes it apart, mutates its envelope, its records or the seals
inside them (re-framed, signed with A's key: a stolen key signs whatever it likes, and
encrypted to the town again) and sometimes its bytes (see `support.mutate_bundle`).

For every file: a refused one leaves the town's database exactly as it was and is told in
one sentence (the service raises a Yimen error; the command prints one `Error:` line,
exits non-zero, and never says "unexpected error" nor shows a traceback); one that goes in
is applied whole (nothing left unapplied, every case listed under its own node), and a
bundle whose only damage is inside seals goes in with those seals quarantined. Afterwards
the town still takes good bundles from A and B, and A is not cut off by a position a
mutated bundle made the town record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from hypothesis import given

from support import dump, id_number
from support.mutate import Blob, ChangeCell, Context, Named, Poison, SealHead
from support.mutate_bundle import BundlePlan, BundleSeal, EnvelopeField, FileBytes, RecordField, Records, bundle_plans
from support.wire_fuzz import VA, VB, context, make_template, misattributed_cases, open_copy
from yimen.node.cli.main import main
from yimen.node.home import Node
from yimen.node.replication import engine
from yimen.node.services import cases
from yimen.sync.batch import OutOfOrder
from yimen.node.services.bundles import export_bundle, import_bundle
from yimen.schema.errors import YimenError


@dataclass
class Stick:
    """The town and its villages, and the folder bundles are written to."""

    folder: Path
    town: Node
    va: Node
    vb: Node
    ctx: Context
    cases: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    def new_case(self, village: Node) -> str:
        app = cases.Application("T-IMM", id_number(next(self.cases)), "陈美玲", {"居民身份证": None}, {})
        return cases.accept(village, "c01", app)["case_id"]

    def carry(self, src: Node, dst: Node) -> dict:
        path = self.folder / f"to-{dst.node_id}.yimen"
        return import_bundle(dst, export_bundle(src, dst.node_id, path)["file"])

    def base(self) -> bytes:
        """A real bundle of village A holding a fresh case, from where the town holds A's
        feed (as if the town's answer had come back)."""
        self.new_case(self.va)
        eng = engine(self.va)
        eng.set_sent(self.town.node_id, min(self.held(), eng.feed_head()))
        path = self.folder / "base.yimen"
        export_bundle(self.va, self.town.node_id, path)
        return path.read_bytes()

    def held(self) -> int:
        return engine(self.town).positions(VA)[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("fuzz-bundles"))


@pytest.fixture
def stick(template, tmp_path):
    """A fresh copy of the town and its villages (for all the examples of a test)."""
    town, villages = open_copy(template, tmp_path)
    yield Stick(tmp_path, town, villages[VA], villages[VB], context(town, villages[VA], villages[VB]))
    for n in (town, *villages.values()):
        n.close()


# -- the two ways in -------------------------------------------------------------------------
def by_service(stick: Stick, path: Path) -> tuple[bool, list[str]]:
    """(went in, problems) of importing `path` with the service."""
    try:
        import_bundle(stick.town, path)
        return True, []
    except YimenError as e:
        one_line = "\n" not in e.en and "\n" not in e.zh and e.en and e.zh
        return False, [] if one_line else [f"not one sentence: {e.zh!r} / {e.en!r}"]
    except BaseException as e:  # noqa: BLE001 (a clerk would see its traceback)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return False, [f"import raised {type(e).__name__}: {e}"]


def by_command(stick: Stick, path: Path) -> tuple[bool, list[str]]:
    """(went in, problems) of `yimen bundle import` on `path`."""
    try:
        result = CliRunner().invoke(main, ["--home", str(stick.town.home), "--lang", "en", "bundle", "import",
                                           str(path)])
    except BaseException as e:  # noqa: BLE001 (escaped the command's boundary: a traceback)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return False, [f"the command raised {type(e).__name__}: {e}"]
    problems = []
    if "Traceback" in result.output:
        problems.append("a traceback in the output")
    if not isinstance(result.exception, (SystemExit, type(None))):
        problems.append(f"the command failed with {type(result.exception).__name__}: {result.exception}")
    if result.exit_code == 0:
        return True, problems
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    if len(errors) != 1 or "unexpected error" in result.output:
        problems.append(f"not one sentence of a refusal: {result.output!r}")
    return False, problems


def check(stick: Stick, plan: BundlePlan, way) -> list[str]:
    path = stick.folder / "mutated.yimen"
    path.write_bytes(plan.apply(stick.base(), stick.ctx, stick.town.keys.encryption))
    before, forged = dump(stick.town), misattributed_cases(stick.town)
    went_in, problems = way(stick, path)
    if not went_in and dump(stick.town) != before:
        problems.append("a refused bundle changed the database")
    if went_in:
        if engine(stick.town).backlog():
            problems.append(f"{engine(stick.town).backlog()} seals stored but not applied after the import")
        problems += [p for p in misattributed_cases(stick.town) if p not in forged]
    elif plan.only_seals:
        problems.append("the whole bundle refused for a bad seal (it must be quarantined alone)")
    return problems


def still_imports(stick: Stick) -> None:
    """Cases of A and B go up by stick and are listed: one sealed before the town's
    bundle back came with its acknowledgement (an acknowledgement the town was tricked
    into must cut nobody off), and one after."""
    for v in (stick.va, stick.vb):
        earlier = stick.new_case(v)
        engine(v).seal_pending()  # sealed for a bundle that was lost
        try:
            stick.carry(stick.town, v)  # the acknowledgement comes back
        except OutOfOrder:
            # a mutated bundle signed with v's own key told the town that v holds more of the
            # town's feed than it does (only v is misled): as the error says, v's own
            # acknowledgement goes to the town first, then the town's bundle imports
            stick.carry(v, stick.town)
            stick.carry(stick.town, v)
        later = stick.new_case(v)
        stick.carry(v, stick.town)
        for case_id in (earlier, later):
            assert stick.town.store.conn.execute("SELECT node FROM cases WHERE case_id = ?",
                                                 (case_id,)).fetchone() == (v.node_id,), case_id


# -- the suites --------------------------------------------------------------------------------
@pytest.mark.parametrize("way", [by_service, by_command], ids=["service", "command"])
def test_import(stick, way):
    @given(plan=bundle_plans())
    def one(plan):
        problems = check(stick, plan, way)
        assert not problems, f"{plan!r}: {problems}"

    one()
    still_imports(stick)


def seal_of_a(*ops) -> BundlePlan:
    return BundlePlan(records=(BundleSeal(0, 0, ops),))


FINDINGS = {
    "unchanged": BundlePlan(),
    "garbage Loro blob": seal_of_a(ChangeCell(0, 5, Blob("garbage", 7))),
    "seal seq 2**63": seal_of_a(SealHead(2, 2**63)),
    "change peer 2**64-1": seal_of_a(ChangeCell(0, 2, 2**64 - 1)),
    "seal scope not a region": seal_of_a(SealHead(3, "not-a-region")),
    "own case whose applicant name is a list": seal_of_a(Poison("applicant_name", ["张三"])),
    "own case whose body claims village B": seal_of_a(Poison("node", Named("victim"))),
    "empty batch with next 2**62-1": BundlePlan(records=(Records("inflated_batch"),)),
    "ack 2**64-1": BundlePlan(records=(RecordField(0, "ack", 2**64 - 1),)),
    "cut short": BundlePlan(raw=(FileBytes("truncate", 200),)),
    "trailing bytes": BundlePlan(raw=(FileBytes("trail", 5),)),
    "a flipped bit, checksum made to match": BundlePlan(raw=(FileBytes("flip_fixed", 100),)),
    "a flipped bit in the ciphertext": BundlePlan(raw=(FileBytes("flip", 300),)),
    "envelope names another sender": BundlePlan(records=(EnvelopeField("from", Named("victim")),)),
    "envelope of protocol 1": BundlePlan(records=(EnvelopeField("protocol", 1),)),
}


@pytest.mark.parametrize("way", [by_service, by_command], ids=["service", "command"])
@pytest.mark.parametrize("name", FINDINGS)
def test_finding(stick, name, way):
    """The files of the outside campaign, every time; then the town still takes A's and B's."""
    problems = check(stick, FINDINGS[name], way)
    assert not problems, problems
    still_imports(stick)

