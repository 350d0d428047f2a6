"""Simulated Bulk API 2.0 processing: internal batches, a worker pool, 200-record transactions
and parent-row locks (ENGINEERING.md §3, reference §3.7). See ``emulator/bulk2/README.md``.

Design: one processing thread runs a discrete-event simulation in *simulated* seconds. It plays
``workers`` worker slots fed FIFO by the internal batches of every job. When the clock's
``time_scale`` is > 0 each event waits until its real deadline (``sim * time_scale``), so clients
see jobs progress in scaled real time; at ``time_scale = 0`` the same timeline runs flat out,
so lock contention (which depends only on simulated time) is identical at any scale and a
calibration test can run in a second. Why not one OS thread per worker: lock waits of 10 s
against 0.1 s transactions would then depend on GIL and OS scheduling jitter at small time
scales, and SQLite has one writer anyway.

Transactions lock like a database does: record by record, in the order the records come, each
record needs its parent Account (and, for updates and deletes, the record itself); a lock is
held until the transaction commits. A record whose lock is not granted within
``lock_wait_seconds`` fails with ``UNABLE_TO_LOCK_ROW`` and the transaction goes on with the
rest. Unsorted data acquires parents in different orders in concurrent transactions, which
deadlocks until the lock wait expires; sorted, parent-disjoint jobs never wait. The loss rate
therefore comes out of the data and job shapes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from emulator.bulk2 import jobs as J
from emulator.bulk2.splitting import batch_bounds
from emulator.org import errors as record_errors
from emulator.org.dml import Applied, DmlExecutor, Prepared

if TYPE_CHECKING:
    from emulator.bulk2.config import BulkProcessingConfig
    from emulator.bulk2.jobs import IngestJob
    from emulator.clock import Clock

log = logging.getLogger(__name__)

EXCEEDED_RECORDS = "ExceededQuota : Exceeded max number of records to process in rolling 24 hours"
EXCEEDED_BATCHES = "ExceededQuota : Exceeded max number of batches allowed in rolling 24 hours"
RETRIES_EXHAUSTED = (
    "InternalServerError : Batch processing timed out and was retried more than {n} times; "
    "use a smaller upload file"
)
INJECTED_FAILURE = "InternalServerError : Job failed while processing; unprocessed records remain"


class Quota:
    """What the engine asks of the org's rolling-24 h allocations (``UsageCounters``)."""

    def __init__(self, batches: Callable[[int], int], records: Callable[[int], int]) -> None:
        self.batches = batches
        self.records = records


@dataclass(eq=False)
class _Batch:
    job: IngestJob
    executor: DmlExecutor
    start: int
    end: int
    next_row: int
    started: float = 0.0  # simulated start of the current attempt
    first_started: float = -1.0


class _Txn:
    """One 200-record transaction working through its lock acquisitions."""

    __slots__ = (
        "attempt",
        "batch",
        "first_pos",
        "held",
        "key_rows",
        "lock_errors",
        "order",
        "prepared",
        "progress",
        "size",
        "start_row",
        "step",
        "token",
    )

    def __init__(self, batch: _Batch, start_row: int, size: int, prepared: Prepared) -> None:
        self.batch = batch
        self.start_row = start_row
        self.size = size
        self.prepared = prepared
        self.attempt = 1
        self.lock_errors: dict[int, str] = {}
        self.token = 0
        self.held: list[str] = []
        self.plan_locks()

    def plan_locks(self) -> None:
        """Lock order for the next attempt: first use of each key, skipping failed rows."""
        self.order: list[str] = []
        self.first_pos: list[int] = []
        self.key_rows: dict[str, list[int]] = {}
        skip = self.lock_errors
        for pos, keys in self.prepared.locks:
            if pos in skip:
                continue
            for key in keys:
                rows = self.key_rows.get(key)
                if rows is None:
                    self.key_rows[key] = [pos]
                    self.order.append(key)
                    self.first_pos.append(pos)
                else:
                    rows.append(pos)
        self.step = 0
        self.progress = 0


