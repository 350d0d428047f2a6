"""The loader's side of the split check: settled jobs in, a safer job shape out.

The rule lives in ``include/dc2sf/logic/job_shape.py``; this module keeps its state where a load
keeps everything, in the checkpoint, so the evidence adds up across tries and deferrals (a
deferred load is a new loader at every resume), and a fallen-back shape stays fallen back:

* ``checkpoint["split_suspects"]``: suspect jobs seen so far (at most one before it trips);
* ``checkpoint["chunk"]["shared_parent_jobs"]``: jobs that ran beside a job of this load on a
  parent (never, with ``choose_next_job``; recorded, not assumed);
* ``checkpoint["job_shape"]``: the fallen-back shape and its reason, once decided.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.logic.job_shape import (
    JobLockEvidence,
    JobShape,
    SplitGuard,
    batches_spanned,
    safe_shape,
)
from include.dc2sf.logic.packing import Job

log = logging.getLogger(__name__)


class ShapeGuard:
    """Decides, once per load, whether to fall back to single-batch jobs."""

    def __init__(self, config: LoadConfig, checkpoint: dict[str, Any]) -> None:
        self.cp = checkpoint
        self.guard: SplitGuard | None = None
        if not self.cp.get("job_shape") and (
            config.group_by_parent and config.records_per_job > config.internal_batch_size
        ):
            self.guard = SplitGuard(
                suspects=[JobLockEvidence(**e) for e in self.cp.get("split_suspects", [])]
            )

    def shaped(self, config: LoadConfig) -> LoadConfig:
        """``config`` with the fallen-back job shape, if the load has one."""
        shape = self.cp.get("job_shape")
        if not shape:
            return config
        return replace(
            config,
            records_per_job=int(shape["records_per_job"]),
            max_in_flight=int(shape["max_in_flight"]),
        )

    def note_submitted(
        self, job_id: str, job: Job[Any], running: Sequence[Job[Any]], submitted: dict[str, str]
    ) -> None:
        """Record the jobs of this load that ran beside ``job`` on a parent (its premise)."""
        shared = [submitted[str(other.number)] for other in running if job.conflicts_with(other)]
        if shared:
            self.cp["chunk"].setdefault("shared_parent_jobs", []).extend([job_id, *shared])

    def settled(self, config: LoadConfig, job_id: str, counts: dict[str, int]) -> bool:
        """Feed a settled job; True when the load has just fallen back (logged once, with why).

        ``counts`` are the loader's: ``processed``, ``unprocessed`` and ``row_locks``.
        """
        if self.guard is None:
            return False
        records = counts["processed"] + counts["unprocessed"]
        chunk = self.cp["chunk"] or {}
        evidence = JobLockEvidence(
            job_id=job_id,
            records=records,
            row_lock_failures=counts["row_locks"],
            batches=batches_spanned(records, config.internal_batch_size),
            shared_parent=job_id in chunk.get("shared_parent_jobs", ()),
        )
        reason = self.guard.observe(evidence)
        if reason is None:
            if evidence.suspect:
                self.cp["split_suspects"] = [asdict(e) for e in self.guard.suspects]
            return False
        shape = safe_shape(
            JobShape(config.records_per_job, config.max_in_flight), config.internal_batch_size
        )
        self.cp["job_shape"] = {
            "records_per_job": shape.records_per_job,
            "max_in_flight": shape.max_in_flight,
            "reason": reason,
            "since_chunk": chunk.get("index", self.cp["chunks_done"]),
        }
        self.cp.pop("split_suspects", None)
        self.guard = None
        log.warning(
            "Partition %s falls back to jobs of at most %d records, %d in flight, from the next "
            "round on (the checkpoint keeps this shape for later tries): %s",
            config.partition,
            shape.records_per_job,
            shape.max_in_flight,
            reason,
        )
        return True

    def view(self, config: LoadConfig) -> dict[str, Any]:
        """The job shape in use, and why, for the progress XCom (``fallback`` names the reason)."""
        fallen = self.cp.get("job_shape")
        return {
            "records_per_job": config.records_per_job,
            "max_in_flight": config.max_in_flight,
            "fallback": fallen["reason"] if fallen else None,
        }
