"""The sweep's argument parsing and per-run figures (the README's small-scale table)."""

from __future__ import annotations

import argparse

import pytest

from bench.contenders.sweep import b_model, figures, parse_run


def test_parse_run_reads_json_settings() -> None:
    assert parse_run("ss_sorted") == ("ss_sorted", {})
    assert parse_run("ss_sorted:batch_size=null") == ("ss_sorted", {"batch_size": None})
    assert parse_run("seed:stagger_seconds=5,x=1") == ("seed", {"stagger_seconds": 5, "x": 1})
    with pytest.raises(argparse.ArgumentTypeError, match="unknown contender"):
        parse_run("nobody")


def test_figures_are_per_source_row_against_the_capacity_bound() -> None:
    model = b_model(0.5)  # 8 workers × 2,000 rec/s: 200,000 rows → 12.5 s bound
    client = {"wall_seconds": 12.5, "cpu_seconds": 2.0, "peak_rss_mb": 300.4}
    org = {"api_requests": 50, "bulk_batches": 20, "bulk_jobs": 5}
    landed = {"opportunities": 199_000, "lost": 1_000, "duplicated": 0}
    got = figures(200_000, model, client, org, landed)
    assert got["simulated_wall_s"] == 25.0 and got["wall_over_bound"] == 2.0
    assert got["success_pct"] == 99.5 and got["lost"] == 1_000
    assert (got["api_calls_per_1m"], got["bulk_batches_per_1m"], got["bulk_jobs_per_1m"]) == (
        250,
        100,
        25,
    )
    assert got["cpu_us_per_record"] == 10.0 and got["peak_rss_mb"] == 300
