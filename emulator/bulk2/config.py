"""Tuning of the simulated Bulk API 2.0 processing (owned by the bulk2 engineer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BulkProcessingConfig:
    """Capacity and cost of the org's Bulk API 2.0 processing, in simulated time."""

    workers: int = 8
    records_per_second_per_worker: float = 2000.0
    lock_wait_seconds: float = 10.0
    transaction_size: int = 200
    internal_batch_size: int = 10_000
