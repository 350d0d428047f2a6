"""Partition planning: every key in exactly one partition (hypothesis), validation, seed pattern."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.planner import (
    PlannedPartition,
    partition_for_key,
    plan_from_boundaries,
    plan_from_cut_points,
    plan_from_quantiles,
    plan_from_ranges,
    plan_seed_pattern,
    seed_pattern_boundaries,
    seed_pattern_key,
)


def ntile_uppers(sorted_keys: list[str], tiles: int) -> tuple[list[str], list[int]]:
    """What `NTILE(n) OVER (ORDER BY key)` + `MAX(key)` per tile returns (first tiles get the extra rows)."""
    count = len(sorted_keys)
    base, extra = divmod(count, tiles)
    uppers, counts, position = [], [], 0
    for tile in range(tiles):
        size = base + (1 if tile < extra else 0)
        if size == 0:
            continue
        position += size
        uppers.append(sorted_keys[position - 1])
        counts.append(size)
    return uppers, counts


def holders(key: str, plan: list[PlannedPartition]) -> list[int]:
    return [p.index for p in plan if p.key_range.contains(key)]


keys_strategy = st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    keys=keys_strategy,
    tiles=st.integers(1, 12),
    strangers=st.lists(st.text(max_size=6), max_size=10),
)
def test_quantile_plan_puts_every_key_in_exactly_one_partition(
    keys: set[str], tiles: int, strangers: list[str]
) -> None:
    sorted_keys = sorted(keys)
    uppers, counts = ntile_uppers(sorted_keys, tiles)
    plan = plan_from_quantiles(uppers, row_counts=counts)
    assert len(plan) == min(tiles, len(keys))
    assert plan[0].key_range.start is None, "first range has an open start"
    assert plan[-1].key_range.end is None, "last range has an open end"
    for key in sorted_keys + strangers:
        owners = holders(key, plan)
        assert len(owners) == 1, (key, owners)
        assert partition_for_key(key, plan) == owners[0]
    assert sum(p.estimated_rows or 0 for p in plan) == len(keys)
    for partition in plan:
        inside = [k for k in sorted_keys if partition.key_range.contains(k)]
        assert len(inside) == partition.estimated_rows


@settings(max_examples=200, deadline=None)
@given(keys=keys_strategy, tiles=st.integers(1, 8))
def test_closed_quantile_plan_covers_exactly_min_to_max(keys: set[str], tiles: int) -> None:
    sorted_keys = sorted(keys)
    uppers, _ = ntile_uppers(sorted_keys, tiles)
    plan = plan_from_quantiles(uppers, open_end=False)
    assert plan[-1].key_range.end == sorted_keys[-1]
    for key in sorted_keys:
        assert len(holders(key, plan)) == 1
    assert holders(sorted_keys[-1] + "\U0010ffff", plan) == []
    assert partition_for_key(sorted_keys[-1] + "\U0010ffff", plan) is None


@settings(max_examples=200, deadline=None)
@given(
    boundaries=st.sets(st.text(min_size=1, max_size=5), min_size=2, max_size=10),
    probes=st.lists(st.text(max_size=5), max_size=30),
    inclusive=st.booleans(),
)
def test_boundary_plan_covers_each_key_between_first_and_last_once(
    boundaries: set[str], probes: list[str], inclusive: bool
) -> None:
    ordered = sorted(boundaries)
    plan = plan_from_boundaries(ordered, first_start_inclusive=inclusive)
    for key in probes + ordered:
        owners = holders(key, plan)
        if ordered[0] < key <= ordered[-1] or (inclusive and key == ordered[0]):
            assert len(owners) == 1
        else:
            assert owners == []


def test_quantile_plan_edge_cases() -> None:
    assert plan_from_quantiles([]) == [PlannedPartition(0, KeyRange(), None)]
    assert plan_from_quantiles(["b", "b", "d"], row_counts=[1, 1, 3])[0].estimated_rows == 2
    with pytest.raises(ValueError, match="ascending"):
        plan_from_quantiles(["d", "b"])
    with pytest.raises(ValueError, match="non-empty text"):
        plan_from_quantiles(["a", None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one entry per upper key"):
        plan_from_quantiles(["a"], row_counts=[1, 2])


@pytest.mark.parametrize(
    ("boundaries", "message"),
    [
        (["a"], "at least two"),
        (["a", "c", "b"], r"boundaries\[2\] 'b' is below boundaries\[1\] 'c'"),
        (["a", "b", "b"], r"boundaries\[2\] repeats 'b'"),
        (["a", ""], "non-empty strings"),
    ],
)
def test_boundary_validation_messages(boundaries: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_from_boundaries(boundaries)


def test_cut_points_validation() -> None:
    assert [p.key_range for p in plan_from_cut_points(["m"])] == [
        KeyRange(None, "m"),
        KeyRange("m", None),
    ]
    with pytest.raises(ValueError, match="needs last_end"):
        plan_from_cut_points(["m"], open_end=False)
    with pytest.raises(ValueError, match="must be above"):
        plan_from_cut_points(["m"], open_end=False, last_end="a")


def test_explicit_ranges_overlap_and_gaps() -> None:
    good = plan_from_ranges(
        [KeyRange.inclusive("a", "f"), {"start": "f", "end": "k"}, KeyRange("k", None)]
    )
    assert [p.index for p in good] == [0, 1, 2]
    with pytest.raises(ValueError, match="overlap: keys up to 'f'"):
        plan_from_ranges([KeyRange.inclusive("a", "f"), KeyRange("e", "k")])
    with pytest.raises(ValueError, match="overlap"):
        plan_from_ranges([KeyRange.inclusive("a", "f"), KeyRange.inclusive("f", "k")])
    with pytest.raises(ValueError, match="open end"):
        plan_from_ranges([KeyRange("a", None), KeyRange("f", "k")])
    with pytest.raises(ValueError, match="leave a gap"):
        plan_from_ranges([KeyRange.inclusive("a", "f"), KeyRange("g", "k")])
    assert (
        len(plan_from_ranges([KeyRange.inclusive("a", "f"), KeyRange("g", "k")], allow_gaps=True))
        == 2
    )
    with pytest.raises(ValueError, match="no ranges"):
        plan_from_ranges([])


def test_seed_pattern_matches_the_seed_script() -> None:
    assert seed_pattern_boundaries(2_000_000, 5) == [
        "externalOpp0000001",
        "externalOpp0400001",
        "externalOpp0800001",
        "externalOpp1200001",
        "externalOpp1600001",
        "externalOpp2000001",
    ]
    seed = plan_seed_pattern(2_000_000, 5, seed_bounds=True)
    assert seed[0].key_range == KeyRange.seed_bounds("externalOpp0000001", "externalOpp0400001")
    assert not seed[0].key_range.contains("externalOpp0000001"), "the seed skipped its first key"
    assert seed[0].estimated_rows == 400_000
    assert sum(p.estimated_rows or 0 for p in seed) == 1_999_999, "one key lost, as in the seed"
    fixed = plan_seed_pattern(2_000_000, 5)
    assert fixed[0].key_range.contains("externalOpp0000001")
    assert [p.estimated_rows for p in fixed] == [400_001, 400_000, 400_000, 400_000, 399_999]


@settings(max_examples=100, deadline=None)
@given(total=st.integers(1, 400), partitions=st.integers(1, 12))
def test_seed_pattern_fixed_plan_covers_every_generated_key_once(
    total: int, partitions: int
) -> None:
    if partitions > total:
        with pytest.raises(ValueError, match="at least the partition count"):
            plan_seed_pattern(total, partitions)
        return
    plan = plan_seed_pattern(total, partitions)
    for number in range(1, total + 1):
        assert len(holders(seed_pattern_key(number), plan)) == 1
    assert sum(p.estimated_rows or 0 for p in plan) == total


def test_seed_key_width() -> None:
    assert seed_pattern_key(42) == "externalOpp0000042"
    with pytest.raises(ValueError, match="does not fit in 7 digits"):
        seed_pattern_key(10_000_000)
    with pytest.raises(ValueError, match="at least 1"):
        seed_pattern_boundaries(10, 0)


def test_partition_to_dict_and_open_end_check() -> None:
    plan = plan_from_boundaries(["a", "m", "z"])
    assert plan[0].to_dict() == {
        "partition": 0,
        "range_start": "a",
        "range_end": "m",
        "start_inclusive": True,
        "estimated_rows": None,
    }
    with pytest.raises(ValueError, match="open end"):
        partition_for_key(
            "x", [PlannedPartition(0, KeyRange()), PlannedPartition(1, KeyRange("a", "b"))]
        )
