"""One measured run and the figures derived from it.

Why the rules below: a headline number must come from a run that finished. A run stopped at
its budget keeps what the org processed (``share_processed``) and a linear projection, and both
are only ever shown as a marked footnote. Every per-1M figure divides what the *org* counted by
the rows of a *completed* run, so a contender is never charged per record it did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.profiles import OrgProfile

#: What the org counted (``EmulatorProcess.org_usage``), each reported per 1M rows loaded.
PER_MILLION = {
    "api_requests": "api_requests_per_1m",
    "bulk_batches": "bulk_batches_per_1m",
    "bulk_jobs": "bulk_jobs_per_1m",
    "logins": "logins_per_1m",
    "token_exchanges": "token_exchanges_per_1m",
    "datacloud_queries": "datacloud_queries_per_1m",
}


@dataclass
class Run:
    """One contender on one profile and data size: what the client said plus what the org saw."""

    scenario: str
    profile: str
    contender: str
    rows: int
    repeat: int
    client: dict[str, Any]
    org: dict[str, Any]
    landed: dict[str, int]
    seed_seconds: float
    largest_parent: int
    time_scale: float
    measured_at: str
    derived: dict[str, Any] = field(default_factory=dict)


def derive(run: Run, profile: OrgProfile) -> dict[str, Any]:
    """Per-run figures: rates, per-record and per-1M-row costs, simulated wall vs the bound."""
    rows = run.landed["source_rows"] or run.rows
    client, org = run.client, run.org
    bound = profile.bound_seconds(rows, run.largest_parent)
    derived: dict[str, Any] = {
        "completed": bool(client.get("completed", True)),
        "bound_seconds": bound,
        "largest_parent": run.largest_parent,
        "emulator_cpu_share_of_wall": org["emulator_cpu_seconds"] / client["wall_seconds"]
        if client["wall_seconds"]
        else None,
        # Worker time busy but not doing DML: waiting for row locks (clamped: the two sums are
        # rounded to whole ms per job, so a lock-free run can come out a hair below zero).
        "lock_wait_share_of_worker_time": max(
            0.0, 1 - org["worker_ms_dml"] / org["worker_ms_total"]
        )
        if org["worker_ms_total"]
        else None,
    }
    if not derived["completed"]:
        return {**derived, **_not_finished(run, rows)}
    wall = client["wall_seconds"]
    cpu = client.get("cpu_seconds")
    derived.update(
        {
            "wall_seconds": wall,
            "cpu_us_per_record": cpu / rows * 1e6 if cpu is not None else None,
            "rows_per_second": rows / wall,
            "first_pass_success": 1 - client["first_pass_failed"] / rows,
            "final_success": (rows - run.landed["lost"]) / rows,
            "lost": run.landed["lost"],
            "duplicated": run.landed["duplicated"],
            "client_calls_per_1m": client["client_calls"] / rows * 1e6
            if client.get("client_calls")
            else None,
            **{per: org.get(count, 0) / rows * 1e6 for count, per in PER_MILLION.items()},
        }
    )
    if bound is not None and run.time_scale > 0:
        simulated = wall / run.time_scale
        derived.update({"simulated_wall_seconds": simulated, "wall_over_bound": simulated / bound})
    return derived


def _not_finished(run: Run, rows: int) -> dict[str, Any]:
    """A run stopped at its budget: the share the org processed and a footnote projection.

    The projection is linear in the records the org processed (succeeded or failed) after the
    read phase (the time before the first Bulk job: simple-salesforce reads its whole partition
    first). It is never a headline figure.
    """
    processed = int(run.org["job_records_processed"])
    elapsed = float(run.client["wall_seconds"])
    first = run.org.get("first_job_created")
    started = float(run.client["started_epoch"])
    read_phase = min(max(first - started, 0.0), elapsed) if first else 0.0
    share = processed / rows
    projected = read_phase + (elapsed - read_phase) / share if share > 0 else None
    return {
        "stopped_after_seconds": elapsed,
        "share_processed": share,
        "projected_wall_seconds": projected,
    }
