"""Partition boundaries: every source key in exactly one partition, none missed, none doubled.

Ranges are ``(start, end]`` (see :class:`KeyRange`): consecutive ranges share a boundary key that
belongs to the lower one only. Three ways to plan:

* :func:`plan_from_quantiles` — from the source's real key distribution: the upper key of each of
  n equal-count tiles (``build_quantile_boundaries_query``). The first range has an *open start*
  (no lower bound: it includes the smallest key and anything below it), and by default the last
  has an open end, so keys inserted after planning, below the min or above the max, are covered too.
* :func:`plan_from_boundaries` — explicit boundary keys ``b0 < b1 < … < bn`` giving n ranges
  ``[b0, b1], (b1, b2], …``; or :func:`plan_from_ranges` for explicit ``(start, end)`` pairs,
  checked for order, overlap and gaps.
* :func:`plan_seed_pattern` — the seed's fixed pattern, ``externalOpp`` + 7 digits, N partitions
  over a total. The seed started every partition with ``> rangeStart``, which silently skipped the
  very first key (``externalOpp0000001``); ``seed_bounds=True`` reproduces that exactly, the default
  makes the first range inclusive so nothing is lost.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.dc2sf.logic.key_range import KeyRange

SEED_PREFIX = "externalOpp"
SEED_DIGITS = 7


@dataclass(frozen=True, slots=True)
class PlannedPartition:
    """One partition of a plan: its index (the mapped task's map index) and key range."""

    index: int
    key_range: KeyRange
    estimated_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for ``expand_kwargs`` of the mapped load task."""
        return {
            "partition": self.index,
            "range_start": self.key_range.start,
            "range_end": self.key_range.end,
            "start_inclusive": self.key_range.start_inclusive,
            "estimated_rows": self.estimated_rows,
        }


def _check_strictly_increasing(keys: Sequence[str], what: str) -> None:
    for index, key in enumerate(keys):
        if not isinstance(key, str) or key == "":
            raise ValueError(f"{what}[{index}] is {key!r}; boundary keys must be non-empty strings")
    for index in range(1, len(keys)):
        if keys[index] == keys[index - 1]:
            raise ValueError(
                f"{what}[{index}] repeats {keys[index]!r}: boundaries must be unique "
                "(a repeated boundary would make an empty or overlapping partition)"
            )
        if keys[index] < keys[index - 1]:
            raise ValueError(
                f"{what}[{index}] {keys[index]!r} is below {what}[{index - 1}] {keys[index - 1]!r}: "
                "boundaries must be sorted ascending (code-point order)"
            )


def plan_from_cut_points(
    cut_points: Sequence[str], *, open_end: bool = True, last_end: str | None = None
) -> list[PlannedPartition]:
    """``n`` cut points → ``n + 1`` ranges ``(-inf, c1], (c1, c2], …, (cn, last_end or +inf]``."""
    _check_strictly_increasing(cut_points, "cut_points")
    if not open_end and last_end is None:
        raise ValueError("open_end=False needs last_end (the largest key to cover)")
    if last_end is not None and cut_points and last_end <= cut_points[-1]:
        raise ValueError(
            f"last_end {last_end!r} must be above the last cut point {cut_points[-1]!r}"
        )
    starts: list[str | None] = [None, *cut_points]
    ends: list[str | None] = [*cut_points, None if open_end else last_end]
    return [
        PlannedPartition(index, KeyRange(start, end))
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def plan_from_quantiles(
    upper_keys: Sequence[str],
    *,
    row_counts: Sequence[int] | None = None,
    open_end: bool = True,
) -> list[PlannedPartition]:
    """Ranges from the upper key of each tile (in tile order), as the quantile query returns them.

    Tile ``i`` becomes partition ``i``: ``(upper[i-1], upper[i]]``, the first with an open start.
    The last one ends at the max key, or is open (default) so later keys are not missed. Repeated
    uppers (only possible with duplicate keys) are merged. With no rows, one open range is planned.
    """
    if row_counts is not None and len(row_counts) != len(upper_keys):
        raise ValueError("row_counts must have one entry per upper key")
    if not upper_keys:
        return [PlannedPartition(0, KeyRange(), 0 if row_counts is not None else None)]
    counts: dict[str, int] = {}
    for position, key in enumerate(upper_keys):
        if not isinstance(key, str) or key == "":
            raise ValueError(
                f"upper_keys[{position}] is {key!r}; the key column must be non-empty text"
            )
        counts[key] = counts.get(key, 0) + (row_counts[position] if row_counts is not None else 0)
    uppers = list(counts)
    if uppers != sorted(uppers):
        raise ValueError("upper keys are not in ascending order: order the quantile query by tile")
    if open_end:
        plan = plan_from_cut_points(uppers[:-1], open_end=True)
    else:
        plan = plan_from_cut_points(uppers[:-1], open_end=False, last_end=uppers[-1])
    if row_counts is None:
        return plan
    return [PlannedPartition(p.index, p.key_range, counts[uppers[p.index]]) for p in plan]


def plan_from_boundaries(
    boundaries: Sequence[str], *, first_start_inclusive: bool = True
) -> list[PlannedPartition]:
    """``b0 < b1 < … < bn`` → ``[b0, b1], (b1, b2], …, (b(n-1), bn]``.

    ``first_start_inclusive=False`` gives the seed's ``(b0, b1]`` (``b0`` itself is not loaded).
    """
    if len(boundaries) < 2:
        raise ValueError("give at least two boundaries (start and end of one partition)")
    _check_strictly_increasing(boundaries, "boundaries")
    return [
        PlannedPartition(
            index,
            KeyRange(start, end, start_inclusive=first_start_inclusive and index == 0),
        )
        for index, (start, end) in enumerate(itertools.pairwise(boundaries))
    ]


def plan_from_ranges(
    ranges: Sequence[KeyRange | Mapping[str, Any]], *, allow_gaps: bool = False
) -> list[PlannedPartition]:
    """Explicit ranges, validated: ascending, never overlapping, and (unless allowed) no gaps."""
    if not ranges:
        raise ValueError("no ranges given")
    parsed = [r if isinstance(r, KeyRange) else KeyRange.from_dict(dict(r)) for r in ranges]
    for index in range(1, len(parsed)):
        before, after = parsed[index - 1], parsed[index]
        where = f"ranges[{index - 1}] {before.describe()} and ranges[{index}] {after.describe()}"
        if before.end is None or after.start is None:
            raise ValueError(
                f"{where} overlap: only the first range may have an open start and only the last an open end"
            )
        if after.start < before.end or (after.start == before.end and after.start_inclusive):
            raise ValueError(
                f"{where} overlap: keys up to {before.end!r} would be loaded twice; start the second range after it"
            )
        if after.start > before.end and not allow_gaps:
            raise ValueError(
                f"{where} leave a gap: keys between {before.end!r} and {after.start!r} would never be "
                "loaded; make the second range start at the first one's end, or pass allow_gaps=True"
            )
    return [PlannedPartition(index, key_range) for index, key_range in enumerate(parsed)]


def seed_pattern_key(number: int, *, prefix: str = SEED_PREFIX, digits: int = SEED_DIGITS) -> str:
    """``externalOpp0000042`` for 42: the seed's external id pattern."""
    if number < 0 or number >= 10**digits:
        raise ValueError(
            f"{number} does not fit in {digits} digits of the pattern {prefix}{'0' * digits}"
        )
    return f"{prefix}{number:0{digits}d}"


def seed_pattern_boundaries(
    total_records: int,
    partitions: int,
    *,
    first_number: int = 1,
    prefix: str = SEED_PREFIX,
    digits: int = SEED_DIGITS,
) -> list[str]:
    """The seed's boundary list: ``prefix + pad(i × (total // partitions) + first)``, i = 0..N.

    The last boundary is ``total + first``, so a remainder of ``total % partitions`` keys is in the
    last partition rather than lost (the seed's own script ended at ``total`` instead).
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    if total_records < partitions:
        raise ValueError(
            f"total_records ({total_records}) must be at least the partition count ({partitions})"
        )
    per_partition = total_records // partitions
    numbers = [index * per_partition + first_number for index in range(partitions)]
    numbers.append(total_records + first_number)
    return [seed_pattern_key(number, prefix=prefix, digits=digits) for number in numbers]


def plan_seed_pattern(
    total_records: int,
    partitions: int,
    *,
    seed_bounds: bool = False,
    first_number: int = 1,
    prefix: str = SEED_PREFIX,
    digits: int = SEED_DIGITS,
) -> list[PlannedPartition]:
    """The seed's fixed plan; ``seed_bounds=True`` also reproduces its skipped first key."""
    boundaries = seed_pattern_boundaries(
        total_records, partitions, first_number=first_number, prefix=prefix, digits=digits
    )
    plan = plan_from_boundaries(boundaries, first_start_inclusive=not seed_bounds)
    # Keys first..first+total-1 exist; count those inside each range from the boundary numbers.
    numbers = [int(boundary[len(prefix) :]) for boundary in boundaries]
    last_key_number = first_number + total_records - 1
    estimated = []
    for index in range(len(plan)):
        low = numbers[index] if index == 0 and not seed_bounds else numbers[index] + 1
        high = min(numbers[index + 1], last_key_number)
        estimated.append(max(0, high - low + 1))
    return [
        PlannedPartition(p.index, p.key_range, rows)
        for p, rows in zip(plan, estimated, strict=True)
    ]


def partition_for_key(key: str, plan: Sequence[PlannedPartition]) -> int | None:
    """Index of the partition holding ``key`` in a contiguous plan (``None``: outside every range)."""
    ends = [p.key_range.end for p in plan]
    if any(end is None for end in ends[:-1]):
        raise ValueError("only the last partition of a plan may have an open end")
    finite_ends = [end for end in ends if end is not None]
    position = bisect.bisect_left(finite_ends, key)
    if position < len(plan) and plan[position].key_range.contains(key):
        return plan[position].index
    return None
