"""`make bench` at smoke sizes: every cell of the matrix runs end to end and the counts add up.

Correctness only. The harness runs in a subprocess (it starts its own emulators and points the
connections at them through the environment) on two org profiles, writing into a temporary
folder, never into bench/results. No timing is asserted: the machine is shared and smoke sizes
say nothing about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.contenders import CONTENDERS
from bench.matrix import SMOKE_B_PROFILES, matrix
from bench.profiles import B_PROFILES, ZERO_COST
from bench.targets import TARGET_KEYS
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    data["_out"] = out
    return data


def test_every_planned_cell_ran_and_finished(results: dict[str, Any]) -> None:
    ran = {(r["scenario"], r["profile"], r["contender"], r["rows"]) for r in results["runs"]}
    planned = matrix(CONTENDERS, smoke=True)
    assert ran == {(c.scenario, c.profile, c.contender, c.rows) for c in planned}
    assert {p for (s, p, _, _) in ran if s == "B"} == set(SMOKE_B_PROFILES)
    assert all(r["derived"]["completed"] for r in results["runs"])
    repeats = {(c.scenario, c.profile, c.contender, c.rows): c.repeats for c in planned}
    for cell, count in repeats.items():
        assert sum(1 for r in results["runs"] if cell == _cell(r)) == count, cell


def _cell(run: dict[str, Any]) -> tuple[str, str, str, int]:
    return (run["scenario"], run["profile"], run["contender"], run["rows"])


def test_what_each_contender_reports_matches_what_the_org_holds_and_counted(
    results: dict[str, Any],
) -> None:
    for run in results["runs"]:
        landed, client, org = run["landed"], run["client"], run["org"]
        label = _cell(run)
        assert landed["source_rows"] == run["rows"], label
        assert client["processed"] == run["rows"], label
        assert landed["duplicated"] == 0, label
        # Whatever a contender reports as succeeded is exactly what the org holds.
        assert client["succeeded"] == landed["opportunities"], label
        assert landed["opportunities"] + landed["lost"] == run["rows"], label
        # Every job the client says it made is one the org has, and the org processed every row.
        assert client["jobs"] == org["bulk_jobs"], label
        assert org["job_records_processed"] == run["rows"], label
        # Everyone reads through Data Cloud and logs in: the org counted both for this run alone.
        assert org["logins"] >= 1 and org["token_exchanges"] >= 1, label
        assert org["datacloud_queries"] >= 1 and org["api_requests"] >= 1, label
        if run["contender"].startswith("ours"):
            assert landed["lost"] == 0 and client["dead_lettered"] == 0, label
    # Planning the partitions is not charged to the run after it: ours' repeats count the same.
    tuned = [r for r in results["runs"] if _cell(r)[:3] == ("B", "tuned", "ours")]
    by_rows: dict[int, set[int]] = {}
    for run in tuned:
        by_rows.setdefault(run["rows"], set()).add(run["org"]["logins"])
    assert all(len(logins) == 1 for logins in by_rows.values()), by_rows


def test_zero_cost_org_loses_nothing_for_anyone(results: dict[str, Any]) -> None:
    """With no simulated time there are no lock waits, so every contender lands every row."""
    assert all(r["landed"]["lost"] == 0 for r in results["runs"] if r["scenario"] != "B")


def test_per_process_runs_report_their_largest_process(results: dict[str, Any]) -> None:
    """ours_processes (bench children) and airflow_task (the DAG's load tasks in a real Airflow)
    report the largest process's peak and every process's figures."""
    seen = set()
    for run in (r for r in results["runs"] if r["contender"] in ("ours_processes", "airflow_task")):
        seen.add(run["contender"])
        children = run["client"]["per_process"]
        assert len(children) == len(run["per_partition"]) > 1
        assert run["client"]["peak_rss_mb"] == max(c["peak_rss_mb"] for c in children)
        assert all(c["peak_rss_mb"] > 0 and c["cpu_seconds"] > 0 for c in children)
    assert seen == {"ours_processes", "airflow_task"}


def test_targets_json_lists_every_target_for_every_profile(results: dict[str, Any]) -> None:
    out: Path = results["_out"]
    found = json.loads((out / "targets.json").read_text(encoding="utf-8"))
    assert found and all(tuple(t) == TARGET_KEYS for t in found)
    assert all(t["met"] in (True, False, None) for t in found)
    pairs = {(t["scenario"], t["profile"]) for t in found}
    assert pairs == {("B", p.name) for p in B_PROFILES} | {
        ("A", ZERO_COST.name),
        ("C", ZERO_COST.name),
    }
    for prof in B_PROFILES:
        names = {t["target"] for t in found if t["profile"] == prof.name}
        assert {"final success", "lost records", "duplicated records", "wall ÷ bound"} <= names
        assert "never slower than ss_sorted" in names
    # The profiles the smoke ran are measured: ours landed everything on both.
    for t in found:
        if t["profile"] in SMOKE_B_PROFILES and t["target"] in ("lost records", "final success"):
            assert t["met"] is True, t
        if t["scenario"] == "B" and t["profile"] not in SMOKE_B_PROFILES:
            assert t["measured"] is None and t["met"] is None, t


def test_writes_report_and_plots_without_machine_paths(results: dict[str, Any]) -> None:
    out: Path = results["_out"]
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    for heading in ("## Targets", "## Profiles", "## A:", "## B:", "## C:", "### tuned"):
        assert heading in text
    for png in ("b_wall_over_bound.png", "b_api_calls.png", "a_client_cost.png", "c_rss.png"):
        assert (out / png).stat().st_size > 1000
    stored = json.dumps({k: v for k, v in results.items() if k != "_out"})
    assert str(REPO_ROOT) not in text and str(REPO_ROOT) not in stored
