"""Packing by parent, the in-flight scheduler and the streaming buffer (hypothesis invariants)."""

from __future__ import annotations

import random
from collections import Counter
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.packing import (
    Job,
    SplitPart,
    choose_next_job,
    pack_jobs,
    pack_records,
    split_wide_jobs,
)


class Rec(NamedTuple):
    key: str
    parent: str | None


def make_records(parents: list[str | None]) -> list[Rec]:
    return [Rec(f"k{index:05d}", parent) for index, parent in enumerate(parents)]


def test_small_example_groups_parents_and_sorts_within_jobs() -> None:
    records = make_records(["B", "A", "B", "C", "A", "A", None])
    jobs = pack_records(records, records_per_job=3)
    assert [job.number for job in jobs] == list(range(len(jobs)))
    assert all(job.size <= 3 for job in jobs)
    as_parents = [[record.parent for record in job.records] for job in jobs]
    assert ["A", "A", "A"] in as_parents
    assert sum(len(job.records) for job in jobs) == 7
    for job in jobs:
        assert list(job.records) == sorted(
            job.records, key=lambda r: (r.parent or "\U0010ffff", r.key)
        )
    assert jobs[0].parents == frozenset({"A"})
    assert len(jobs) == 3, "7 records, groups of 3+2+1+1 pack into 3 jobs"


def test_oversized_parent_split_into_consecutive_exclusive_jobs() -> None:
    records = make_records(["P"] * 7 + ["Q", "R"])
    jobs = pack_records(records, records_per_job=3)
    p_jobs = [job for job in jobs if "P" in job.parents]
    assert [job.size for job in p_jobs] == [3, 3, 1]
    assert [job.split_parts for job in p_jobs] == [
        (SplitPart("P", 1, 3),),
        (SplitPart("P", 2, 3),),
        (SplitPart("P", 3, 3),),
    ]
    numbers = [job.number for job in p_jobs]
    assert numbers == list(range(numbers[0], numbers[0] + 3)), "parts are consecutive"
    assert all(job.parents == {"P"} for job in p_jobs), "a split parent's jobs hold nothing else"
    assert p_jobs[0].conflicts_with(p_jobs[1])
    assert [r.key for job in p_jobs for r in job.records] == sorted(r.key for r in records[:7])


def test_job_size_validated() -> None:
    for bad in (0, -1, True, 150_001):
        with pytest.raises(ValueError, match="records_per_job"):
            pack_records([], bad)


def _batches(job: Job[Rec], batch_size: int) -> list[tuple[Rec, ...]]:
    """The internal batches Salesforce cuts a job into: every ``batch_size`` records, in order."""
    return [job.records[i : i + batch_size] for i in range(0, job.size, batch_size)]


def test_multi_batch_jobs_are_whole_parent_disjoint_batches() -> None:
    # 40 parents of 1..6 children, batches of 10, jobs of 30: each job is up to three batches.
    records = make_records([f"p{n:02d}" for n in range(40) for _ in range(1 + n % 6)])
    jobs = pack_jobs(records, 30, batch_size=10)
    assert sum(job.size for job in jobs) == len(records)
    assert len(jobs) < len(pack_records(records, 10)), "fewer jobs than one-batch jobs"
    for job in jobs:
        batches = _batches(job, 10)
        parents = [{r.parent for r in batch} for batch in batches]
        for i, left in enumerate(parents):
            for right in parents[i + 1 :]:
                assert left.isdisjoint(right), "two batches of one job share a parent"


def test_a_parent_split_over_batches_never_shares_a_job() -> None:
    records = make_records(["P"] * 25 + [f"q{n}" for n in range(30)])
    jobs = pack_jobs(records, 40, batch_size=10)
    holders = [job for job in jobs if "P" in job.parents]
    assert [sum(r.parent == "P" for r in job.records) for job in holders] == [10, 10, 5]
    assert all(job.split_parts for job in holders), "each part is marked, so they run in order"


@settings(max_examples=200, deadline=None)
@given(
    parents=st.lists(st.sampled_from([f"acc{n}" for n in range(15)] + [None]), max_size=150),
    batch_size=st.integers(1, 12),
    batches_per_job=st.integers(1, 5),
)
def test_pack_jobs_invariants(
    parents: list[str | None], batch_size: int, batches_per_job: int
) -> None:
    records = make_records(parents)
    records_per_job = batch_size * batches_per_job
    jobs = pack_jobs(records, records_per_job, batch_size=batch_size)
    assert Counter(r for job in jobs for r in job.records) == Counter(records)
    assert [job.number for job in jobs] == list(range(len(jobs)))
    for job in jobs:
        assert 1 <= job.size <= records_per_job
        assert job.parents == {r.parent for r in job.records if r.parent is not None}
        batch_parents = [
            {r.parent for r in batch if r.parent is not None} for batch in _batches(job, batch_size)
        ]
        seen: set[str | None] = set()
        for parents_of_batch in batch_parents:
            assert seen.isdisjoint(parents_of_batch), "batches of one job must not share a parent"
            seen |= parents_of_batch


parent_lists = st.lists(
    st.one_of(st.none(), st.sampled_from([f"acc{n}" for n in range(12)])), max_size=120
)


