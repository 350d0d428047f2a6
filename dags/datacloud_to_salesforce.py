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
from include.dc2sf.trigger_form import API_NAME_PATTERN, bounded

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
A custom range is the "backfill" of this DAG (`schedule=None`, so `airflow backfill` does not
apply). Give it a `stagger_minutes` too, or its second partition waits the default 90 minutes:
`--conf '{"range_start": "externalOpp0100000", "range_end": "externalOpp0200000", "partitions": 2, "stagger_minutes": 0}'`.

Each Param's value is checked against its schema when the run is triggered (form, REST API or
CLI): a wrong type or an out-of-range number is refused with the schema's message. Airflow does
not check the conf as a whole, so an unknown key (a typo such as `partitons`) is accepted there;
**plan** refuses it before anything is written, naming the closest valid key.
"""

# Trigger-form sections, in the order the form shows them (the order of the first Param of each).
SOURCE_AND_TARGET = "Source & target"
PARTITIONS_AND_SCHEDULE = "Partitions & schedule"
BULK_TUNING = "Bulk tuning"
SAFETY = "Safety"

#: `deferrable` as a choice the form can show honestly (a nullable boolean is drawn as an "off"
#: toggle). "default" reaches the operator as None: it then follows [operators] default_deferrable.
DEFERRABLE_CHOICES = {
    "default": "default: as [operators] default_deferrable says",
    "yes": "yes: wait for Salesforce in the triggerer",
    "no": "no: wait in the worker",
}

#: Every Param has a section and a description: the Trigger form shows the description as the
#: field's help text, and the README's Params table is generated from these (tests/dags).
PARAMS = {
    "source_dmo": Param(
        defaults.SOURCE_DMO,
        type="string",
        pattern=API_NAME_PATTERN,
        section=SOURCE_AND_TARGET,
        description="Data Cloud object (DMO) to read, e.g. Opportunity_Source__dlm.",
    ),
    "target_object": Param(
        defaults.TARGET_OBJECT,
        type="string",
        pattern=API_NAME_PATTERN,
        section=SOURCE_AND_TARGET,
        description="Salesforce object to upsert into (API name).",
    ),
    "external_id_field": Param(
        defaults.EXTERNAL_ID_FIELD,
        type="string",
        pattern=API_NAME_PATTERN,
        section=SOURCE_AND_TARGET,
        description="External ID field of target_object the upsert matches on; "
        "plan checks that it is one.",
    ),
    "mapping": Param(
        defaults.OPPORTUNITY_MAPPING,
        type="object",
        required=["key_column", "fields"],
        section=SOURCE_AND_TARGET,
        description="key_column (the source key), parent_field (records are packed by it, "
        'e.g. AccountId) and fields {target field: column, or {"source", "type": '
        "text|date|datetime|number|boolean, input_format, timezone, scale, "
        "on_null: clear|blank, on_empty, constant}}. A null clears the field (#N/A) by default.",
    ),
    "boundary_mode": Param(
        "quantiles",
        type="string",
        enum=["quantiles", "explicit", "seed_pattern"],
        values_display={
            "quantiles": "quantiles: ranges of equal row count from the real keys",
            "explicit": "explicit: the boundaries below",
            "seed_pattern": "seed_pattern: externalOpp + 7 digits, split evenly",
        },
        section=PARTITIONS_AND_SCHEDULE,
        description="How the key space is split: quantiles of the real keys (computed by "
        "Data Cloud), explicit boundaries, or the seed's externalOpp + 7 digits pattern. "
        "Given boundaries always mean explicit.",
    ),
    "partitions": Param(
        5,
        type="integer",
        **bounded(minimum=1, maximum=200),
        section=PARTITIONS_AND_SCHEDULE,
        description="Number of key ranges for quantiles and seed_pattern (ignored when "
        "boundaries are given).",
    ),
    "boundaries": Param(
        None,
        type=["null", "array"],
        items={"type": "string", "minLength": 1},
        minItems=2,
        section=PARTITIONS_AND_SCHEDULE,
        description="explicit only: strictly increasing keys, one per line; N+1 boundaries "
        "make N ranges (first key exclusive, last inclusive).",
    ),
    "seed_pattern_total": Param(
        defaults.SEED_PATTERN_TOTAL,
        type=["null", "integer"],
        **bounded(minimum=1),
        section=PARTITIONS_AND_SCHEDULE,
        description="seed_pattern only: how many externalOppNNNNNNN keys to split "
        "(empty: the seed's 2,000,000).",
    ),
    "range_start": Param(
        None,
        type=["null", "string"],
        section=PARTITIONS_AND_SCHEDULE,
        description="Load only keys above this (exclusive); empty: from the first key.",
    ),
    "range_end": Param(
        None,
        type=["null", "string"],
        section=PARTITIONS_AND_SCHEDULE,
        description="Load only keys up to this (inclusive); empty: to the last key.",
    ),
    "stagger_minutes": Param(
        90,
        type="number",
        **bounded(minimum=0, maximum=10_080),
        section=PARTITIONS_AND_SCHEDULE,
        description="Partition i starts at run start + i × stagger_minutes; 0 starts them all "
        "at once (the pool still limits how many load together).",
    ),
    "records_per_job": Param(
        defaults.RECORDS_PER_JOB,
        type="integer",
        **bounded(minimum=1, maximum=MAX_RECORDS_PER_JOB),
        section=BULK_TUNING,
        description="Records per Bulk job, sent as parent-disjoint 10,000-record internal batches.",
    ),
    "max_in_flight": Param(
        defaults.MAX_IN_FLIGHT,
        type="integer",
        **bounded(minimum=1, maximum=100),
        section=BULK_TUNING,
        description="Bulk jobs in flight per partition (fewer while row locks fail).",
    ),
    "page_size": Param(
        10_000,
        type="integer",
        **bounded(minimum=1, maximum=50_000),
        section=BULK_TUNING,
        description="Rows per Data Cloud query page (keyset paging over the key column).",
    ),
    "record_retries": Param(
        5,
        type="integer",
        **bounded(minimum=0, maximum=50),
        section=BULK_TUNING,
        description="Retry rounds for row-lock failures before the final one-job-at-a-time sweep.",
    ),
    "deferrable": Param(
        "default",
        # No `type`: the enum alone refuses a JSON true/false with "True is not one of
        # ['default', 'yes', 'no']", which names the choices ("not of type 'string'" would not).
        enum=list(DEFERRABLE_CHOICES),
        values_display=DEFERRABLE_CHOICES,
        section=BULK_TUNING,
        description="Where a load waits for its Bulk jobs: yes frees the worker slot by "
        "deferring to the triggerer, no keeps waiting in the worker, default follows "
        "[operators] default_deferrable.",
    ),
    "defer_after_seconds": Param(
        60,
        type="number",
        **bounded(minimum=0),
        section=BULK_TUNING,
        description="Deferrable mode: wait this long in the worker before handing a wait to "
        "the triggerer (short waits are cheaper in the worker).",
    ),
    "dry_run": Param(
        False,
        type="boolean",
        section=SAFETY,
        description="Check the mapping, the target and one page per partition; write nothing.",
    ),
    "failure_threshold": Param(
        0.0,
        type="number",
        **bounded(minimum=0, maximum=1),
        section=SAFETY,
        description="Largest share of dead-lettered rows a partition may end with "
        "(0.01 = 1 %); above it the partition fails.",
    ),
    "min_success_rate": Param(
        1.0,
        type="number",
        **bounded(minimum=0, maximum=1),
        section=SAFETY,
        description="Reconcile fails the run when Salesforce holds less than this share of "
        "the source rows.",
    ),
    "dead_letter_root": Param(
        None,
        type=["null", "string"],
        section=SAFETY,
        description="Folder for the dead-letter CSVs: file://, s3:// or gs://; empty: "
        "file://$AIRFLOW_HOME/dead_letters.",
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
            deferrable="{{ none if params.deferrable == 'default' else params.deferrable }}",
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
