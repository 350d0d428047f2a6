"""Packing records into Bulk jobs by parent, and choosing which job may run next.

Why: inserting or updating an Opportunity locks its Account. Two jobs running at once that touch
the same Account fight for that lock; after ~10 s the loser's records fail with
``UNABLE_TO_LOCK_ROW``. Salesforce's guidance (and its own Data Processing Engine): sort by parent,
keep one parent's children in one job of at most 10,000 records (one internal batch, one thread),
and never run two jobs on the same parent at once. So:

* :func:`pack_records` groups records by parent and packs whole groups into jobs of at most
  ``records_per_job`` (first-fit decreasing, so jobs are full and few); records inside a job are
  sorted by parent then key. A parent with more children than one job holds is split into
  consecutive parts (:class:`SplitPart`); those jobs share the parent, so they must never be in
  flight together, which :func:`choose_next_job` enforces.
* :func:`choose_next_job` admits the oldest pending job whose parents are disjoint from the parents
  of every in-flight job *and* of every older job still waiting (a reservation), so a later job
  can never overtake an earlier one on a shared parent: parts of a split parent run in order, and
  no job waits forever.
* :func:`pack_jobs` builds jobs of several internal batches without giving up that property.
  Salesforce cuts a job's data into internal batches of 10,000 records in file order and runs
  them in parallel, so a job is made of whole parent-disjoint 10,000-record *bins* from
  :func:`pack_records`, every bin but the job's last exactly full: each internal batch is then one
  bin, and no two batches of a job share a parent. Bigger jobs cost the same Bulk batches but a
  fraction of the API calls (create, upload, close and the final status are per job).
* Streaming: the loader reads a *chunk* of ``records_per_job × max_in_flight`` rows (pages
  arrive in key order, not parent order) and packs the whole chunk, so memory is bounded by the
  chunk and a parent's children spread over one chunk still land in one job. A parent split over
  two chunks is safe: chunks settle one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Generic, Protocol, TypeVar

INTERNAL_BATCH_SIZE = 10_000
"""Records per Bulk API 2.0 internal batch: Salesforce splits a job's data every 10,000 records
(Bulk API 2.0 Developer Guide, "How Requests Are Processed") and processes the batches in
parallel, each by one thread, in file order."""

MAX_RECORDS_PER_JOB = 15 * INTERNAL_BATCH_SIZE
"""Largest job: 15 internal batches (150,000 records), well inside Bulk's 150 MB upload limit."""

DEFAULT_RECORDS_PER_JOB = 10_000
"""One Bulk internal batch: a job of this size is processed by one thread, in order."""

MAX_BATCH_CHARS = 10_000_000
"""Characters of data per Bulk batch (Bulk API Developer Guide, "Limits": "A batch can contain a
maximum of 10,000,000 characters"): a job of wide records is cut before 10,000 records."""


class Packable(Protocol):
    """What packing needs from a record: its source key and its parent (``None``: no parent)."""

    @property
    def key(self) -> str: ...

    @property
    def parent(self) -> str | None: ...


RecordT = TypeVar("RecordT", bound=Packable)


@dataclass(frozen=True, slots=True)
class SplitPart:
    """Part ``part`` of ``parts`` of a parent too big for one job."""

    parent: str
    part: int
    parts: int


@dataclass(frozen=True, slots=True)
class Job(Generic[RecordT]):
    """Records for one Bulk job, sorted by parent then key."""

    number: int
    records: tuple[RecordT, ...]
    parents: frozenset[str]
    split_parts: tuple[SplitPart, ...] = ()

    @property
    def size(self) -> int:
        return len(self.records)

    @property
    def min_key(self) -> str:
        return min(record.key for record in self.records)

    @property
    def max_key(self) -> str:
        return max(record.key for record in self.records)

    def conflicts_with(self, other: Job[RecordT]) -> bool:
        """True when both jobs touch a parent: they must not be in flight at the same time."""
        return not self.parents.isdisjoint(other.parents)


