"""Named org profiles: each a documented knob set the emulator runs a benchmark under.

Why named profiles: the loader's defaults were chosen on one org model (``tuned`` below), and a
default chosen on one model proves nothing about another. Every profile is a guess about a real
org along five knobs: workers (the org's parallel batch capacity), records per second per worker
(how heavy the org's DML is: triggers, flows, validation), request latency, how skewed the
children are over their parent Accounts, and how a job is cut into internal batches. Scenario B
runs every profile in :data:`B_PROFILES`; ``bench/README.md`` explains each one and derives the
bound (:meth:`OrgProfile.bound_seconds`).

Knobs the emulator's ``BulkProcessingConfig`` has beyond workers, rate and lock wait (today
``batch_split``) go through :attr:`OrgProfile.bulk` as a plain dict of field overrides, so a new
emulator knob needs a profile entry, not harness code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``BulkProcessingConfig.batch_split``'s default in the emulator: a job is cut every
#: ``internal_batch_size`` records in file order. Named here only to *describe* profiles that
#: leave the knob alone; the emulator's default is what such a profile gets.
EMULATOR_DEFAULT_SPLIT = "aligned"
#: Accounts the children are spread over (the emulator README's 2M-row example).
ACCOUNTS = 20_000


@dataclass(frozen=True)
class OrgProfile:
    """One org model: the emulator's knobs plus the source data's parent skew."""

    name: str
    #: One line: what a real org this stands for, and what it tests in the loader.
    why: str
    workers: int
    records_per_second_per_worker: float
    latency_seconds: float
    #: Zipf exponent of the parent draw (0 = uniform); see ``emulator.datacloud.seed``.
    skew: float
    accounts: int = ACCOUNTS
    lock_wait_seconds: float = 10.0
    #: Overrides of the emulator's ``BulkProcessingConfig`` fields, passed through as they are.
    bulk: Mapping[str, Any] = field(default_factory=dict)

    @property
    def zero_cost(self) -> bool:
        return self.records_per_second_per_worker == 0

    @property
    def batch_split(self) -> str:
        return str(self.bulk.get("batch_split", EMULATOR_DEFAULT_SPLIT))

    def bound_seconds(self, rows: int, largest_parent: int) -> float | None:
        """The fastest any client could load ``rows`` in this org, in simulated seconds.

        ``max(rows ÷ (rate × workers), largest parent's children ÷ rate)``: the org cannot apply
        more than ``rate × workers`` records a second, and every child of one parent needs that
        parent's row lock, so one parent's children are applied one transaction at a time at
        one worker's rate however the jobs are cut. ``None`` for a zero-cost org (no time).
        """
        if self.zero_cost:
            return None
        rate = self.records_per_second_per_worker
        return max(rows / (rate * self.workers), largest_parent / rate)

    def describe(self) -> str:
        """The knobs in one line, for tables and logs."""
        skew = "uniform" if self.skew == 0 else f"Zipf {self.skew:g}"
        if self.zero_cost:
            return f"{self.workers} workers, zero cost (no simulated time), {skew} parents"
        return (
            f"{self.workers} workers × {self.records_per_second_per_worker:,.0f} rec/s, "
            f"{self.latency_seconds * 1000:g} ms latency, {skew} over {self.accounts:,} "
            f"Accounts, batch split {self.batch_split}"
        )


def _profile(name: str, why: str, *knobs: Any, **bulk: Any) -> OrgProfile:
    """Knobs in the table's order; ``bulk`` adds further ``BulkProcessingConfig`` overrides."""
    workers, rate, latency_ms, skew, split = knobs
    if split != EMULATOR_DEFAULT_SPLIT:
        bulk = {"batch_split": split, **bulk}
    return OrgProfile(name, why, workers, rate, latency_ms / 1000, skew, bulk=bulk)


#: Scenario B's matrix: workers, rec/s/worker, latency ms, Zipf skew, batch split.
B_PROFILES: tuple[OrgProfile, ...] = (
    _profile(
        "tuned",
        "the model the loader's defaults were tuned on: the control every other profile departs from",
        8, 2_000, 80, 1.0, "aligned",
    ),
    _profile(
        "offset_split",
        "Salesforce promises a batch per 10,000 records, not where the cuts fall: "
        "packing's parent-disjoint bins are cut across two parallel batches",
        8, 2_000, 80, 1.0, "offset",
    ),
    _profile(
        "sized_split",
        "Bulk API also caps a batch at 10,000,000 characters, so wide records are cut before "
        "10,000 where the data says: our ~125-character CSV lines at a 1,000,000-character cap are "
        "cut every ~8,000 records, as rows ~10x wider would be at the documented cap",
        8, 2_000, 80, 1.0, "sized", internal_batch_max_chars=1_000_000,
    ),
    _profile(
        "giant_parent",
        "one Account owns ~38 % of the rows (hundreds of thousands of children at 2M): "
        "the bound is that parent's serial DML, not the org's capacity",
        8, 2_000, 80, 1.5, "aligned",
    ),
    _profile(
        "wide_giant_offset",
        "a 16-worker org with a giant parent and misaligned cuts: the most ways for "
        "parallel batches to meet on one lock",
        16, 2_000, 80, 1.5, "offset",
    ),
    _profile(
        "wide_uniform",
        "a large org, low latency, no skew: contention-free, so only job shape, call count "
        "and keeping 16 workers fed matter",
        16, 2_000, 20, 0.0, "offset",
    ),
    _profile(
        "fast_few",
        "a small org with light DML (no automation) and low latency: polling and per-job "
        "overhead weigh most against the short bound",
        4, 5_000, 20, 1.0, "aligned",
    ),
    _profile(
        "slow_heavy",
        "heavy automation (triggers, flows) and a far region: every 200-record transaction "
        "holds its parent locks 0.4 s, so misaligned cuts cost real lock waits",
        4, 500, 250, 1.0, "offset",
    ),
)  # fmt: skip

#: Scenarios A and C: no simulated processing time, so the client and the emulator's own CPU
#: are all that is measured.
ZERO_COST = OrgProfile(
    "zero_cost",
    "no simulated time or latency: what is left is the client's own CPU and memory",
    8,
    0.0,
    0.0,
    1.0,
)

PROFILES: dict[str, OrgProfile] = {p.name: p for p in (*B_PROFILES, ZERO_COST)}


def profile(name: str) -> OrgProfile:
    """The profile called ``name``; the error lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
