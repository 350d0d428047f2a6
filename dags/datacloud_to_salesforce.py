"""Data Cloud → Salesforce bulk load: plan partitions, staggered resumable loads, reconcile, report.

Wiring only: the logic lives in include/dc2sf. See the DAG's doc_md (shown in the UI) for usage.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task, task_group

from include.dc2sf import defaults
from include.dc2sf.alerts import failure_notifiers, notify_run_failure
from include.dc2sf.logic.packing import MAX_RECORDS_PER_JOB
from include.dc2sf.operators.fail_fast import fail_fast
from include.dc2sf.operators.partition_load import PartitionLoadOperator
from include.dc2sf.operators.stagger_wait import StaggerWaitSensor

DOC_MD = """
# Data Cloud → Salesforce (Bulk API 2.0)

Loads every row of a Data Cloud DMO into a Salesforce object, partition by partition.

1. **plan** reads the key distribution of the source (quantiles computed by Data Cloud) or takes
   explicit boundaries, checks the mapping against the target object (describe) and the org's daily
   Bulk/API allowance, and emits one partition per key range. Nothing is written if it fails.
2. **partition** (one mapped group per range): `wait` releases partition *i* at
   run start + *i* × `stagger_minutes` (deferrable, no worker slot held), then `load` keyset-reads
   the range, packs records by parent (`AccountId`) into Bulk 2.0 upsert jobs, retries row-lock
   failures, dead-letters permanent failures, and checkpoints after every chunk: a retry resumes
   where the failed try stopped. Live progress: the *Partition progress* tab of the run.
3. **reconcile** compares, per partition and in total, the source count with what Salesforce holds
   for the range, and fails the run when the success rate is below `min_success_rate`.
4. **summary** prints the report.

