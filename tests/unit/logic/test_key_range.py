"""KeyRange bounds: the seed's exclusive start, inclusive starts, open ends, serialisation."""

from __future__ import annotations

import pytest

from include.dc2sf.logic.key_range import KeyRange


def test_seed_bounds_exclude_start_and_include_end() -> None:
    seed = KeyRange.seed_bounds("b", "d")
    assert not seed.contains("b")
    assert seed.contains("c") and seed.contains("d")
    assert not seed.contains("e")


def test_inclusive_and_open_ranges() -> None:
    assert KeyRange.inclusive("b", "d").contains("b")
    assert KeyRange().contains("")
    assert KeyRange(end="d").contains("")
    assert KeyRange.inclusive("b", None).contains("\U0010ffff")


def test_invalid_ranges_refused() -> None:
    with pytest.raises(ValueError, match="below end"):
        KeyRange("d", "b")
    with pytest.raises(ValueError, match="below end"):
        KeyRange("d", "d")
    with pytest.raises(ValueError, match="open start"):
        KeyRange(None, "b", start_inclusive=True)
    assert KeyRange.inclusive("d", "d").contains("d")


def test_is_above() -> None:
    assert KeyRange.seed_bounds("m", "z").is_above("m")
    assert not KeyRange.inclusive("m", "z").is_above("m")
    assert not KeyRange(None, "z").is_above("")


def test_round_trip_and_validation() -> None:
    original = KeyRange.inclusive("a", None)
    assert KeyRange.from_dict(original.to_dict()) == original
    with pytest.raises(ValueError, match="unknown fields"):
        KeyRange.from_dict({"start": "a", "stop": "b"})
    with pytest.raises(ValueError, match="string or null"):
        KeyRange.from_dict({"start": 1})
    assert original.describe() == "[a, +inf)"
    assert KeyRange(None, "b").describe() == "(-inf, b]"
