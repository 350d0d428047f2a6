"""`make bench` at smoke sizes: every scenario and contender runs end to end and counts add up.

Correctness only. The harness runs in a subprocess (it starts its own emulators and points the
connections at them through the environment), writing into a temporary folder, never into
bench/results. No timing is asserted: the machine is shared and smoke sizes say nothing about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--smoke", "--scenario", "all", "--out", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    data["_out"] = out
    return data


def _runs(results: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return results["scenarios"][scenario]["runs"]


@pytest.mark.parametrize("scenario", ["A", "B"])
def test_every_contender_reads_every_row_and_ours_lands_all(
    results: dict[str, Any], scenario: str
) -> None:
    runs = _runs(results, scenario)
    assert {r["contender"] for r in runs} == {"ours", "simple_salesforce", "seed"}
    for run in runs:
        landed, client = run["landed"], run["client"]
        assert client["completed"], run["contender"]
        assert landed["source_rows"] == run["rows"]
        assert client["processed"] == run["rows"], run["contender"]
        assert landed["duplicated"] == 0, run["contender"]
        # Whatever a contender reports as succeeded is exactly what the org holds.
        assert client["succeeded"] == landed["opportunities"], run["contender"]
        assert landed["opportunities"] + landed["lost"] == run["rows"], run["contender"]
    ours = next(r for r in runs if r["contender"] == "ours")
    assert ours["landed"]["lost"] == 0
    assert ours["client"]["dead_lettered"] == 0


def test_zero_cost_org_loses_nothing_for_anyone(results: dict[str, Any]) -> None:
    """With no simulated time there are no lock waits, so every contender lands every row."""
    assert all(r["landed"]["lost"] == 0 for r in _runs(results, "A"))


def test_scale_scenario_loads_each_size_exactly(results: dict[str, Any]) -> None:
    """C runs ours both ways (five partitions in one process; one process per partition) on every
    size, and each way lands every row."""
    runs = _runs(results, "C")
    sizes = sorted(d["rows"] for d in results["scenarios"]["C"]["data"])
    for contender in ("ours", "ours_processes"):
        assert sorted(r["rows"] for r in runs if r["contender"] == contender) == sizes, contender
    assert {r["contender"] for r in runs} == {"ours", "ours_processes"}
    for run in runs:
        assert run["landed"]["opportunities"] == run["rows"]
        assert run["landed"]["lost"] == 0 and run["landed"]["duplicated"] == 0
        assert run["client"]["processed"] == run["rows"]
        assert run["client"]["peak_rss_mb"] > 0
    for run in (r for r in runs if r["contender"] == "ours_processes"):
        # One child per partition; the reported peak is the largest child's.
        children = run["client"]["per_process"]
        assert len(children) == len(run["per_partition"]) > 1
        assert run["client"]["peak_rss_mb"] == max(c["peak_rss_mb"] for c in children)


def test_writes_table_json_and_plots_with_targets(results: dict[str, Any]) -> None:
    out: Path = results["_out"]
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    for name in ("A", "B", "C"):
        assert f"## {name}:" in text
    for png in ("a_client_cost.png", "b_realistic_org.png", "c_scale.png"):
        assert (out / png).stat().st_size > 1000
    names = {t["target"] for t in results["targets"]}
    assert "wall ÷ capacity bound" in names
    assert "client CPU/record vs simple-salesforce" in names
    assert {
        "peak RSS at 3,000 rows (5 partitions in one process)",
        "peak RSS at 3,000 rows (largest of 5 per-partition processes)",
    } <= names
    assert all("shown" in t and "goal" in t for t in results["targets"])
    assert str(REPO_ROOT) not in text and str(REPO_ROOT) not in json.dumps(
        {k: v for k, v in results.items() if k != "_out"}
    )
