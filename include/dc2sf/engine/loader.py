"""PartitionLoader: one partition, read in chunks, loaded in rounds of Bulk 2.0 jobs.

A *chunk* is a contiguous key interval `(after, through]` of the source, read with keyset pages
until it holds `records_per_job × max_in_flight` rows (or the range ends). Its rows are packed by
parent into jobs (round 1). Records that fail with a retryable error (row locks) are re-sent in
further rounds after a backoff, packed by parent again; when the retry budget is spent, one serial
sweep (one job at a time) gets a last chance; what still fails is dead-lettered with its error.
When every row of the chunk is loaded or dead-lettered, the watermark moves to `through` and the
chunk's counts join the totals: the pipeline README.md's "What runs" describes.

Why rounds are re-derivable instead of held in memory: the checkpoint (task state store, ≤ 64 KB)
keeps only ids and counts. A round's input is either the chunk's key interval (re-read from the
source) or the `failedResults`/`unprocessedrecords` of the previous round's jobs (kept by
Salesforce for 7 days). So a new try after a crash, or the operator resuming after a deferral,
rebuilds exactly the same state from Salesforce's own record of what happened: jobs in flight are
re-attached, never re-sent, and counts stay exact because a round's counts are recomputed from
job info, on top of the counts frozen when the round started.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from simple_salesforce.exceptions import SalesforceResourceNotFound

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.dead_letters import DeadLetter, DeadLetterWriter
from include.dc2sf.engine.errors import PermanentLoadError, SourceUnfit
from include.dc2sf.engine.limits import DailyAllowanceExceeded, check_daily_allowance, plan_for
from include.dc2sf.engine.outcomes import Continue, Done, Outcome, Wait
from include.dc2sf.engine.shape_guard import ShapeGuard
from include.dc2sf.engine.target_fit import checked_config
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import (
    TERMINAL_JOB_STATES,
    SalesforceBulk2Hook,
    ended_in_submission_order,
)
from include.dc2sf.logic.adaptive import AdaptiveInFlightLimit
from include.dc2sf.logic.backoff import BackoffPolicy
from include.dc2sf.logic.classification import RecordVerdict, classify_record_error
from include.dc2sf.logic.job_shape import batches_spanned
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.keyset_sql import build_count_query, build_page_query
from include.dc2sf.logic.mapping import MappedRecord, SourcePage, csv_line, render_bulk_lines
from include.dc2sf.logic.packing import Job, choose_next_job, pack_jobs, split_wide_jobs
from include.dc2sf.logic.progress import Progress

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "checkpoint"
CHECKPOINT_VERSION = 1
MAX_LISTED_FILES = 5
#: Fractional part of the golden ratio: spreads partitions' phases evenly for any partition count.
_GOLDEN = 0.6180339887498949
#: Re-read /limits before every this many chunks (and before the first).
LIMITS_CHECK_EVERY_CHUNKS = 10
LIMITS_PAUSE_SECONDS = 900.0
EARLY_STOP_MIN_ROWS = 10_000
EARLY_STOP_SHARE = 0.10
COUNTERS = ("processed", "succeeded", "failed", "retried", "dead_lettered", "jobs")


class CheckpointStore(Protocol):
    """The subset of Airflow's task state store the loader uses (a dict works in tests)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class RetryRecord(NamedTuple):
    """A record to send again, with the error it last failed with (kept for the dead letter)."""

    key: str
    parent: str | None
    values: tuple[str, ...]
    error: str

    @property
    def line(self) -> str:
        """Its Bulk CSV line (as `MappedRecord.line`): retried records are few, built on send."""
        return csv_line(self.values)


class LoadIntegrityError(RuntimeError):
    """Rows of a chunk are unaccounted for: neither loaded nor dead-lettered. Never ignored."""


class CheckpointMismatch(PermanentLoadError, ValueError):
    """The stored checkpoint belongs to a different range or target: refusing to resume from it.

    Permanent: every try reads the same checkpoint; the fix is to clear the task's state store.
    """


class TooManyFailures(PermanentLoadError, RuntimeError):
    """The share of dead-lettered rows exceeds the failure threshold.

    Permanent: the dead-lettered rows are settled, so a retry resumes past them and ends with
    the same share; the fix is in the data or the mapping, then a new run for the range.
    """


@dataclass
class _Round:
    """The current round, rebuilt in memory from the checkpoint when needed."""

    jobs: list[Job[MappedRecord | RetryRecord]] | None = None
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry_input: dict[str, list[RetryRecord]] = field(default_factory=dict)
    dead: dict[str, list[DeadLetter]] = field(default_factory=dict)


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


