"""The figures a load task reports about its own process (and the benchmark reads)."""

from __future__ import annotations

import pytest

from include.dc2sf.engine import process_cost


def test_peak_memory_rises_with_what_the_process_touches_and_never_falls() -> None:
    before = process_cost.peak_rss_mb()
    block = bytearray(64 * 1024 * 1024)  # zero-filled: every page is touched
    resident = process_cost.current_rss_mb()
    during = process_cost.peak_rss_mb()
    del block
    after = process_cost.peak_rss_mb()
    assert resident >= 64  # the block alone is 64 MB
    assert during >= max(before, resident)
    assert after == pytest.approx(during, abs=1.0)  # a high-water mark keeps its peak


def test_cpu_seconds_count_work_done() -> None:
    start = process_cost.cpu_seconds()
    total = 0
    for i in range(2_000_000):
        total += i * i
    assert total > 0
    assert process_cost.cpu_seconds() > start


def test_without_proc_the_fallback_is_ru_maxrss_in_megabytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process_cost, "_proc_status_mb", lambda field: None)
    peak = process_cost.peak_rss_mb()
    assert 10 < peak < 100_000  # MB, not KiB or bytes
    assert process_cost.current_rss_mb() == peak
