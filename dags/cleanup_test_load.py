"""Remove what a (test) load put into Salesforce: the Airflow version of the seed's cleanup batch.

Wiring only: the logic lives in include/dc2sf/engine/cleanup.py. See DOC_MD (shown in the UI).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from include.dc2sf import defaults
from include.dc2sf.alerts import failure_notifiers, notify_run_failure
from include.dc2sf.engine.cleanup import MAX_IDS_PER_JOB, MAX_IN_FLIGHT
from include.dc2sf.trigger_form import API_NAME_PATTERN, bounded

DOC_MD = """
# Clean up a test load

Deletes the records a load put into Salesforce so the next test starts clean: the Airflow version
of the seed's `DeleteTest8OpportunitiesBatch`, using **Bulk API 2.0** (a query job for the Ids,
delete jobs of at most 10,000 Ids, a few in flight).

**Choose what to delete** (both may be combined; they are ANDed):
* `marker`: records whose `marker_field` (default `StageName`) equals it, like the seed's
  `DeleteTest8OpportunitiesBatch('Test8')`;
* `range_start` / `range_end`: the loaded external-id range on `external_id_field`
  (start **exclusive**, end **inclusive**, the same bounds as the load's partitions).

With no filter the run is **refused**. To delete every record of `target_object`, set
`confirm_all: true` explicitly. `max_delete` refuses a run that matches more than expected.

**Tasks**
1. **plan**: validates the request and counts what it matches (`dry_run: true` stops here in
   effect: nothing is deleted).
2. **delete**: Bulk 2.0 query → delete jobs; row-lock failures (`UNABLE_TO_LOCK_ROW`: deleting an
   Opportunity locks its Account) are retried with backoff, then once more one job at a time;
   each job's counts go to the log and the XCom. Passes repeat while records remain and the last
   pass made progress. Safe to retry: it re-queries what still matches.
3. **report**: counts what remains (like the seed's `finish()`), prints the banner and fails the
   run if anything the filter matches is left.

Examples:
`airflow dags trigger cleanup_test_load --conf '{"marker": "Test8"}'`,
`airflow dags trigger cleanup_test_load --conf '{"range_start": "externalOpp0100000", "range_end": "externalOpp0200000", "dry_run": true}'`.

`hard_delete: true` skips the recycle bin (needs the *Bulk API Hard Delete* permission).
"""

# Trigger-form sections, in the order the form shows them.
WHAT_TO_DELETE = "What to delete"
SAFETY = "Safety"
BULK_TUNING = "Bulk tuning"

#: Every Param has a section and a description (the Trigger form's help text); the README's
#: Params table is generated from these (tests/dags).
PARAMS = {
    "target_object": Param(
        defaults.TARGET_OBJECT,
        type="string",
        pattern=API_NAME_PATTERN,
        section=WHAT_TO_DELETE,
        description="Salesforce object to delete records from (API name).",
    ),
    "marker": Param(
        None,
        type=["null", "string"],
        maxLength=255,
        section=WHAT_TO_DELETE,
        description="Delete records whose marker_field equals this, e.g. Test8.",
    ),
    "marker_field": Param(
        "StageName",
        type="string",
        pattern=API_NAME_PATTERN,
        section=WHAT_TO_DELETE,
        description="Field the marker is compared with (the seed used StageName).",
    ),
    "range_start": Param(
        None,
        type=["null", "string"],
        section=WHAT_TO_DELETE,
        description="Delete external ids above this (exclusive), like a load's partition.",
    ),
    "range_end": Param(
        None,
        type=["null", "string"],
        section=WHAT_TO_DELETE,
        description="Delete external ids up to this (inclusive).",
    ),
    "external_id_field": Param(
        defaults.EXTERNAL_ID_FIELD,
        type="string",
        pattern=API_NAME_PATTERN,
        section=WHAT_TO_DELETE,
        description="Field range_start and range_end are compared with.",
    ),
    "dry_run": Param(
        False,
        type="boolean",
        section=SAFETY,
        description="Count what the filter matches; delete nothing.",
    ),
    "confirm_all": Param(
        False,
        type="boolean",
        section=SAFETY,
        description="Required to delete every record of target_object when no filter is set.",
    ),
    "max_delete": Param(
        None,
        type=["null", "integer"],
        **bounded(minimum=0),
        section=SAFETY,
        description="Refuse the run if the filter matches more records than this; empty: no limit.",
    ),
    "hard_delete": Param(
        False,
        type="boolean",
        section=SAFETY,
        description="hardDelete: skip the recycle bin (needs the Bulk API Hard Delete permission).",
    ),
    "ids_per_job": Param(
        MAX_IDS_PER_JOB,
        type="integer",
        **bounded(minimum=1, maximum=MAX_IDS_PER_JOB),
        section=BULK_TUNING,
        description="Record Ids per Bulk delete job.",
    ),
    "max_in_flight": Param(
        3,
        type="integer",
        **bounded(minimum=1, maximum=MAX_IN_FLIGHT),
        section=BULK_TUNING,
        description="Delete jobs in flight at once.",
    ),
    "lock_retries": Param(
        5,
        type="integer",
        **bounded(minimum=0, maximum=20),
        section=BULK_TUNING,
        description="Retry rounds for row-lock failures (deleting an Opportunity locks its "
        "Account) before one last job-at-a-time pass.",
    ),
    "max_passes": Param(
        3,
        type="integer",
        **bounded(minimum=1, maximum=10),
        section=BULK_TUNING,
        description="Query-and-delete passes while records remain and the last pass made progress.",
    ),
    "poll_interval_seconds": Param(
        2.0,
        type="number",
        **bounded(exclusive_minimum=0, maximum=60),
        section=BULK_TUNING,
        description="Seconds between job status checks.",
    ),
    "backoff_base_seconds": Param(
        2.0,
        type="number",
        **bounded(exclusive_minimum=0, maximum=300),
        section=BULK_TUNING,
        description="First wait before retrying row-lock failures; it doubles each round "
        "(with jitter, at most 60 s).",
    ),
}


def _hook():
    from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook

    return SalesforceBulk2Hook(defaults.SALESFORCE_CONN_ID)


@dag(
    dag_id="cleanup_test_load",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["salesforce", "bulk-api-2", "cleanup"],
    params=PARAMS,
    on_failure_callback=notify_run_failure,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": failure_notifiers(),
    },
)
def cleanup_test_load() -> None:
    @task
    def plan(params: dict | None = None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from include.dc2sf.engine.cleanup import CleanupRefused, CleanupSpec, plan_cleanup

        try:
            return plan_cleanup(CleanupSpec.from_params(params or {}), _hook())
        except (CleanupRefused, ValueError) as exc:
            # A refused or invalid request fails at once: retrying cannot change the answer.
            raise AirflowFailException(str(exc)) from exc

    @task
    def delete(plan: dict) -> dict:
        from include.dc2sf.engine.cleanup import CleanupSpec, delete_matching

        return delete_matching(CleanupSpec(**plan["spec"]), _hook())

    @task
    def report(plan: dict, result: dict) -> dict:
        from include.dc2sf.engine.cleanup import CleanupSpec, final_report, format_report

        spec = CleanupSpec(**plan["spec"])
        summary = final_report(spec, plan, result, _hook().count(spec.count_soql))
        print(format_report(summary))
        if not summary["ok"]:
            raise RuntimeError(
                f"{summary['remaining']} records of {summary['filter']} remain after the cleanup; "
                "see the delete task's log for failed jobs, then trigger the DAG again"
            )
        return summary

    planned = plan()
    report(planned, delete(planned))


cleanup_test_load()