class PartitionLoader:
    """Loads one partition step by step; see the module docstring for the model."""

    def __init__(
        self,
        config: LoadConfig,
        *,
        salesforce: SalesforceBulk2Hook,
        datacloud: DataCloudHook,
        store: CheckpointStore,
        dead_letters: DeadLetterWriter,
        publish: Callable[[dict[str, Any]], None] = lambda progress: None,
        clock: Callable[[], float] = time.time,
        check_limits: bool = True,
    ) -> None:
        self.config = config
        self.sf = salesforce
        self.dc = datacloud
        self.store = store
        self.dead_letters = dead_letters
        self.publish = publish
        self.clock = clock
        self.check_limits = check_limits
        self.adaptive = (
            AdaptiveInFlightLimit(config.max_in_flight) if config.adaptive_in_flight else None
        )
        self.cp = self._load_checkpoint()
        self.shape = ShapeGuard(config, self.cp)
        if self.cp.get("job_shape"):
            self._apply_shape()
        self._round = _Round()
        self._page_columns: tuple[str, ...] = ()
        self._polled: set[str] = set()
        self._known_infos: dict[str, dict[str, Any]] = {}
        #: Submitted jobs Salesforce answers 404 for (lost in an outage, or deleted).
        self._vanished: set[str] = set()
        self._api_calls_base = int(self.cp["api_calls"])
        self._calls_at_start = self._calls_now()
        #: Whether this instance has checked the mapping against the target's describe yet.
        self._fitted = False

    # -- checkpoint ---------------------------------------------------------------------------------

    def _load_checkpoint(self) -> dict[str, Any]:
        stored = self.store.get(CHECKPOINT_KEY, None)
        fingerprint = self.config.fingerprint()
        if not stored:
            return {
                "version": CHECKPOINT_VERSION,
                "fingerprint": fingerprint,
                "watermark": None,
                "exhausted": False,
                "totals": _zero(),
                "chunk": None,
                "chunks_done": 0,
                "api_calls": 0,
                "started_at": self.clock(),
                "dead_letter_files": [],
            }
        if stored.get("version") != CHECKPOINT_VERSION:
            raise CheckpointMismatch(
                f"checkpoint version {stored.get('version')} is not {CHECKPOINT_VERSION}; "
                "clear the task's state store to start the partition over"
            )
        if stored.get("fingerprint") != fingerprint:
            raise CheckpointMismatch(
                f"partition {self.config.partition}: the stored checkpoint was made for "
                f"{stored.get('fingerprint')} but this run loads {fingerprint}; clear the task's "
                "state store (REST: DELETE .../taskInstances/partition.load/state-store?map_index=N) "
                "to start the partition over"
            )
        log.info("%s", resume_summary(self.config.partition, stored))
        return stored

    def _calls_now(self) -> int:
        return self.sf.counter.calls + (
            self.dc.counter.calls if self.dc.counter is not self.sf.counter else 0
        )

    def _save(self) -> None:
        self.cp["api_calls"] = self._api_calls_base + self._calls_now() - self._calls_at_start
        self.store.set(CHECKPOINT_KEY, self.cp)

    # -- driving ------------------------------------------------------------------------------------

    def note_job_infos(self, infos: Iterable[dict[str, Any]]) -> None:
        """Job infos the driver already fetched while waiting (saves one call per job)."""
        for info in infos:
            self._known_infos[info["id"]] = info

    def note_deferral(self) -> None:
        """The driver is about to hand the wait to a trigger: count it and persist the state."""
        self.cp["deferrals"] = int(self.cp.get("deferrals", 0)) + 1
        self._save()

    def run_blocking(self, sleep: Callable[[float], None] = time.sleep) -> Done:
        """Drive the loader to the end in this process, polling Salesforce while it waits."""
        while True:
            outcome = self.step()
            if isinstance(outcome, Done):
                return outcome
            if isinstance(outcome, Wait):
                self.wait(outcome, sleep)

    def wait(
        self,
        outcome: Wait,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
    ) -> bool:
        """Wait in this process until a job of `outcome` finishes; False if `timeout` ran out first."""
        deadline = None if timeout is None else self.clock() + timeout
        if outcome.not_before is not None:
            delay = outcome.not_before - self.clock()
            if deadline is not None and outcome.not_before > deadline:
                return False
            if delay > 0:
                sleep(delay)
        if not outcome.job_ids:
            return True
        while True:
            ended = ended_in_submission_order(outcome.job_ids, self._job_info_or_none)
            if ended is None:
                return True  # vanished: step() restarts the chunk
            if ended:
                self.note_job_infos(ended)
                return True
            if deadline is not None and self.clock() + self.config.poll_interval_seconds > deadline:
                return False
            sleep(self.config.poll_interval_seconds)

    def step(self) -> Outcome:
        """Do everything possible without waiting, then say what to wait for."""
        if not self._fitted:
            # Once per try, before the first row is read: a mapping that no longer fits fails
            # here (permanently), and text limits become the target fields' lengths.
            self.config = checked_config(self.config, self.sf)
            self._fitted = True
        if self.cp["chunk"] is None:
            if self.cp["exhausted"]:
                return self._finish()
            if self.check_limits and self.cp["chunks_done"] % LIMITS_CHECK_EVERY_CHUNKS == 0:
                paused = self._allowance_pause()
                if paused is not None:
                    return paused
            self._start_chunk()
            return Continue()
        return self._advance_round()

    def _allowance_pause(self) -> Wait | None:
        """Pause (wait, then re-check) while the org's daily allowance cannot cover the next window."""
        try:
            check_daily_allowance(
                self.sf, plan_for(self.config, rows=self.config.chunk_size), during_load=True
            )
        except DailyAllowanceExceeded as exc:
            log.warning(
                "Partition %s pauses for %.0f s: %s",
                self.config.partition,
                LIMITS_PAUSE_SECONDS,
                exc,
            )
            self._publish("paused")
            return Wait((), self.clock() + LIMITS_PAUSE_SECONDS)
        return None

    # -- chunks ------------------------------------------------------------------------------------

    def _read(
        self, after: str | None, through: str | None, limit: int
    ) -> Iterator[tuple[list[MappedRecord], list[Any], str, bool]]:
        """Keyset pages after `after`, up to `limit` rows: (records, rejected rows, last key, more).

        `more` is False once the range is exhausted. A full page that ends inside a key's rows is
        cut before that key and ends the read, so the next read starts with all of its rows.
        """
        cfg = self.config
        spec = cfg.mapping
        key_range = cfg.key_range if through is None else _bounded(cfg.key_range, through)
        remaining = limit
        last = after
        while remaining > 0:
            asked = min(cfg.page_size, remaining)
            sql = build_page_query(
                dmo=cfg.source_dmo,
                columns=spec.source_columns,
                key_column=spec.key_column,
                key_range=key_range,
                after_key=last,
                limit=asked,
            )
            rows: list[tuple[Any, ...]] = []
            columns: tuple[str, ...] = ()
            for batch in self.dc.query(sql):
                columns = batch.column_names or columns
                rows.extend(batch.rows)
            if not rows:
                return
            full = len(rows) == asked
            trimmed = False
            if full:
                key_index = columns.index(spec.key_column)
                group = _trailing_key_group_size(rows, key_index)
                last_key = rows[-1][key_index]
                if self._rows_with_key(last_key) > group:
                    # The page ends inside a key's rows; the next page would skip the rest.
                    if group == len(rows):
                        if asked == cfg.page_size or remaining == limit:
                            raise SourceUnfit(
                                f"all {len(rows)} rows of a page share the key {last_key!r}: raise "
                                "page_size above the largest number of rows per key, or make the "
                                "key unique in the source"
                            )
                        return  # the next chunk reads that key's rows whole
                    rows = rows[: len(rows) - group]
                    trimmed = True
            page = spec.apply(SourcePage(columns=columns, rows=rows))
            self._page_columns = columns
            last = page.last_key
            assert last is not None
            remaining -= len(rows)
            # The decoded rows are not needed once mapped (rejected rows keep their own copy):
            # free them before the caller reads the next page, not after.
            del rows, batch
            yield page.records, page.rejected, last, full
            if not full or trimmed:
                return

    def _rows_with_key(self, key: str) -> int:
        """How many source rows carry `key` (one cheap query per full page, on an indexed key)."""
        cfg = self.config
        sql = build_count_query(
            dmo=cfg.source_dmo,
            key_column=cfg.mapping.key_column,
            key_range=KeyRange(start=key, end=key, start_inclusive=True),
        )
        return int(self.dc.scalar(sql) or 0)

    def _read_chunk(
        self, after: str | None, through: str | None, limit: int
    ) -> tuple[list[MappedRecord], list[DeadLetter], str | None, int, bool]:
        """One chunk: records to send, rows refused before load, the last key, rows read, and
        whether the range has more rows after it.

        Rows sharing a key are all refused: which one is right is the source's call, and sending
        them would make one silently overwrite the other. Keyset pages never split a key's rows
        (see `_read`), so a chunk always holds every row of its keys.
        """
        records: list[MappedRecord] = []
        rejected: list[DeadLetter] = []
        last_key: str | None = None
        rows_read = 0
        more = False
        for page_records, page_rejected, last, page_was_full in self._read(after, through, limit):
            more = page_was_full
            records.extend(page_records)
            rejected.extend(
                DeadLetter(
                    row.key,
                    f"REJECTED_BEFORE_LOAD:{row.field}: {row.reason}",
                    self._raw_values(row.row),
                )
                for row in page_rejected
            )
            rows_read += len(page_records) + len(page_rejected)
            last_key = last
        if not rejected and _keys_strictly_increasing(records):
            # The usual case, checked without building an 80,000-entry count of keys at the
            # moment the whole chunk is in memory: pages arrive in key order, so distinct keys
            # are increasing. Anything else (rejected rows, another collation) is counted.
            return records, rejected, last_key, rows_read, more
        counts: dict[str, int] = {}
        for key in [r.key for r in records] + [d.key for d in rejected]:
            counts[key] = counts.get(key, 0) + 1
        duplicated = {key for key, count in counts.items() if count > 1}
        if duplicated:
            reason = "DUPLICATE_SOURCE_KEY: {} source rows share this key; keep one in the source"
            rejected = [
                DeadLetter(d.key, reason.format(counts[d.key]), d.values)
                if d.key in duplicated
                else d
                for d in rejected
            ]
            rejected.extend(
                DeadLetter(r.key, reason.format(counts[r.key]), r.values)
                for r in records
                if r.key in duplicated
            )
            records = [r for r in records if r.key not in duplicated]
        return records, rejected, last_key, rows_read, more

    def _start_chunk(self) -> None:
        after = self.cp["watermark"]
        records, rejected, through, rows_read, more = self._read_chunk(
            after, None, self._chunk_limit()
        )
        if through is None:
            self.cp["exhausted"] = True
            self._save()
            return
        if not more:
            self.cp["exhausted"] = True
        index = self.cp["chunks_done"]
        self.dead_letters.clear_chunk(index)
        file = self.dead_letters.write(index, 0, rejected)
        chunk_totals = _zero()
        chunk_totals["processed"] = rows_read
        chunk_totals["dead_lettered"] = len(rejected)
        self.cp["chunk"] = {
            "index": index,
            "after": after,
            "through": through,
            "rows": rows_read,
            "round": 1,
            "kind": "source",
            "source_jobs": [],
            "jobs": {},
            "planned_jobs": None,
            "not_before": None,
            "totals": chunk_totals,
            "retry_rounds": 0,
            "files": [file] if file else [],
            "records_per_job": self.config.records_per_job,
        }
        self._round = _Round(jobs=self._pack(records))
        self.cp["chunk"]["planned_jobs"] = len(self._round.jobs or [])
        self._save()
        self._publish("running")

    def _chunk_limit(self) -> int:
        """Rows to read for the next chunk: a full chunk, except a fresh partition's first one.

        Why: partitions started together with equal shares would otherwise reach every chunk
        barrier (read the next chunk once the current one has settled) at the same moment, and
        the org's queue would run dry each time. A first chunk of a different share for each
        partition (1 for partition 0, then spread by the golden ratio over 0.25-1) keeps their
        barriers out of phase, so the others' queued batches cover each one's gap; a smaller
        first chunk also gets the first job out sooner.
        """
        size = self.config.chunk_size
        if self.cp["chunks_done"] or self.cp["watermark"] is not None:
            return size
        share = 1.0 - 0.75 * self._phase()
        return max(1, int(size * share))

    def _phase(self) -> float:
        """This partition's phase in [0, 1): where it starts in the parent order, and how short its
        first chunk is, so partitions started together do not move in step."""
        return (self.config.partition * _GOLDEN) % 1.0

    def _raw_values(self, row: Sequence[Any]) -> tuple[str, ...]:
        """A rejected source row in the dead letter's column order (target fields), unconverted."""
        positions = {name: index for index, name in enumerate(self._page_columns)}
        return tuple(
            _text(row[positions[m.source]]) if m.source is not None else _text(m.constant)
            for m in self.config.mapping.fields
        )

    def _pack(
        self, records: Sequence[MappedRecord | RetryRecord]
    ) -> list[Job[MappedRecord | RetryRecord]]:
        """Jobs for a round. Grouped by parent (the default), or the seed's way: key order.

        The job size is the one the round started with (kept in the checkpoint), so a round
        rebuilt by a later try numbers its jobs as the try that submitted them did, even if the
        load changed its job shape meanwhile.
        """
        if not records:
            return []
        size = int(self.cp["chunk"].get("records_per_job") or self.config.records_per_job)
        if self.config.group_by_parent:
            batch_size = self.config.internal_batch_size
            jobs = pack_jobs(records, size, batch_size=batch_size)
            # A job meant to be one batch must also fit one batch's characters.
            jobs = split_wide_jobs(
                jobs, self.config.internal_batch_max_chars, _line_chars, batch_size=batch_size
            )
            # Partitions run at once over the same parents (key ranges are not parent ranges).
            # Starting each partition at a different point of the parent order keeps them on
            # different Accounts at any moment instead of queueing for the same locks.
            # choose_next_job still keeps the parts of a split parent in order.
            offset = int(len(jobs) * self._phase())
            return jobs[offset:] + jobs[:offset]
        return [
            Job(number, tuple(records[start : start + size]), frozenset())
            for number, start in enumerate(range(0, len(records), size))
        ]

    def _round_jobs(self) -> list[Job[MappedRecord | RetryRecord]]:
        """This round's packed jobs, rebuilt from the source or the previous round when needed."""
        if self._round.jobs is not None:
            return self._round.jobs
        chunk = self.cp["chunk"]
        records: list[MappedRecord | RetryRecord]
        if chunk["kind"] == "source":
            records = self._read_chunk(chunk["after"], chunk["through"], chunk["rows"])[0]
        else:
            records = []
            for job_id in chunk["source_jobs"]:
                records.extend(self._retryable_records(job_id))
        jobs = self._pack(records)
        self._round.jobs = jobs
        return jobs

    # -- rounds ------------------------------------------------------------------------------------

    def _limit(self) -> int:
        chunk = self.cp["chunk"]
        if chunk["kind"] == "sweep":
            return 1
        limit = self.adaptive.limit if self.adaptive else self.config.max_in_flight
        # A round packed before a fall back to single-batch jobs keeps its bigger jobs: admit as
        # many as fill the same internal batches, not as many as the new shape's small jobs.
        batch_size = self.config.internal_batch_size
        round_batches = batches_spanned(
            int(chunk.get("records_per_job") or self.config.records_per_job), batch_size
        )
        shape_batches = batches_spanned(self.config.records_per_job, batch_size)
        if round_batches > shape_batches:
            limit = max(1, limit * shape_batches // round_batches)
        return limit

    def _advance_round(self) -> Outcome:
        chunk = self.cp["chunk"]
        submitted: dict[str, str] = chunk["jobs"]  # job number (as text) → Bulk job id
        for job_id in submitted.values():
            if job_id not in self._round.settled:
                info = self._known_infos.pop(job_id, None)
                if info is None and job_id not in self._polled:
                    # A loader rebuilt after a crash or a deferral knows nothing of jobs an
                    # earlier instance already watched finish: ask once, then rely on the driver.
                    info = self._job_info_or_none(job_id)
                self._polled.add(job_id)
                if job_id in self._vanished:
                    return self._restart_chunk(job_id)
                if info is not None and info["state"] in TERMINAL_JOB_STATES:
                    self._settle_job(job_id, info)
        in_flight = [j for j in submitted.values() if j not in self._round.settled]
        planned = chunk["planned_jobs"]
        if planned is None or len(submitted) < planned:
            jobs = self._round_jobs()
            chunk["planned_jobs"] = len(jobs)
            if chunk["not_before"] is not None and self.clock() < chunk["not_before"]:
                return Wait(tuple(in_flight), chunk["not_before"])
            by_number = {str(job.number): job for job in jobs}
            positions = {job.number: index for index, job in enumerate(jobs)}
            pending = [job for job in jobs if str(job.number) not in submitted]
            running = [
                by_number[n] for n, j in submitted.items() if j in in_flight and n in by_number
            ]
            while pending and len(in_flight) < self._limit():
                index = choose_next_job(pending, running)
                if index is None:
                    break  # every pending job shares a parent with a running one
                job = pending.pop(index)
                job_id = self._submit(job.records)
                self.shape.note_submitted(job_id, job, running, submitted)
                # Its records are in Salesforce now (retries come from failedResults): keep only
                # what scheduling needs, so memory holds just the jobs not yet sent.
                job = Job(job.number, (), job.parents, job.split_parts)
                jobs[positions[job.number]] = job
                submitted[str(job.number)] = job_id
                self._polled.add(job_id)
                in_flight.append(job_id)
                running.append(job)
                self._save()
                if self.config.submit_pause_seconds and pending:
                    time.sleep(self.config.submit_pause_seconds)
        if in_flight:
            return Wait(tuple(in_flight), None)
        if len(submitted) < (chunk["planned_jobs"] or 0):
            return Continue()
        return self._finish_round()

    def _job_info_or_none(self, job_id: str) -> dict[str, Any] | None:
        """Job info, or None (and the job noted as vanished) when Salesforce no longer knows the
        job: after an outage jobs can be lost, and asking again would fail every retry forever."""
        try:
            return self.sf.job_info(job_id)
        except SalesforceResourceNotFound:
            self._vanished.add(job_id)
            return None

    def _restart_chunk(self, job_id: str) -> Outcome:
        """Send the current chunk again from its start (the watermark).

        Why the whole chunk: a vanished job's records have an unknown outcome and no results to
        read, and a retry round's input comes from its source jobs' results, which may be gone
        too. The chunk is bounded (records_per_job × max_in_flight) and upserts make the re-send
        harmless; the settled counts move to the partition totals only when a chunk finishes, so
        nothing is counted twice. Jobs of the chunk still running in Salesforce are left to end.
        """
        chunk = self.cp["chunk"]
        log.warning(
            "Partition %s: Bulk job %s no longer exists in Salesforce (lost in an outage or "
            "deleted); chunk %s (keys after %r through %r) is read and sent again. Nothing to do "
            "unless this repeats: then check the org's Bulk API status.",
            self.config.partition,
            job_id,
            chunk["index"],
            chunk["after"],
            chunk["through"],
        )
        self.cp["chunk"] = None
        self.cp["exhausted"] = False  # re-read from the watermark decides it again
        self.cp["restarted_chunks"] = int(self.cp.get("restarted_chunks", 0)) + 1
        self._round = _Round()
        self._vanished.clear()
        self._polled.clear()
        self._known_infos.clear()
        self._save()
        return Continue()

    def _submit(self, records: Sequence[MappedRecord | RetryRecord]) -> str:
        cfg = self.config
        job = self.sf.create_ingest_job(
            cfg.target_object,
            cfg.operation,
            cfg.external_id_field if cfg.operation == "upsert" else None,
        )
        job_id = str(job["id"])
        csv_text = render_bulk_lines(cfg.mapping.header, [r.line for r in records])
        self.sf.upload_job_data(job_id, csv_text)
        self.sf.close_job(job_id)
        return job_id

    def _job_info(self, job_id: str) -> dict[str, Any]:
        return self._known_infos.pop(job_id, None) or self.sf.job_info(job_id)

    def _settle_job(self, job_id: str, info: dict[str, Any]) -> None:
        """Count a terminal job of this round and keep its retry input and dead letters."""
        counts, retry, dead = self._examine_job(job_id, info)
        self._round.settled[job_id] = counts
        self._round.retry_input[job_id] = retry
        self._round.dead[job_id] = dead
        if self.shape.settled(self.config, job_id, counts):
            self._apply_shape()
            self._save()
        if self.adaptive is not None and counts["processed"]:
            change = self.adaptive.record_job(counts["processed"], counts["lock_failures"])
            if change is not None:
                log.info(
                    "In-flight jobs %d → %d: %s", change.previous, change.current, change.reason
                )
        self._publish("running")

    def _apply_shape(self) -> None:
        """Load with the fallen-back job shape: every round started from now on uses it."""
        self.config = self.shape.shaped(self.config)
        if self.adaptive is not None:
            self.adaptive = AdaptiveInFlightLimit(self.config.max_in_flight)

    def _examine_job(
        self, job_id: str, info: dict[str, Any]
    ) -> tuple[dict[str, int], list[RetryRecord], list[DeadLetter]]:
        """A terminal job's counts, its retryable records (lock errors, unprocessed) and dead letters."""
        failed_count = int(info.get("numberRecordsFailed") or 0)
        processed = int(info.get("numberRecordsProcessed") or 0)
        retryable: list[RetryRecord] = []
        dead: list[DeadLetter] = []
        row_locks = 0
        if failed_count:
            for row in self.sf.job_results(job_id, "failedResults/"):
                error = row.get("sf__Error", "")
                record = self._record_from_result(row, error)
                verdict = classify_record_error(error)
                if verdict.verdict is RecordVerdict.RETRY:
                    retryable.append(record)
                    row_locks += verdict.is_lock_failure
                else:
                    dead.append(DeadLetter(record.key, error, record.values))
        unprocessed: list[RetryRecord] = []
        if info["state"] != "JobComplete":
            reason = (
                f"UNPROCESSED: job {job_id} ended {info['state']}: {info.get('errorMessage', '')}"
            )
            rows = self.sf.job_results(job_id, "unprocessedrecords/")
            unprocessed = [self._record_from_result(row, reason) for row in rows]
        counts = {
            "processed": processed,
            "succeeded": processed - failed_count,
            "failed": failed_count,
            "unprocessed": len(unprocessed),
            "lock_failures": len(retryable),
            "row_locks": row_locks,
        }
        return counts, retryable + unprocessed, dead

    def _retryable_records(self, job_id: str) -> list[RetryRecord]:
        """Retry input from a previous round's job (after a restart); counts are not touched."""
        _, retry, _ = self._examine_job(job_id, self.sf.job_info(job_id))
        return retry

    def _record_from_result(self, row: dict[str, str], error: str) -> RetryRecord:
        """A failed or unprocessed row as Bulk echoed it: the values as uploaded, ready to resend."""
        header = self.config.mapping.header
        values = tuple(row.get(name, "") for name in header)
        parent_field = self.config.mapping.parent_field
        parent = row.get(parent_field) if parent_field else None
        key = row.get(self.config.external_id_field, "")
        return RetryRecord(key, parent or None, values, error)

    def _round_counts(self) -> dict[str, int]:
        succeeded = sum(s["succeeded"] for s in self._round.settled.values())
        failed = sum(s["failed"] for s in self._round.settled.values())
        return {"succeeded": succeeded, "failed": failed}

    def _finish_round(self) -> Outcome:
        cfg = self.config
        chunk = self.cp["chunk"]
        totals = chunk["totals"]
        counts = self._round_counts()
        totals["succeeded"] += counts["succeeded"]
        totals["failed"] += counts["failed"]
        totals["jobs"] += len(chunk["jobs"])
        round_jobs = list(chunk["jobs"].values())
        dead = [letter for job_id in round_jobs for letter in self._round.dead.get(job_id, [])]
        retry = [
            record for job_id in round_jobs for record in self._round.retry_input.get(job_id, [])
        ]
        next_kind: str | None = None
        if retry:
            if chunk["kind"] != "sweep" and chunk["retry_rounds"] < cfg.retry.record_retries:
                next_kind = "retry"
            elif chunk["kind"] != "sweep" and cfg.retry.serial_sweep:
                next_kind = "sweep"
            else:
                dead.extend(
                    DeadLetter(
                        r.key, f"{r.error} (still failing after {chunk['round']} rounds)", r.values
                    )
                    for r in retry
                )
                retry = []
        totals["dead_lettered"] += len(dead)
        file = self.dead_letters.write(chunk["index"], chunk["round"], dead)
        if file:
            chunk["files"].append(file)
        if next_kind is None:
            return self._finish_chunk()
        totals["retried"] += len(retry)
        if next_kind == "retry":
            chunk["retry_rounds"] += 1
        policy = BackoffPolicy(
            base=cfg.retry.initial_backoff_seconds or 0.001,
            cap=max(cfg.retry.max_backoff_seconds, 0.001),
        )
        delay = (
            policy.delay(max(chunk["retry_rounds"], 1))
            if cfg.retry.initial_backoff_seconds
            else 0.0
        )
        chunk.update(
            {
                "round": chunk["round"] + 1,
                "kind": next_kind,
                "source_jobs": round_jobs,
                "jobs": {},
                "planned_jobs": None,
                "not_before": self.clock() + delay,
                "records_per_job": self.config.records_per_job,
            }
        )
        self._round = _Round(jobs=self._pack(retry))
        chunk["planned_jobs"] = len(self._round.jobs or [])
        self._save()
        self._publish("retrying")
        return Continue()

    def _finish_chunk(self) -> Outcome:
        chunk = self.cp["chunk"]
        totals = chunk["totals"]
        settled = totals["succeeded"] + totals["dead_lettered"]
        if settled != chunk["rows"]:
            raise LoadIntegrityError(
                f"partition {self.config.partition}, keys ({chunk['after']!r}, {chunk['through']!r}]: "
                f"{chunk['rows']} rows read but {totals['succeeded']} loaded + {totals['dead_lettered']} "
                "dead-lettered; the checkpoint is kept so a retry re-checks this chunk"
            )
        for name in COUNTERS:
            self.cp["totals"][name] += totals[name]
        # Only the newest few names: the checkpoint must stay far below the state store's 64 KB.
        self.cp["dead_letter_files"] = (self.cp["dead_letter_files"] + chunk["files"])[
            -MAX_LISTED_FILES:
        ]
        self.cp["watermark"] = chunk["through"]
        self.cp["chunks_done"] += 1
        self.cp["chunk"] = None
        self._round = _Round()
        self._save()
        self._publish("running")
        self._check_threshold(final=False)
        return Continue()

    def _finish(self) -> Done:
        self._check_threshold(final=True)
        progress = self._publish("success")
        self.store.delete(CHECKPOINT_KEY)
        return Done(summary=progress)

    def _check_threshold(self, *, final: bool) -> None:
        """Fail loudly when too many rows are dead-lettered.

        At the end the threshold is strict. Mid-run the load stops early only when the share is
        clearly hopeless (over 10 % after at least 10,000 rows, e.g. a broken mapping), so one bad
        row does not stop a partition that would otherwise load everything else.
        """
        totals = self.cp["totals"]
        processed = totals["processed"]
        if not processed:
            return
        share = totals["dead_lettered"] / processed
        limit = self.config.failure_threshold
        if not final:
            if processed < EARLY_STOP_MIN_ROWS:
                return
            limit = max(limit, EARLY_STOP_SHARE)
        if share > limit:
            files = ", ".join(self.cp["dead_letter_files"][-3:]) or "(none)"
            raise TooManyFailures(
                f"partition {self.config.partition}: {totals['dead_lettered']} of {processed} rows "
                f"({share:.2%}) dead-lettered, above the failure threshold {limit:.2%}. "
                f"Dead letters: {files}. Fix the data or the mapping, then trigger a new run for "
                "this range (upserts make re-sending loaded rows harmless); clearing this task "
                "alone resumes at the end of the range and fails again."
            )

    # -- progress ------------------------------------------------------------------------------------

    def progress(self, state: str) -> Progress:
        totals = dict(self.cp["totals"])
        chunk = self.cp["chunk"]
        in_flight = 0
        if chunk is not None:
            for name in COUNTERS:
                totals[name] += chunk["totals"][name]
            counts = self._round_counts()
            totals["succeeded"] += counts["succeeded"]
            totals["failed"] += counts["failed"]
            totals["jobs"] += len(chunk["jobs"])
            in_flight = len([j for j in chunk["jobs"].values() if j not in self._round.settled])
        return Progress(
            partition=self.config.partition,
            range_start=self.config.key_range.start,
            range_end=self.config.key_range.end,
            watermark=self.cp["watermark"],
            processed=totals["processed"],
            succeeded=totals["succeeded"],
            failed=totals["failed"],
            retried=totals["retried"],
            dead_lettered=totals["dead_lettered"],
            api_calls=self._api_calls_base + self._calls_now() - self._calls_at_start,
            jobs_total=totals["jobs"],
            jobs_in_flight=in_flight,
            state=state,
            started_at=self.cp["started_at"],
            updated_at=max(self.clock(), self.cp["started_at"]),
            source_count=self.config.expected_rows,
        )

    def _publish(self, state: str) -> dict[str, Any]:
        payload = self.progress(state).to_dict()
        payload["dead_letter_files"] = list(self.cp["dead_letter_files"])
        payload["dead_letter_folder"] = str(self.dead_letters.folder)
        payload["deferrals"] = int(self.cp.get("deferrals", 0))
        payload["job_shape"] = self.shape.view(self.config)
        self.publish(payload)
        return payload


def resume_summary(partition: int, checkpoint: dict[str, Any]) -> str:
    """The log line of a try that resumes: from where, what is settled, which jobs it re-attaches.

    Jobs of the current round that an earlier try submitted are polled, never re-sent: this line
    names them, so a log reader can follow one Bulk job across tries.
    """
    watermark = checkpoint["watermark"]
    totals = checkpoint["totals"]
    settled = totals["succeeded"] + totals["dead_lettered"]
    start = "the start of the range" if watermark is None else f"watermark {watermark!r}"
    line = (
        f"Resuming partition {partition} from {start} ({settled:,} rows settled in "
        f"{checkpoint['chunks_done']} chunk(s))"
    )
    chunk = checkpoint.get("chunk")
    if chunk is None:
        return line + "; no Bulk job was in flight"
    jobs = list(chunk["jobs"].values())
    through = chunk["through"]
    line += (
        f"; chunk {chunk['index']} (keys through {through!r}, {chunk['rows']:,} rows) is in round "
        f"{chunk['round']}"
    )
    if not jobs:
        return line + ", no Bulk job of it submitted yet"
    return line + (
        f"; re-attaching {len(jobs)} Bulk job(s) submitted by an earlier try (polled, not "
        f"re-sent): {', '.join(jobs)}"
    )


def _bounded(key_range: KeyRange, through: str) -> KeyRange:
    """The partition range with its upper bound lowered to `through` (re-reading one chunk)."""
    return KeyRange(start=key_range.start, end=through, start_inclusive=key_range.start_inclusive)


def _trailing_key_group_size(rows: list[tuple[Any, ...]], key_index: int) -> int:
    """How many rows at the end of a page share its last key.

    Keyset paging resumes strictly after the last key, so on a source whose keys are not unique a
    full page could end in the middle of a key's rows and the next page would skip the rest; the
    caller compares this with the source's count for that key and cuts the page before the key.
    """
    last = rows[-1][key_index]
    size = 0
    for row in reversed(rows):
        if row[key_index] != last:
            break
        size += 1
    return size


def _keys_strictly_increasing(records: Sequence[MappedRecord]) -> bool:
    """True when every key is greater than the one before it, so no two records share a key."""
    return all(a.key < b.key for a, b in itertools.pairwise(records))


def _line_chars(record: MappedRecord | RetryRecord) -> int:
    """Characters a record adds to a Bulk upload: its CSV line and the line break."""
    return len(record.line) + 1


def _text(value: Any) -> str:
    return "" if value is None else str(value)
