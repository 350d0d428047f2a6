"""The load DAG run in-process with `dag.test()` against the emulator: plan → staggered partitions →
reconcile → summary, every row exact. (The full scheduler/triggerer run is test_load_dag_live.py.)"""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.conftest import REPO_ROOT
from tests.support.loading import assert_exact

pytestmark = [pytest.mark.e2e]


def _dag():
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag("datacloud_to_salesforce")


def test_dag_loads_all_partitions_and_reconciles(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=3_000, accounts=30, skew=0.5)
    conf = {
        "partitions": 3,
        "stagger_minutes": 0,
        "records_per_job": 500,
        "max_in_flight": 2,
        "page_size": 400,
        "dead_letter_root": f"file://{tmp_path}/dead",
    }
    run = _dag().test(run_conf=conf, logical_date=None)
    assert run.state == "success"
    assert assert_exact(emu) == 3_000
    tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}
    assert {m for (t, m) in tis if t == "partition.load"} == {0, 1, 2}
    assert all(ti.state == "success" for ti in tis.values())
    report = tis[("reconcile", -1)].xcom_pull(task_ids="reconcile")
    assert (report["source"], report["salesforce"], report["missing"], report["ok"]) == (
        3_000,
        3_000,
        0,
        True,
    )
    assert [p["source"] for p in report["partitions"]] == [1_000, 1_000, 1_000]
    rendered = tis[("partition.load", 1)].rendered_map_index
    assert rendered and rendered.startswith("p1 (")


def test_explicit_boundaries_and_seed_pattern_plans(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=1_000, accounts=10)
    conf = {
        "boundary_mode": "seed_pattern",
        "seed_pattern_total": 1_000,
        "partitions": 2,
        "stagger_minutes": 0,
        "records_per_job": 500,
        "dead_letter_root": f"file://{tmp_path}/dead",
    }
    run = _dag().test(run_conf=conf, logical_date=None)
    assert run.state == "success"
    assert assert_exact(emu) == 1_000


def test_deferrable_mode_defers_while_waiting_and_stays_exact(emulator_factory, tmp_path) -> None:
    from emulator.config import EmulatorConfig

    # A 1,000-record job takes 0.5 s of real time: there is a wait to hand off.
    config = EmulatorConfig(time_scale=1.0)
    emu = emulator_factory(config, rows=2_000, accounts=20)
    conf = {
        "partitions": 2,
        "stagger_minutes": 0,
        "records_per_job": 1_000,
        "max_in_flight": 1,
        "page_size": 1_000,
        "deferrable": "yes",
        "defer_after_seconds": 0,
        "dead_letter_root": f"file://{tmp_path}/dead",
    }
    run = _dag().test(run_conf=conf, logical_date=None)
    assert run.state == "success"
    assert assert_exact(emu) == 2_000
    loads = [ti for ti in run.get_task_instances() if ti.task_id == "partition.load"]
    summaries = [ti.xcom_pull(task_ids="partition.load", map_indexes=ti.map_index) for ti in loads]
    assert all(s["deferrals"] >= 1 for s in summaries), summaries
    assert sum(s["succeeded"] for s in summaries) == 2_000
