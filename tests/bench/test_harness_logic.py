"""The benchmark harness's pure parts: profiles, the bound, the matrix, merging and targets.

No emulator: these check the rules the report relies on (a bound that sees the giant parent,
no per-1M figure from an unfinished run, a re-run replacing only its own cell, every target
listed for every profile).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.emulator_process import OrgModel
from bench.matrix import Cell, matrix, select
from bench.profiles import B_PROFILES, PROFILES, ZERO_COST, profile
from bench.report import merge, summarise
from bench.runs import Run, derive
from bench.targets import TARGET_KEYS, for_json, targets


def test_profiles_cover_every_knob_value_the_matrix_needs() -> None:
    assert len(B_PROFILES) >= 6
    assert {p.workers for p in B_PROFILES} >= {4, 8, 16}
    assert {p.records_per_second_per_worker for p in B_PROFILES} >= {500, 2_000, 5_000}
    assert {round(p.latency_seconds * 1000) for p in B_PROFILES} >= {20, 80, 250}
    assert {p.skew for p in B_PROFILES} >= {0.0, 1.0, 1.5}
    assert {p.batch_split for p in B_PROFILES} >= {"aligned", "offset", "sized"}
    assert all(p.why and p.name == n for n, p in PROFILES.items())
    with pytest.raises(KeyError, match="known: tuned"):
        profile("nope")


def test_bound_is_the_larger_of_capacity_and_the_largest_parent() -> None:
    tuned = profile("tuned")  # 8 workers × 2,000 rec/s
    assert tuned.bound_seconds(2_000_000, 100_000) == pytest.approx(125.0)
    assert tuned.bound_seconds(2_000_000, 700_000) == pytest.approx(350.0)
    assert ZERO_COST.bound_seconds(1_000, 10) is None


def test_org_model_passes_bulk_overrides_through_to_the_emulator_config() -> None:
    prof = profile("offset_split")
    assert OrgModel.of(prof, 1.0).bulk == {"batch_split": "offset"}
    model = OrgModel(workers=3, records_per_second_per_worker=7.0, bulk={"transaction_size": 50})
    config = model.bulk_config()
    assert (config.workers, config.records_per_second_per_worker) == (3, 7.0)
    assert config.transaction_size == 50
    with pytest.raises(TypeError):
        OrgModel(bulk={"no_such_knob": 1}).bulk_config()


def test_matrix_runs_headline_contenders_on_every_profile_and_others_beside_ours() -> None:
    cells = matrix(["ours", "ss_sorted", "seed", "ours_processes", "airflow_task"])
    b = [c for c in cells if c.scenario == "B"]
    for prof in B_PROFILES:
        mine = {(c.contender, c.rows, c.repeats) for c in b if c.profile == prof.name}
        assert {("ours", 2_000_000, 1), ("ss_sorted", 2_000_000, 1)} <= mine
        assert {("ours", 500_000, 3), ("ss_sorted", 500_000, 3)} <= mine
        assert {("seed", 50_000, 1), ("ours", 50_000, 1)} <= mine
    assert {c.rows for c in cells if c.scenario == "C"} >= {1_000_000, 10_000_000}
    assert {c.contender for c in cells if c.scenario == "C"} == {
        "ours",
        "ours_processes",
        "airflow_task",
    }
    assert not {"ours_processes", "airflow_task"} & {
        c.contender for c in cells if c.scenario != "C"
    }
    one = select(
        cells, scenarios=["B"], profiles=["tuned"], contenders=["ours"], rows=1_000, repeats=2
    )
    assert one == [Cell("B", "tuned", "ours", 1_000, 2)]


def _run(contender: str, rows: int, *, repeat: int = 0, **client: Any) -> Run:
    org = {
        "api_requests": 40,
        "bulk_batches": 10,
        "bulk_jobs": 5,
        "logins": 5,
        "token_exchanges": 5,
        "datacloud_queries": 20,
        "job_records_processed": rows // 4,
        "first_job_created": 1_010.0,
        "worker_ms_total": 100,
        "worker_ms_dml": 90,
        "emulator_cpu_seconds": 1.0,
    }
    base = {
        "completed": True,
        "wall_seconds": 20.0,
        "cpu_seconds": 2.0,
        "first_pass_failed": 0,
        "client_calls": 0,
        "peak_rss_mb": 100.0,
    }
    run = Run(
        "B", "tuned", contender, rows, repeat, {**base, **client}, org,
        {"source_rows": rows, "opportunities": rows, "lost": 0, "duplicated": 0},
        0.1, 1_000, 1.0, "2026-01-01 00:00 UTC",
    )  # fmt: skip
    run.derived = derive(run, profile("tuned"))
    return run


def test_completed_run_counts_per_million_rows_against_the_skew_aware_bound() -> None:
    derived = _run("ours", 160_000, wall_seconds=12.5).derived
    assert derived["bound_seconds"] == pytest.approx(10.0)  # 160,000 ÷ 16,000 > 1,000 ÷ 2,000
    assert derived["wall_over_bound"] == pytest.approx(1.25)
    assert derived["api_requests_per_1m"] == pytest.approx(250.0)
    assert derived["logins_per_1m"] == pytest.approx(31.25)
    assert derived["datacloud_queries_per_1m"] == pytest.approx(125.0)


def test_unfinished_run_has_no_headline_figures_only_its_share_and_projection() -> None:
    derived = _run(
        "seed", 100_000, completed=False, wall_seconds=110.0, started_epoch=1_000.0
    ).derived
    assert not derived["completed"]
    assert "wall_seconds" not in derived and "api_requests_per_1m" not in derived
    assert derived["share_processed"] == pytest.approx(0.25)
    # 10 s of reading, then 100 s for a quarter of the rows.
    assert derived["projected_wall_seconds"] == pytest.approx(410.0)


def _record(run: Run) -> dict[str, Any]:
    from bench.report import record

    return record(run)


def test_a_rerun_replaces_only_its_own_cell_and_repeats_give_median_and_range() -> None:
    old = [_record(_run("ours", 1_000, wall_seconds=9.0)), _record(_run("seed", 1_000))]
    new = [_record(_run("ours", 1_000, repeat=i, wall_seconds=w)) for i, w in enumerate((4, 6, 5))]
    merged = merge(old, new)
    assert [r["contender"] for r in merged] == ["seed", "ours", "ours", "ours"]
    ours = next(r for r in summarise(merged) if r["contender"] == "ours")
    assert (ours["runs"], ours["wall_seconds"]) == (3, 5.0)
    assert (ours["min"]["wall_seconds"], ours["max"]["wall_seconds"]) == (4.0, 6.0)


def test_targets_list_every_target_for_every_profile_and_judge_ours_against_ss_sorted() -> None:
    runs = [
        _record(_run("ours", 160_000, wall_seconds=12.0)),
        _record(_run("ss_sorted", 160_000, wall_seconds=30.0)),
    ]
    found = targets(summarise(runs))
    by = {(t["profile"], t["target"]): t for t in found}
    assert by[("tuned", "faster than ss_sorted")]["measured"] == pytest.approx(2.5)
    assert by[("tuned", "faster than ss_sorted")]["met"] is True
    assert by[("tuned", "wall ÷ bound")]["met"] is True  # 12 s against a 10 s bound
    # Same org counts for both contenders here: a ratio of 1, far from a third.
    assert by[("tuned", "API calls vs ss_sorted")]["met"] is False
    # A profile nobody ran is listed, not measured.
    assert by[("slow_heavy", "never slower than ss_sorted")]["met"] is None
    assert ("slow_heavy", "faster than ss_sorted") not in by  # 4 workers: never slower only
    for prof in B_PROFILES:
        assert (prof.name, "final success") in by and (prof.name, "wall ÷ bound") in by
    assert {t["scenario"] for t in found} == {"A", "B", "C"}
    assert all(tuple(t) == TARGET_KEYS for t in for_json(found))


def test_an_unfinished_ours_run_misses_the_correctness_targets() -> None:
    runs = [_record(_run("ours", 1_000, completed=False, wall_seconds=5.0, started_epoch=1_000.0))]
    by = {(t["profile"], t["target"]): t for t in targets(summarise(runs))}
    assert by[("tuned", "final success")]["met"] is False
    assert by[("tuned", "final success")]["shown"] == "ours did not finish"


def test_results_merge_across_invocations_unless_fresh(tmp_path: Any) -> None:
    from bench.report import write_results

    write_results([_run("ours", 1_000)], tmp_path, smoke=True)
    write_results([_run("seed", 1_000)], tmp_path, smoke=True)
    stored = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert sorted(r["contender"] for r in stored["runs"]) == ["ours", "seed"]
    write_results([_run("seed", 1_000)], tmp_path, smoke=True, fresh=True)
    stored = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["contender"] for r in stored["runs"]] == ["seed"]
    found = json.loads((tmp_path / "targets.json").read_text(encoding="utf-8"))
    assert all(tuple(t) == TARGET_KEYS for t in found)
    assert "### tuned" in (tmp_path / "RESULTS.md").read_text(encoding="utf-8")


def test_report_shows_an_unfinished_cell_without_figures_and_footnotes_its_share() -> None:
    from bench.report import markdown

    runs = [
        _record(_run("ours", 1_000, wall_seconds=12.0)),
        _record(_run("seed", 1_000, completed=False, wall_seconds=110.0, started_epoch=1_000.0)),
    ]
    summary = summarise(runs)
    text = markdown(
        {
            "smoke": False,
            "machine": {"cpus": 2, "python": "3.11"},
            "summary": summary,
            "targets": targets(summary),
        }
    )
    seed_row = next(line for line in text.splitlines() if line.startswith("| seed |"))
    assert "not finished [^1]" in seed_row and "110" not in seed_row
    assert "[^1]: seed on tuned at 1,000 rows: stopped after 110 s with 25.00% of the rows" in text
    assert "(not a measurement)" in text


def test_smoke_results_go_to_an_ignored_folder_not_over_the_committed_ones() -> None:
    import subprocess

    from bench.compare import ROOT, default_out

    assert default_out(smoke=False) == ROOT / "bench" / "results"
    smoke = default_out(smoke=True) / "results.json"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(smoke)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0


def test_a_run_is_stopped_only_far_beyond_its_bound() -> None:
    from bench.compare import MIN_BUDGET_SECONDS, budget_for

    tuned = profile("tuned")
    assert budget_for(tuned, 2_000_000, 186_000, 1.0) == pytest.approx(30 * 125.0)
    assert budget_for(tuned, 50_000, 5_000, 1.0) == MIN_BUDGET_SECONDS
    assert budget_for(ZERO_COST, 2_000_000, 186_000, 0.0) is None