Trigger with the form, or: `airflow dags trigger datacloud_to_salesforce --conf '{"partitions": 5}'`.
A custom range (the "backfill" of this DAG; `schedule=None` so `airflow backfill` does not apply):
`--conf '{"range_start": "externalOpp0400001", "range_end": "externalOpp0800001", "partitions": 2}'`.
"""

PARAMS = {
    "source_dmo": Param(
        defaults.SOURCE_DMO,
        type="string",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        description="Data Cloud object to read, e.g. Opportunity_Source__dlm",
    ),
    "mapping": Param(
        defaults.OPPORTUNITY_MAPPING,
        type="object",
        required=["key_column", "fields"],
        description="key_column, parent_field and fields {target field: column or {source, type, ...}}",
    ),
    "target_object": Param(
        defaults.TARGET_OBJECT, type="string", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
    ),
    "external_id_field": Param(
        defaults.EXTERNAL_ID_FIELD, type="string", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
    ),
    "partitions": Param(
        5,
        type="integer",
        minimum=1,
        maximum=200,
        description="Number of key ranges (ignored when boundaries are given)",
    ),
    "boundaries": Param(
        None,
        type=["null", "array"],
        items={"type": "string", "minLength": 1},
        minItems=2,
        description="Explicit, strictly increasing keys: N+1 boundaries make N ranges",
    ),
    "boundary_mode": Param(
        "quantiles",
        type="string",
        enum=["quantiles", "explicit", "seed_pattern"],
        description="quantiles of the real keys, explicit boundaries, or the seed's externalOpp+7 digits",
    ),
    "seed_pattern_total": Param(
        2_000_000,
        type="integer",
        minimum=1,
        description="seed_pattern only: how many externalOppNNNNNNN keys to split",
    ),
    "range_start": Param(
        None, type=["null", "string"], description="Load only keys above this (exclusive)"
    ),
    "range_end": Param(
        None, type=["null", "string"], description="Load only keys up to this (inclusive)"
    ),
    "stagger_minutes": Param(
        90,
        type="number",
        minimum=0,
        maximum=10_080,
        description="Partition i starts at run start + i × stagger",
    ),
    "records_per_job": Param(
        defaults.RECORDS_PER_JOB,
        type="integer",
        minimum=1,
        maximum=MAX_RECORDS_PER_JOB,
        description="Records per Bulk job, sent as parent-disjoint 10,000-record internal batches",
    ),
    "max_in_flight": Param(
        defaults.MAX_IN_FLIGHT,
        type="integer",
        minimum=1,
        maximum=100,
        description="Bulk jobs in flight per partition",
    ),
    "page_size": Param(10_000, type="integer", minimum=1, maximum=50_000),
    "record_retries": Param(
        5, type="integer", minimum=0, maximum=50, description="Retry rounds for row-lock failures"
    ),
    "failure_threshold": Param(
        0.0,
        type="number",
        minimum=0,
        maximum=1,
        description="Largest share of dead-lettered rows a partition may end with",
    ),
    "min_success_rate": Param(
        1.0,
        type="number",
        minimum=0,
        maximum=1,
        description="Reconcile fails the run below this share of rows in Salesforce",
    ),
    "dead_letter_root": Param(
        None, type=["null", "string"], description="file://, s3:// or gs:// folder"
    ),
    "deferrable": Param(
        None,
        type=["null", "boolean"],
        description="Wait for Salesforce in the triggerer instead of a worker slot; "
        "null uses [operators] default_deferrable",
    ),
    "defer_after_seconds": Param(
        60,
        type="number",
        minimum=0,
        description="Deferrable mode: wait this long in the worker before handing a wait to the triggerer",
    ),
    "dry_run": Param(
        False, type="boolean", description="Check mapping, target and one page; write nothing"
    ),
}


@dag(
    dag_id="datacloud_to_salesforce",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["salesforce", "data-cloud", "bulk-api-2"],
    params=PARAMS,
    on_failure_callback=notify_run_failure,
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "on_failure_callback": failure_notifiers(),
    },
)
def datacloud_to_salesforce() -> None:
    # fail_fast: an error no retry can fix fails the task at once (no retries), see
    # include/dc2sf/engine/errors.py; the load operator applies it itself.
    @task
    @fail_fast
    def plan(params: dict | None = None, ti=None, run_id: str | None = None) -> list[dict]:
        from include.dc2sf.engine.planning import dead_letter_null_keys, plan_partitions

        partitions = plan_partitions(params or {}, known_keys=PARAMS)
        if not (params or {}).get("dry_run"):
            ti.xcom_push(
                key="null_keys", value=dead_letter_null_keys(params or {}, run_id or "manual")
            )
        return partitions

    @task_group(group_id="partition")
    def partition(
        partition: int,
        range_start: str | None,
        range_end: str | None,
        start_inclusive: bool,
        estimated_rows: int | None,
    ) -> None:
        # DateTimeSensorAsync that skips deferring for a target already (nearly) due: see
        # include/dc2sf/operators/stagger_wait.py for the Airflow race it avoids.
        wait = StaggerWaitSensor(
            task_id="wait",
            target_time=(
                "{{ (dag_run.start_date + macros.timedelta(minutes=params.stagger_minutes * ti.map_index)).isoformat() }}"
            ),
            retries=3,
            # A sensor retry only re-defers to the same target time: no reason to wait minutes.
            retry_delay=timedelta(seconds=10),
            retry_exponential_backoff=False,
        )
        load = PartitionLoadOperator(
            task_id="load",
            partition=partition,
            range_start=range_start,
            range_end=range_end,
            start_inclusive=start_inclusive,
            estimated_rows=estimated_rows,
            source_dmo="{{ params.source_dmo }}",
            mapping="{{ params.mapping | tojson }}",
            target_object="{{ params.target_object }}",
            external_id_field="{{ params.external_id_field }}",
            page_size="{{ params.page_size }}",
            records_per_job="{{ params.records_per_job }}",
            max_in_flight="{{ params.max_in_flight }}",
            record_retries="{{ params.record_retries }}",
            failure_threshold="{{ params.failure_threshold }}",
            dead_letter_root="{{ params.dead_letter_root or '' }}",
            dry_run="{{ params.dry_run }}",
            deferrable="{{ params.deferrable }}",
            defer_after_seconds="{{ params.defer_after_seconds }}",
            pool=defaults.POOL,
            map_index_template="p{{ task.partition }} ({{ task.range_start or 'start' }} .. {{ task.range_end or 'end' }}]",
        )
        wait >> load

    # After every partition, failed ones included, but only when plan succeeded: a failed plan
    # has no partitions to reconcile (and has alerted already).
    @task(trigger_rule="all_done_min_one_success")
    @fail_fast
    def reconcile(plan: list[dict], params: dict | None = None, ti=None) -> dict:
        from include.dc2sf.engine.reconcile import reconcile_run

        return reconcile_run(plan, params or {}, ti)

    @task
    def summary(report: dict) -> str:
        from include.dc2sf.engine.reconcile import format_report

        text = format_report(report)
        print(text)
        return text

    planned = plan()
    groups = partition.expand_kwargs(planned)
    report = reconcile(planned)
    groups >> report
    summary(report)


datacloud_to_salesforce()