class ProcessingEngine:
    """The org's Bulk processing capacity. Thread-safe; all DML runs on its own thread."""

    def __init__(self, clock: Clock, config: BulkProcessingConfig, quota: Quota) -> None:
        self.clock = clock
        self.config = config
        self.quota = quota
        self._cv = threading.Condition(threading.RLock())
        self._events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._queue: deque[_Batch] = deque()
        self._free = config.workers
        self._holders: dict[str, _Txn] = {}
        self._waiters: dict[str, deque[_Txn]] = {}
        self._sim = 0.0
        self._scale = clock.time_scale
        self._real0 = time.monotonic()
        self._closed = False
        self._busy = 0  # batches queued or running
        self._listeners: list[Callable[[IngestJob], None]] = []
        self._thread = threading.Thread(target=self._run, name="bulk2-processing", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- public
    @property
    def now(self) -> float:
        """Current simulated time (seconds since the engine started)."""
        with self._cv:
            return self._current()

    def submit(self, job: IngestJob, executor: DmlExecutor) -> None:
        """Queue a closed job: split into internal batches, FIFO behind every other job's."""
        cfg = self.config
        bounds = batch_bounds(
            job.rows,
            mode=cfg.batch_split,
            size=cfg.internal_batch_size,
            job_id=job.id,
            seed=cfg.split_seed,
            max_chars=cfg.internal_batch_max_chars,
        )
        batches = [_Batch(job, executor, start, end, start) for start, end in bounds]
        with self._cv:
            job.batches_total = len(batches)
            self._push(self._current(), self._arrive, job, batches)

    def schedule(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the processing thread ``delay`` simulated seconds from now."""
        with self._cv:
            self._push(self._current() + max(0.0, delay), fn, *args)

    def fail_job(self, job: IngestJob, message: str) -> None:
        """End ``job`` as ``Failed`` with ``message`` (run it on the processing thread via
        ``schedule``); its remaining records become unprocessed."""
        self._fail_job(job, message)

    def add_listener(self, listener: Callable[[IngestJob], None]) -> None:
        """Called on the processing thread whenever a job reaches a terminal state."""
        self._listeners.append(listener)

    def idle(self) -> bool:
        with self._cv:
            return not self._events and self._busy == 0

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued, running or scheduled (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._events or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.05))
            return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=5)

    def reconfigure(self, **changes: Any) -> BulkProcessingConfig:
        """Change processing knobs of a running org (admin API), validated as a whole first.

        The config object is updated in place, so every holder of it (the emulator's config, the
        admin ``/config`` view) sees the change. A new worker count takes effect at once: free
        slots move by the difference, and running batches finish on the slots they hold.
        """
        with self._cv:
            merged = replace(
                self.config, **changes
            )  # validates (BulkProcessingConfig.__post_init__)
            self._free += merged.workers - self.config.workers
            for name in changes:
                setattr(self.config, name, getattr(merged, name))
            # New free slots are filled on the processing thread, where all DML runs.
            self._push(self._current(), self._dispatch)
            return self.config

    def reset(self) -> None:
        """Forget all queued work and locks (admin reset); running jobs are dropped."""
        with self._cv:
            self._events.clear()
            self._queue.clear()
            self._holders.clear()
            self._waiters.clear()
            self._free = self.config.workers
            self._busy = 0
            self._cv.notify_all()

    # ------------------------------------------------------- event loop
    def _sync_scale(self) -> float:
        """The clock's time scale; re-anchors real time if it changed, so simulated time stays
        continuous."""
        scale = self.clock.time_scale
        if scale != self._scale:
            self._scale = scale
            self._real0 = time.monotonic() - self._sim * scale
        return scale

    def _current(self) -> float:
        """Simulated now: the current event's time on the processing thread (so work it
        schedules stays on the simulated timeline even when it runs late), else the clock."""
        if threading.current_thread() is self._thread:
            return self._sim
        scale = self._sync_scale()
        if scale > 0:
            return max(self._sim, (time.monotonic() - self._real0) / scale)
        return self._sim

    def _push(self, at: float, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._events, (at, next(self._seq), fn, args))
        self._cv.notify_all()

    def _run(self) -> None:
        with self._cv:
            while not self._closed:
                if not self._events:
                    self._cv.wait(0.5)
                    continue
                at = self._events[0][0]
                if self._sync_scale() > 0:
                    delay = self._real0 + at * self._scale - time.monotonic()
                    if delay > 0:
                        self._cv.wait(delay)
                        continue
                _, _, fn, args = heapq.heappop(self._events)
                self._sim = max(self._sim, at)
                try:
                    fn(*args)
                except Exception:  # pragma: no cover - a bug must not kill the org
                    log.exception("bulk2 processing event failed")
                self._cv.notify_all()

    # ---------------------------------------------------------- batches
    def _arrive(self, job: IngestJob, batches: list[_Batch]) -> None:
        if not batches:
            self._finish_job(job, J.JOB_COMPLETE)
            return
        self._queue.extend(batches)
        self._busy += len(batches)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._free > 0 and self._queue:
            batch = self._queue.popleft()
            job = batch.job
            if job.deleted or job.state not in (J.UPLOAD_COMPLETE, J.IN_PROGRESS):
                self._busy -= 1
                continue
            if batch.first_started < 0 and self.quota.batches(1) < 1:
                self._fail_job(job, EXCEEDED_BATCHES)
                self._busy -= 1
                continue
            if job.state == J.UPLOAD_COMPLETE:
                with job.lock:
                    job.state = J.IN_PROGRESS
                    job.modified = self.clock.now()
            self._free -= 1
            batch.started = self._sim
            if batch.first_started < 0:
                batch.first_started = self._sim
            self._next_txn(batch)

    def _end_batch(self, batch: _Batch, *, done: bool) -> None:
        job = batch.job
        self._free += 1
        with job.lock:
            job.total_processing_ms += (self._sim - batch.started) * 1000.0
        if done:
            self._busy -= 1
            job.batches_done += 1
            if job.batches_done == job.batches_total and job.state == J.IN_PROGRESS:
                self._finish_job(job, J.JOB_COMPLETE)
        self._dispatch()

    def _next_txn(self, batch: _Batch) -> None:
        """Start the batch's next transaction, or end the batch."""
        cfg = self.config
        job = batch.job
        while True:
            if job.deleted or job.state != J.IN_PROGRESS or batch.next_row >= batch.end:
                self._end_batch(batch, done=True)
                return
            if job.fail_after_records is not None and job.processed >= job.fail_after_records:
                self._fail_job(job, INJECTED_FAILURE)
                continue
            if self._sim - batch.started > cfg.batch_timeout_seconds:
                self._retry_batch(batch)
                return
            start = batch.next_row
            size = min(cfg.transaction_size, batch.end - start)
            granted = self.quota.records(size)
            if granted < size:
                self._fail_job(job, EXCEEDED_RECORDS)
                continue
            prepared = batch.executor.prepare(job.rows[start : start + size])
            if cfg.records_per_second_per_worker <= 0:
                # Zero cost: no time passes, so no lock can be contended; skip the lock plan.
                applied = batch.executor.apply(prepared, fresh=True)
                self._record(job, start, prepared, applied)
                batch.next_row = start + size
                continue
            self._advance(_Txn(batch, start, size, prepared))
            return

    def _retry_batch(self, batch: _Batch) -> None:
        """A batch over the time limit fails and is queued again (reference §3.7)."""
        job = batch.job
        with job.lock:
            job.retries += 1
            exhausted = job.retries > self.config.max_batch_retries
        if exhausted:
            self._fail_job(job, RETRIES_EXHAUSTED.format(n=self.config.max_batch_retries))
            self._end_batch(batch, done=True)
            return
        self._end_batch(batch, done=False)
        self._queue.append(batch)
        self._dispatch()

    # ------------------------------------------------------ transactions
    def _advance(self, txn: _Txn) -> None:
        """Move ``txn`` through its records until it must wait (a lock or simulated work)."""
        rate = self.config.records_per_second_per_worker
        while txn.step < len(txn.order):
            need = txn.first_pos[txn.step]
            if need > txn.progress:
                delay = (need - txn.progress) / rate
                txn.progress = need
                self._push(self._sim + delay, self._acquire, txn)
                return
            if not self._try_lock(txn):
                return
        delay = (txn.size - txn.progress) / rate
        txn.progress = txn.size
        self._push(self._sim + delay, self._commit, txn)

    def _acquire(self, txn: _Txn) -> None:
        if self._try_lock(txn):
            self._advance(txn)

    def _try_lock(self, txn: _Txn) -> bool:
        """Take the current key or start waiting for it; True when the transaction may go on."""
        key = txn.order[txn.step]
        holder = self._holders.get(key)
        if holder is None or holder is txn:
            self._holders[key] = txn
            txn.held.append(key)
            txn.step += 1
            return True
        self._waiters.setdefault(key, deque()).append(txn)
        txn.token += 1
        self._push(self._sim + self.config.lock_wait_seconds, self._timeout, txn, txn.token)
        return False

    def _timeout(self, txn: _Txn, token: int) -> None:
        if txn.token != token:
            return  # granted meanwhile
        key = txn.order[txn.step]
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.remove(txn)
            if not waiters:
                del self._waiters[key]
        txn.token += 1
        # Partial save (allOrNone=false): the rows needing this lock fail, the attempt rolls back
        # and the rest is tried again; after the last attempt every remaining row fails.
        message = str(record_errors.unable_to_lock_row([key]))
        last = txn.attempt >= self.config.partial_save_attempts
        for pos in txn.key_rows[key]:
            txn.lock_errors[pos] = message
        if last:
            for pos, _ in txn.prepared.locks:
                txn.lock_errors.setdefault(pos, message)
            self._commit(txn)
            return
        self._release(txn)
        txn.attempt += 1
        txn.plan_locks()
        self._advance(txn)

    def _release(self, txn: _Txn) -> None:
        for key in txn.held:
            waiters = self._waiters.get(key)
            if not waiters:
                del self._holders[key]
                continue
            nxt = waiters.popleft()
            if not waiters:
                del self._waiters[key]
            self._holders[key] = nxt
            nxt.held.append(key)
            nxt.token += 1  # cancels its pending timeout
            nxt.step += 1
            self._push(self._sim, self._advance, nxt)
        txn.held = []

    def _commit(self, txn: _Txn, chain: bool = True) -> None:
        batch = txn.batch
        job = batch.job
        failed = txn.lock_errors
        applied = batch.executor.apply(txn.prepared, failed)
        self._record(job, txn.start_row, txn.prepared, applied)
        rate = self.config.records_per_second_per_worker
        if rate > 0:
            with job.lock:
                job.api_active_ms += txn.size * txn.attempt / rate * 1000.0
        self._release(txn)
        batch.next_row = txn.start_row + txn.size
        if chain:
            self._next_txn(batch)

    @staticmethod
    def _record(job: IngestJob, offset: int, prepared: Prepared, applied: Applied) -> None:
        """Store one transaction's outcomes on the job under job-relative row numbers."""
        errors = applied.errors
        error_ids = (
            {offset + pos: rid for pos, _, rid, _ in prepared.actions if rid and pos in errors}
            if errors
            else None
        )
        job.record(
            offset,
            applied.successes,
            {offset + pos: err for pos, err in errors.items()},
            error_ids,
        )

    # -------------------------------------------------------------- jobs
    def _fail_job(self, job: IngestJob, message: str) -> None:
        if job.state in J.TERMINAL:
            return
        with job.lock:
            job.error_message = message
        self._finish_job(job, J.FAILED)

    def _finish_job(self, job: IngestJob, state: str) -> None:
        with job.lock:
            if job.state not in J.TERMINAL:
                job.state = state
                job.modified = self.clock.now()
        for listener in list(self._listeners):
            try:
                listener(job)
            except Exception:  # pragma: no cover - listeners are tests/benchmarks
                log.exception("bulk2 job listener failed")