def _check_job_size(records_per_job: int) -> None:
    if isinstance(records_per_job, bool) or not isinstance(records_per_job, int):
        raise ValueError(f"records_per_job must be an integer, got {records_per_job!r}")
    if not 1 <= records_per_job <= MAX_RECORDS_PER_JOB:
        raise ValueError(
            f"records_per_job must be from 1 to 150,000 (10,000 recommended: one internal batch), "
            f"got {records_per_job}"
        )


#: Sorts orphans (records without a parent) after every parent ("\U0010ffff" is above any id).
_ORPHAN = "\U0010ffff"
_BY_KEY = attrgetter("key")


@dataclass
class _OpenJob(Generic[RecordT]):
    groups: list[tuple[str, list[RecordT]]] = field(default_factory=list)
    size: int = 0
    split_parts: list[SplitPart] = field(default_factory=list)


def pack_records(
    records: Iterable[RecordT],
    records_per_job: int = DEFAULT_RECORDS_PER_JOB,
    *,
    first_job_number: int = 0,
) -> list[Job[RecordT]]:
    """Pack records into jobs of at most ``records_per_job``, one parent's children together.

    Records without a parent can go anywhere (they lock nothing shared). Jobs come back ordered
    by their smallest parent (then smallest key), numbered from ``first_job_number``.

    Sorting works on groups, not records: a job's records sorted by (parent, key) are its
    groups sorted by (parent, first key), each group already in key order (an orphan is a group
    of one), so no per-record key tuple is built (half the packing time of a 40,000-row chunk).
    """
    _check_job_size(records_per_job)
    by_parent: dict[str, list[RecordT]] = {}
    orphans: list[RecordT] = []
    for record in records:
        parent = record.parent
        if parent is None:
            orphans.append(record)
        else:
            group = by_parent.get(parent)
            if group is None:
                by_parent[parent] = [record]
            else:
                group.append(record)

    # An oversized parent becomes consecutive jobs of its own (the last one may be short), so its
    # parts are adjacent in job order and the scheduler runs them one after the other.
    placeable: list[tuple[str, list[RecordT]]] = []
    jobs: list[_OpenJob[RecordT]] = []
    for parent, group in by_parent.items():
        if len(group) > 1:
            group.sort(key=_BY_KEY)
        if len(group) <= records_per_job:
            placeable.append((parent, group))
            continue
        parts = -(-len(group) // records_per_job)
        for index in range(parts):
            chunk = group[index * records_per_job : (index + 1) * records_per_job]
            jobs.append(
                _OpenJob([(parent, chunk)], len(chunk), [SplitPart(parent, index + 1, parts)])
            )
    placeable.extend((_ORPHAN, [record]) for record in orphans)

    # First-fit decreasing: biggest groups first, each into the first job with room.
    placeable.sort(key=lambda item: (-len(item[1]), item[0], item[1][0].key))
    open_jobs: list[_OpenJob[RecordT]] = []
    for item in placeable:
        size = len(item[1])
        target = next((job for job in open_jobs if job.size + size <= records_per_job), None)
        if target is None:
            target = _OpenJob()
            jobs.append(target)
            open_jobs.append(target)
        target.groups.append(item)
        target.size += size
        if target.size == records_per_job:
            open_jobs.remove(target)

    built = []
    for open_job in jobs:
        groups = open_job.groups
        groups.sort(key=lambda item: (item[0], item[1][0].key))
        job_records = [record for _, group in groups for record in group]
        parents = frozenset(parent for parent, _ in groups if parent is not _ORPHAN)
        first_parent, first_group = groups[0]
        start = (first_parent, first_group[0].key)
        built.append((start, job_records, parents, tuple(open_job.split_parts)))
    built.sort(key=lambda item: item[0])
    return [
        Job(first_job_number + index, tuple(job_records), parents, split_parts)
        for index, (_, job_records, parents, split_parts) in enumerate(built)
    ]


def pack_jobs(
    records: Iterable[RecordT],
    records_per_job: int = DEFAULT_RECORDS_PER_JOB,
    *,
    batch_size: int = INTERNAL_BATCH_SIZE,
) -> list[Job[RecordT]]:
    """Jobs of up to ``records_per_job`` made of parent-disjoint internal batches.

    Jobs up to one batch are :func:`pack_records`. Larger ones concatenate its ``batch_size``
    bins in order; a bin that is not exactly full ends its job (so Salesforce's split every
    ``batch_size`` records falls on bin boundaries), and a bin sharing a parent with the job (the
    parts of a parent too big for one bin) starts a new one, so those parts still run one after
    the other. Numbers are consecutive from 0 in job order.
    """
    _check_job_size(records_per_job)
    if records_per_job <= batch_size:
        return pack_records(records, records_per_job)
    jobs: list[Job[RecordT]] = []
    current: list[Job[RecordT]] = []

    def close() -> None:
        if current:
            jobs.append(
                Job(
                    len(jobs),
                    tuple(chain.from_iterable(bin_.records for bin_ in current)),
                    frozenset().union(*(bin_.parents for bin_ in current)),
                    tuple(part for bin_ in current for part in bin_.split_parts),
                )
            )
            current.clear()

    size = 0
    for bin_ in pack_records(records, batch_size):
        if current and (
            size + bin_.size > records_per_job
            or current[-1].size != batch_size
            or any(bin_.conflicts_with(other) for other in current)
        ):
            close()
            size = 0
        current.append(bin_)
        size += bin_.size
    close()
    return jobs


def split_wide_jobs(
    jobs: Sequence[Job[RecordT]],
    max_chars: int,
    chars: Callable[[RecordT], int],
    *,
    batch_size: int = INTERNAL_BATCH_SIZE,
) -> list[Job[RecordT]]:
    """Jobs meant to be one batch (at most ``batch_size`` records) cut to ``max_chars`` characters.

    Salesforce also cuts a batch by size, so a 10,000-record job of records wider than 1,000
    characters would become two batches that share the Account at the cut. Such a job is cut in
    file order (its records stay sorted by parent), each piece as full as the cap allows; pieces
    share at most the Account at a cut, so :func:`choose_next_job` runs them one after the
    other. Jobs of several batches are left as they are (they are several batches anyway). Jobs
    are renumbered from 0 in order; the usual case (nothing to cut) returns them as they are.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    pieces: list[list[RecordT]] = []
    cut_any = False
    for job in jobs:
        if job.size > batch_size:
            pieces.append(list(job.records))
            continue
        current: list[RecordT] = []
        size = 0
        for record in job.records:
            width = chars(record)
            if current and size + width > max_chars:
                pieces.append(current)
                current, size = [], 0
                cut_any = True
            current.append(record)
            size += width
        pieces.append(current)
    if not cut_any:
        return list(jobs)
    return [
        Job(number, tuple(piece), frozenset(r.parent for r in piece if r.parent is not None))
        for number, piece in enumerate(pieces)
    ]


# --- scheduling -------------------------------------------------------------------------------


def choose_next_job(
    pending: Sequence[Job[RecordT]], in_flight: Iterable[Job[RecordT]]
) -> int | None:
    """Index in ``pending`` of the job to submit next, or ``None`` when every candidate must wait.

    The oldest job whose parents are free wins. Parents of older jobs that must wait are reserved,
    so a younger job cannot take a parent an older job is waiting for (no overtaking, no
    starvation, and the parts of a split parent go in order).
    """
    reserved: set[str] = set()
    for job in in_flight:
        reserved.update(job.parents)
    for index, job in enumerate(pending):
        if reserved.isdisjoint(job.parents):
            return index
        reserved.update(job.parents)
    return None
