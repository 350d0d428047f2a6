"""Salesforce ids: 18 characters, case-safe suffix, deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.ids import case_safe_suffix, is_valid_id, salesforce_id


def test_known_suffix() -> None:
    # Documented example: 001A0000006Vm9r -> 001A0000006Vm9rIAC
    assert case_safe_suffix("001A0000006Vm9r") == "IAC"


@given(st.sampled_from(["001", "006", "750", "751"]), st.integers(min_value=0, max_value=62**9 - 2))
def test_ids_are_valid_unique_and_stable(prefix: str, n: int) -> None:
    value = salesforce_id(prefix, n)
    assert len(value) == 18 and value.startswith(prefix)
    assert is_valid_id(value) and is_valid_id(value[:15])
    assert salesforce_id(prefix, n) == value
    assert salesforce_id(prefix, n + 1) != value


def test_corrupted_suffix_is_invalid() -> None:
    value = salesforce_id("006", 12345)
    assert not is_valid_id(value[:15] + "AAA" if value[15:] != "AAA" else value[:15] + "BBB")
    with pytest.raises(ValueError):
        salesforce_id("01", 1)
