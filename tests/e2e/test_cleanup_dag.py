"""The cleanup DAG run in-process with `dag.test()` against the emulator: rows are loaded with the
real loader (Bulk 2.0 upserts), then removed by external-id range, by the seed's StageName marker,
or all with `confirm_all`; the remaining counts are exact and everything else is untouched."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from emulator.datacloud.seed import external_id
from emulator.testing import EmulatorServer
from include.dc2sf import defaults
from tests.conftest import REPO_ROOT
from tests.support.loading import make_config, make_loader

pytestmark = [pytest.mark.e2e]

ROWS = 1_200
#: Small jobs, several in flight, fast polls: many delete jobs contend on shared Accounts.
FAST = {
    "ids_per_job": 150,
    "max_in_flight": 3,
    "poll_interval_seconds": 0.05,
    "backoff_base_seconds": 0.05,
}


def _dag():
    """A freshly parsed DAG per run: in-process `dag.test` runs leave the run's conf in the DAG
    object's params, so reusing one object would give a second run the first run's values."""
    # Only this DAG's file: the test must not depend on the other DAGs of the folder.
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "cleanup_test_load.py"))
    assert bag.import_errors == {}
    return bag.get_dag("cleanup_test_load")


def _load(emu: EmulatorServer, tmp_path, *, marked_every: int = 0) -> None:
    """Load every source row into Opportunity; every `marked_every`-th row gets StageName Test8."""
    if marked_every:
        with emu.state.connect() as conn:
            conn.execute(
                f'UPDATE "{defaults.SOURCE_DMO}" SET "StageName__c" = ? '
                'WHERE CAST(substr("ExternalId__c", 12) AS INTEGER) % ? = 0',
                ("Test8", marked_every),
            )
    make_loader(make_config(tmp_path)).run_blocking()
    assert len(_live(emu)) == ROWS


def _live(emu: EmulatorServer) -> dict[str, str]:
    """ExternalId → StageName of every Opportunity not deleted."""
    with emu.state.connect() as conn:
        rows = conn.execute(
            'SELECT "ExternalId__c", "StageName" FROM sobject_opportunity WHERE "IsDeleted" = 0'
        ).fetchall()
    return dict(rows)


def _tis(run) -> dict:
    return {ti.task_id: ti for ti in run.get_task_instances()}


def test_cleanup_by_range_deletes_exactly_the_range(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=ROWS, accounts=12)
    _load(emu, tmp_path)
    before = _live(emu)
    start, end = external_id(300), external_id(1_000)  # (start, end]: rows 301..1000

    run = _dag().test(run_conf={"range_start": start, "range_end": end, **FAST}, logical_date=None)

    assert run.state == "success"
    after = _live(emu)
    assert len(after) == ROWS - 700
    assert set(after) == {k for k in before if not start < k <= end}
    assert after == {k: v for k, v in before.items() if k in after}  # others untouched
    tis = _tis(run)
    report = tis["report"].xcom_pull(task_ids="report")
    assert (report["matched_before"], report["deleted"], report["remaining"], report["ok"]) == (
        700,
        700,
        0,
        True,
    )
    result = tis["delete"].xcom_pull(task_ids="delete")
    assert result["operation"] == "delete"
    assert result["failed"] == result["lock_failed_final"] == 0
    jobs = result["jobs"]
    assert all(job["ids"] <= FAST["ids_per_job"] for job in jobs)
    assert sum(job["deleted"] for job in jobs) == 700
    # Every job reported counts; a retried Id shows up in a later job of the same run.
    assert sum(job["ids"] for job in jobs) == 700 + result["retried"]


def test_cleanup_by_marker_after_a_dry_run(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=ROWS, accounts=12)
    _load(emu, tmp_path, marked_every=4)
    before = _live(emu)
    marked = {k for k, stage in before.items() if stage == "Test8"}
    assert len(marked) == ROWS // 4
    dry = _dag().test(run_conf={"marker": "Test8", "dry_run": True, **FAST}, logical_date=None)
    assert dry.state == "success"
    assert _live(emu) == before  # the dry run deleted nothing
    dry_report = _tis(dry)["report"].xcom_pull(task_ids="report")
    assert (dry_report["dry_run"], dry_report["matched_before"], dry_report["remaining"]) == (
        True,
        len(marked),
        len(marked),
    )
    assert not [j for j in emu.admin.get("/jobs").json()["jobs"] if j["operation"] == "delete"]

    run = _dag().test(run_conf={"marker": "Test8", **FAST}, logical_date=None)
    assert run.state == "success"
    after = _live(emu)
    assert set(after) == set(before) - marked
    assert "Test8" not in after.values()
    report = _tis(run)["report"].xcom_pull(task_ids="report")
    assert (report["deleted"], report["remaining"]) == (len(marked), 0)


def test_missing_filter_is_refused_and_deletes_nothing(emulator_factory, tmp_path, capsys) -> None:
    emu = emulator_factory(rows=300, accounts=5)
    make_loader(make_config(tmp_path)).run_blocking()
    before = _live(emu)

    run = _dag().test(run_conf={**FAST}, logical_date=None)

    assert run.state == "failed"
    tis = _tis(run)
    assert tis["plan"].state == "failed"
    assert tis["plan"].try_number == 1  # refused at once, not retried
    assert tis["delete"].state == "upstream_failed"
    assert _live(emu) == before
    task_log = capsys.readouterr().out  # in-process task logs go to stdout
    assert "refusing to delete: no filter given" in task_log
    assert "set 'confirm_all': true explicitly" in task_log


def test_confirm_all_deletes_every_record_and_max_delete_guards(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=300, accounts=5)
    make_loader(make_config(tmp_path)).run_blocking()
    guarded = _dag().test(
        run_conf={"confirm_all": True, "max_delete": 299, **FAST}, logical_date=None
    )
    assert guarded.state == "failed"
    assert len(_live(emu)) == 300

    run = _dag().test(run_conf={"confirm_all": True, "max_delete": 300, **FAST}, logical_date=None)
    assert run.state == "success"
    assert _live(emu) == {}
    report = _tis(run)["report"].xcom_pull(task_ids="report")
    assert report["filter"] == "ALL Opportunity records (confirm_all)"
    assert (report["deleted"], report["remaining"]) == (300, 0)
