"""Where the org cuts a closed ingest job into internal batches (``BulkProcessingConfig.batch_split``).

Salesforce documents that Bulk API 2.0 "creates a separate batch for every 10,000 records in your
job data" (Bulk API 2.0 Developer Guide, "Understanding Bulk API 2.0 Ingest") and runs those
batches in parallel; it does not document *where* in the file the cuts fall. A client that packs
its jobs to match the cuts (as the loader does) is relying on an undocumented detail, so the
emulator can cut three ways:

* ``aligned`` — every ``internal_batch_size`` records in file order (the literal reading).
* ``offset`` — every ``internal_batch_size`` records counted from a random offset drawn per job
  (seeded by ``split_seed`` and the job id, so a run is reproducible), so the first batch is
  shorter and no cut falls where a client expects it. [inferred] A job of at most
  ``internal_batch_size`` records stays one batch: the documented "a batch for every 10,000
  records", which Salesforce's own Data Processing Engine relies on when it caps its Bulk jobs at
  10,000 records so that each is processed by one thread (Salesforce Help, "Related Record
  Writeback" in Data Processing Engine).
* ``sized`` — a batch also ends before it would exceed ``internal_batch_max_chars`` characters:
  Bulk API batches are limited by records *and* by size (Bulk API Developer Guide, "Limits": a
  batch can contain at most 10,000 records and at most 10,000,000 characters of data), so jobs of
  wide records are cut earlier than every 10,000 and the cuts move with the data. [inferred]
  Characters are counted on the CSV line as uploaded (values, delimiters, line break), and the
  same rule applies to jobs of at most 10,000 records, as the character limit does.

Pure functions of the job's rows: no engine state, so the cuts are unit-tested directly.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

ALIGNED = "aligned"
OFFSET = "offset"
SIZED = "sized"
BATCH_SPLITS = (ALIGNED, OFFSET, SIZED)

#: Bulk API batch size limit: "A batch can contain a maximum of 10,000,000 characters".
DOCUMENTED_MAX_BATCH_CHARS = 10_000_000


def check_split(mode: str) -> str:
    """``mode`` if it is a known split mode, else ValueError naming the choices."""
    if mode not in BATCH_SPLITS:
        raise ValueError(f"batch_split must be one of {', '.join(BATCH_SPLITS)}; got {mode!r}")
    return mode


def job_offset(job_id: str, size: int, seed: int) -> int:
    """The ``offset`` mode's first cut for ``job_id``: in [1, size), the same for the same seed.

    ``zlib.crc32`` rather than ``hash()``: string hashes are salted per process, so they would
    make the cut differ between two runs of the same benchmark.
    """
    if size < 2:
        return size
    rng = random.Random(zlib.crc32(f"{seed}:{job_id}".encode()))
    return rng.randrange(1, size)


def row_chars(row: Sequence[str]) -> int:
    """Characters of one CSV data line: its values, the delimiters between them, one line break."""
    return sum(len(value) for value in row) + len(row)


def batch_bounds(
    rows: Sequence[Sequence[str]],
    *,
    mode: str,
    size: int,
    job_id: str = "",
    seed: int = 0,
    max_chars: int = DOCUMENTED_MAX_BATCH_CHARS,
) -> list[tuple[int, int]]:
    """``(start, end)`` row ranges of the internal batches, in file order, covering every row."""
    total = len(rows)
    if total == 0:
        return []
    check_split(mode)
    if size < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {size}")
    if mode == SIZED:
        return _sized(rows, size, max_chars)
    starts = list(range(0, total, size))
    if mode == OFFSET and total > size:
        first = job_offset(job_id, size, seed)
        starts = [0, *range(first, total, size)]
    return list(zip(starts, [*starts[1:], total], strict=True))


def _sized(rows: Sequence[Sequence[str]], size: int, max_chars: int) -> list[tuple[int, int]]:
    """Greedy cuts: a batch ends at ``size`` rows or before the row that would pass ``max_chars``
    (a single row wider than the limit is a batch of its own)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    chars = 0
    for index, row in enumerate(rows):
        width = row_chars(row)
        if index > start and (index - start >= size or chars + width > max_chars):
            bounds.append((start, index))
            start, chars = index, 0
        chars += width
    bounds.append((start, len(rows)))
    return bounds