@settings(max_examples=250, deadline=None)
@given(parents=parent_lists, records_per_job=st.integers(1, 25), first=st.integers(0, 5))
def test_packing_invariants(parents: list[str | None], records_per_job: int, first: int) -> None:
    records = make_records(parents)
    jobs = pack_records(records, records_per_job, first_job_number=first)
    packed = [record for job in jobs for record in job.records]
    assert Counter(packed) == Counter(records), "every record exactly once"
    assert [job.number for job in jobs] == list(range(first, first + len(jobs)))
    counts = Counter(parent for parent in parents if parent is not None)
    for job in jobs:
        assert 1 <= job.size <= records_per_job
        assert job.parents == {r.parent for r in job.records if r.parent is not None}
    for parent, count in counts.items():
        holders = [job for job in jobs if parent in job.parents]
        if count <= records_per_job:
            assert len(holders) == 1, f"{parent} split although it fits one job"
        else:
            assert len(holders) == -(-count // records_per_job)
            assert all(job.parents == {parent} for job in holders)
            assert [job.split_parts[0].part for job in holders] == list(range(1, len(holders) + 1))
    # Not wasteful: first-fit decreasing never needs more than ~2x the lower bound.
    if records:
        assert len(jobs) <= 2 * -(-len(records) // records_per_job) + len(
            [c for c in counts.values() if c > records_per_job]
        )


def test_choose_next_job_skips_conflicts_and_reserves_for_older_jobs() -> None:
    def job(number: int, *parents: str) -> Job[Rec]:
        return Job(number, (Rec(f"k{number}", parents[0]),), frozenset(parents))

    in_flight = [job(0, "A")]
    pending = [job(1, "A", "B"), job(2, "B"), job(3, "C")]
    # job 1 waits for A; job 2 may not take B, which job 1 is waiting for; job 3 is free.
    assert choose_next_job(pending, in_flight) == 2
    assert choose_next_job(pending, []) == 0
    assert choose_next_job([job(1, "A")], in_flight) is None


@settings(max_examples=150, deadline=None)
@given(
    parents=parent_lists,
    records_per_job=st.integers(1, 10),
    max_in_flight=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_scheduler_never_runs_two_jobs_on_one_parent_and_runs_everything(
    parents: list[str | None], records_per_job: int, max_in_flight: int, seed: int
) -> None:
    """Drive `choose_next_job` the way the loader does: fill the slots, settle one at random."""
    rng = random.Random(seed)
    pending = pack_records(make_records(parents), records_per_job)
    total = len(pending)
    running: list[Job[Rec]] = []
    started: list[int] = []
    while pending or running:
        while pending and len(running) < max_in_flight:
            index = choose_next_job(pending, running)
            if index is None:
                break
            job = pending.pop(index)
            started.append(job.number)
            running.append(job)
        assert 1 <= len(running) <= max_in_flight, "progress is always possible"
        for position, first in enumerate(running):
            for second in running[position + 1 :]:
                assert not first.conflicts_with(second)
        running.remove(rng.choice(running))
    assert sorted(started) == list(range(total))
    jobs = pack_records(make_records(parents), records_per_job)
    by_number = {job.number: job for job in jobs}
    for parent in {p for p in parents if p is not None}:
        order = [n for n in started if parent in by_number[n].parents]
        assert order == sorted(order), "jobs sharing a parent start in job order"


# --- jobs of wide records ------------------------------------------------------------------------


def _width(record: Rec) -> int:
    """Test records: the parent's letter count times 10 characters, so widths are explicit."""
    return 10 * len(record.parent or "x")


def test_split_wide_jobs_leaves_jobs_within_the_cap_untouched() -> None:
    jobs = pack_records(make_records(["A", "B", "A", "C"]), records_per_job=10)
    assert split_wide_jobs(jobs, 40, _width) == jobs


def test_split_wide_jobs_cuts_in_file_order_and_renumbers() -> None:
    records = make_records(["A", "A", "A", "B", "B", "C", "C", "C"])
    jobs = [*pack_records(records[:5], records_per_job=5), *pack_records(records[5:], 5)]
    pieces = split_wide_jobs(jobs, 30, _width)
    assert [[r.parent for r in job.records] for job in pieces] == [
        ["A", "A", "A"],
        ["B", "B"],
        ["C", "C", "C"],
    ]
    assert [job.number for job in pieces] == [0, 1, 2]
    assert all(sum(_width(r) for r in job.records) <= 30 for job in pieces)
    assert [job.parents for job in pieces] == [{"A"}, {"B"}, {"C"}]


def test_pieces_sharing_a_parent_never_run_together() -> None:
    """A parent wider than the cap spans pieces: the scheduler keeps them apart."""
    jobs = pack_records(make_records(["A"] * 5 + ["B"]), records_per_job=10)
    pieces = split_wide_jobs(jobs, 30, _width)
    assert [len(job.records) for job in pieces] == [3, 3]
    assert pieces[0].conflicts_with(pieces[1])
    assert choose_next_job(pieces[1:], [pieces[0]]) is None
    assert sorted(r.key for job in pieces for r in job.records) == sorted(
        r.key for job in jobs for r in job.records
    )


def test_a_record_wider_than_the_cap_is_a_job_of_its_own() -> None:
    jobs = pack_records(make_records(["LONGPARENT", "A", "A"]), records_per_job=10)
    pieces = split_wide_jobs(jobs, 50, _width)
    assert sorted(len(job.records) for job in pieces) == [1, 2]
    with pytest.raises(ValueError):
        split_wide_jobs(jobs, 0, _width)


def test_jobs_of_several_batches_are_left_whole() -> None:
    jobs = pack_records(make_records(["A", "A", "B", "B"]), records_per_job=4)
    assert split_wide_jobs(jobs, 10, _width, batch_size=3) == jobs
    assert len(split_wide_jobs(jobs, 10, _width, batch_size=4)) == 4
