"""Tuning of the simulated Bulk API 2.0 processing (owned by the bulk2 engineer).

Defaults are Salesforce's documented numbers where there are any (reference §3.7, §3.9); the
per-record cost is the emulator's choice and is what the calibration benchmark exercises.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.bulk2.splitting import ALIGNED, DOCUMENTED_MAX_BATCH_CHARS, check_split


@dataclass
class BulkProcessingConfig:
    """Capacity and cost of the org's Bulk API 2.0 processing, in simulated time.

    ``records_per_second_per_worker = 0`` makes processing free (no simulated time, hence no lock
    contention): the throughput benchmark's mode. ``time_scale = 0`` on the emulator keeps the
    simulated timeline (and its lock contention) but never sleeps.
    """

    # Parallel internal batches the org processes at once (the org's capacity).
    workers: int = 8
    # Simulated DML speed of one worker; a 200-record transaction takes 0.1 s at 2,000/s.
    records_per_second_per_worker: float = 2000.0
    # How long a transaction waits for a row lock before the record fails (Help DPE: ~10 s).
    lock_wait_seconds: float = 10.0
    # Partial-save attempts of one transaction (Apex DML with allOrNone=false: at most three).
    # A lock timeout fails the rows needing that lock and rolls the attempt back; the rest is
    # retried; a timeout in the last attempt fails every remaining row.
    partial_save_attempts: int = 3
    # Records per DML transaction (reference §3.7: 200).
    transaction_size: int = 200
    # Records per internal batch (reference §3.7: 10,000).
    internal_batch_size: int = 10_000
    # Where a job is cut into internal batches: "aligned" (every internal_batch_size records in
    # file order), "offset" (the same, counted from a random offset per job) or "sized" (also
    # before internal_batch_max_chars characters). See ``emulator/bulk2/splitting.py``.
    batch_split: str = ALIGNED
    # Seed of the "offset" mode's per-job offsets (same seed and job ids, same cuts).
    split_seed: int = 0
    # The "sized" mode's character cap per batch (Bulk API limits: 10,000,000 characters).
    internal_batch_max_chars: int = DOCUMENTED_MAX_BATCH_CHARS
    # A batch running longer than this is failed and queued again (reference §3.7: 5 minutes).
    batch_timeout_seconds: float = 300.0
    # Retries after which the job fails (reference §0.9: 10 or 20; the limits table says 10).
    max_batch_retries: int = 10
    # One upload's raw size cap (reference §3.5: 100 MB raw, 150 MB base64).
    max_upload_bytes: int = 100 * 1024 * 1024
    # Jobs listed per page of GET /jobs/ingest (reference §3.1: at most 1000).
    list_page_size: int = 1000

    def __post_init__(self) -> None:
        check_split(self.batch_split)
        if self.internal_batch_size < 1 or self.internal_batch_max_chars < 1:
            raise ValueError("internal_batch_size and internal_batch_max_chars must be >= 1")
