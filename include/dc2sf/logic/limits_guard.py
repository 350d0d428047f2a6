"""Daily-allowance guard: will the org's remaining API requests and Bulk batches cover the load?

Why: a load that runs the org out of ``DailyApiRequests`` stops every other integration of the
org with ``REQUEST_LIMIT_EXCEEDED``, and one that runs out of ``DailyBulkApiBatches`` (15,000
internal batches per rolling 24 h, shared by Bulk 1.0 and 2.0) fails mid-way. Both are rolling
24-hour windows read from ``GET /services/data/vXX.X/limits/`` (``{"Max": n, "Remaining": n}``).

Estimate (deliberately pessimistic, so the guard errs on the safe side):

* jobs = Σ over partitions of ceil(rows / records_per_job), times ``packing_slack`` (jobs grouped by
  parent are not all full) plus the expected retry jobs (``retry_fraction`` of the jobs);
* Bulk batches = jobs × ceil(records_per_job / 10,000) (each internal batch holds ≤ 10,000 records);
* API requests = jobs × ``api_calls_per_job`` (create, upload, close, polls, failed results,
  unprocessed results) + pages × ``api_calls_per_page`` for the Data Cloud side when it shares
  the allowance (it does not by default: Data Cloud queries have their own limits).

A reserve (default 10 % of each Max) is never planned into: other integrations need it.

Verdicts: before a load, ``GO`` or ``REFUSE`` (with how short it is and whether it fits after the
window refills); during a load, ``GO`` or ``PAUSE`` when the next in-flight window no longer fits,
so the operator waits for the rolling window instead of failing mid-job.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

BULK_RECORDS_PER_INTERNAL_BATCH = 10_000


class Verdict(enum.Enum):
    GO = "go"
    PAUSE = "pause"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Allowance:
    maximum: int
    remaining: int


def read_allowance(limits: Mapping[str, Any], name: str) -> Allowance | None:
    """``limits[name]`` as an :class:`Allowance`, or ``None`` when the org does not report it."""
    entry = limits.get(name)
    if not isinstance(entry, Mapping):
        return None
    maximum, remaining = entry.get("Max"), entry.get("Remaining")
    if not isinstance(maximum, int) or not isinstance(remaining, int) or isinstance(maximum, bool):
        raise ValueError(
            f"/limits entry {name!r} must hold integer Max and Remaining, got {dict(entry)!r}"
        )
    return Allowance(maximum=maximum, remaining=max(0, remaining))


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What the load still has to do (the whole plan before start, the rest during the load)."""

    rows: int
    records_per_job: int = 10_000
    partitions: int = 1
    api_calls_per_job: int = 8
    page_size: int = 10_000
    api_calls_per_page: int = 0
    packing_slack: float = 1.1
    retry_fraction: float = 0.1
    max_in_flight: int = 5

    def __post_init__(self) -> None:
        if self.rows < 0 or self.partitions < 1 or self.records_per_job < 1 or self.page_size < 1:
            raise ValueError("plan: rows must be >= 0; partitions, records_per_job, page_size >= 1")
        if self.packing_slack < 1 or self.retry_fraction < 0 or self.max_in_flight < 1:
            raise ValueError("plan: packing_slack >= 1, retry_fraction >= 0, max_in_flight >= 1")

    @property
    def jobs(self) -> int:
        per_partition_rows = math.ceil(self.rows / self.partitions)
        full_jobs = self.partitions * math.ceil(per_partition_rows / self.records_per_job)
        # round() first: 200 x 1.1 x 1.1 is 242.00000000000003 in floating point, not 243 jobs.
        return math.ceil(round(full_jobs * self.packing_slack * (1 + self.retry_fraction), 6))

    @property
    def bulk_batches(self) -> int:
        return self.jobs * math.ceil(self.records_per_job / BULK_RECORDS_PER_INTERNAL_BATCH)

    @property
    def api_requests(self) -> int:
        pages = self.partitions * math.ceil(math.ceil(self.rows / self.partitions) / self.page_size)
        return self.jobs * self.api_calls_per_job + pages * self.api_calls_per_page

    def window(self) -> LoadPlan:
        """The next in-flight window alone: what must fit to keep going for now."""
        return replace(
            self, rows=min(self.rows, self.records_per_job * self.max_in_flight * self.partitions)
        )


@dataclass(frozen=True, slots=True)
class GuardDecision:
    verdict: Verdict
    message: str
    needed: dict[str, int]
    usable: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "message": self.message,
            "needed": self.needed,
            "usable": self.usable,
        }


_CHECKS = (
    ("DailyBulkApiBatches", "Bulk batches", "bulk_batches"),
    ("DailyApiRequests", "API requests", "api_requests"),
)


def check_allowance(
    limits: Mapping[str, Any],
    plan: LoadPlan,
    *,
    during_load: bool = False,
    reserve_fraction: float = 0.1,
) -> GuardDecision:
    """Decide go / pause / refuse for ``plan`` against the ``/limits`` payload ``limits``."""
    if not 0 <= reserve_fraction < 1:
        raise ValueError("reserve_fraction must be from 0 to below 1")
    target = plan.window() if during_load else plan
    needed: dict[str, int] = {}
    usable: dict[str, int] = {}
    shortfalls: list[str] = []
    never_fits: list[str] = []
    unknown: list[str] = []
    for limit_name, label, attribute in _CHECKS:
        allowance = read_allowance(limits, limit_name)
        if allowance is None:
            unknown.append(limit_name)
            continue
        reserve = math.ceil(allowance.maximum * reserve_fraction)
        need = getattr(target, attribute)
        can_use = max(0, allowance.remaining - reserve)
        needed[limit_name], usable[limit_name] = need, can_use
        if need > can_use:
            shortfalls.append(
                f"{label}: needs ~{need:,}, {can_use:,} usable "
                f"({allowance.remaining:,} remaining of {allowance.maximum:,}, {reserve:,} kept in reserve)"
            )
            if need > allowance.maximum - reserve:
                never_fits.append(label)
    note = f" ({', '.join(unknown)} not reported by the org: not checked)" if unknown else ""
    if not shortfalls:
        scope = (
            "the next in-flight window"
            if during_load
            else f"the plan ({plan.rows:,} rows, ~{plan.jobs:,} jobs)"
        )
        return GuardDecision(Verdict.GO, f"daily allowance covers {scope}{note}", needed, usable)
    detail = "; ".join(shortfalls)
    if during_load:
        return GuardDecision(
            Verdict.PAUSE,
            f"pausing: the daily allowance no longer covers the next in-flight window. {detail}. "
            "The load resumes when the rolling 24 h window frees enough; no action needed unless "
            f"other integrations are starving{note}",
            needed,
            usable,
        )
    if never_fits:
        advice = (
            f"the plan exceeds even a full day's allowance for {', '.join(never_fits)}: split the load "
            "over several days (fewer partitions per run), or raise records_per_job toward 10,000"
        )
    else:
        advice = (
            "it would fit a full allowance: start later, when the rolling 24 h window has refilled"
        )
    return GuardDecision(
        Verdict.REFUSE, f"refusing to start: {detail}. {advice}{note}", needed, usable
    )
