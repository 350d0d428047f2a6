"""PartitionLoadOperator: loads one key range of a Data Cloud DMO into a Salesforce object.

The Airflow shell around `include.dc2sf.engine.loader.PartitionLoader`: it turns (templated)
arguments into a validated `LoadConfig`, wires the hooks, the task state store (checkpoint), the
`progress` XCom and the dead-letter folder, and drives the loader either in this worker
(`deferrable=False`) or by deferring to `BulkJobsTrigger` whenever it only waits for Salesforce.

Every argument a mapped task group can supply is a template field: inside a mapped group only
template fields are resolved (Airflow's "mapping over a task group" documentation).

Failures: `execute` and `execute_complete` run under `fail_fast`, so an error no retry can fix
(invalid arguments, a mapping the target does not take, a checkpoint of another range, the failure
threshold exceeded) fails the task at once; everything else keeps the task's retries
(`include/dc2sf/engine/errors.py` decides which is which).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator, Context

from include.dc2sf import defaults
from include.dc2sf.defaults import RESUME_RACE_GUARD_SECONDS
from include.dc2sf.engine.config import LoadConfig, RetrySettings
from include.dc2sf.engine.dead_letters import DeadLetterWriter, default_dead_letter_root
from include.dc2sf.engine.dry_run import dry_run_report
from include.dc2sf.engine.errors import conf_errors_are_permanent
from include.dc2sf.engine.loader import PartitionLoader
from include.dc2sf.engine.outcomes import Done, Wait
from include.dc2sf.engine.process_cost import cpu_seconds, peak_rss_mb
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.retry import CallCounter
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.mapping import MappingSpec
from include.dc2sf.operators.fail_fast import fail_fast
from include.dc2sf.triggers.bulk_jobs import BulkJobsTrigger

#: The progress XCom is pushed at most this often (plus at every state change): each push is a
#: call to Airflow's API server.
PROGRESS_MIN_INTERVAL_SECONDS = 1.0


class PartitionLoadOperator(BaseOperator):
    """Keyset-read one partition from Data Cloud and upsert it with Bulk API 2.0, resumably."""

    template_fields: Sequence[str] = (
        "partition",
        "range_start",
        "range_end",
        "start_inclusive",
        "source_dmo",
        "mapping",
        "target_object",
        "external_id_field",
        "operation",
        "page_size",
        "records_per_job",
        "max_in_flight",
        "group_by_parent",
        "record_retries",
        "serial_sweep",
        "failure_threshold",
        "submit_pause_seconds",
        "dead_letter_root",
        "dry_run",
        "estimated_rows",
        "deferrable",
        "defer_after_seconds",
    )
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        partition: int | str,
        range_start: str | None,
        range_end: str | None,
        source_dmo: str,
        mapping: Mapping[str, Any] | str,
        start_inclusive: bool | str = False,
        target_object: str = "Opportunity",
        external_id_field: str = "ExternalId__c",
        operation: str = "upsert",
        page_size: int | str = 10_000,
        records_per_job: int | str = defaults.RECORDS_PER_JOB,
        max_in_flight: int | str = defaults.MAX_IN_FLIGHT,
        group_by_parent: bool | str = True,
        record_retries: int | str = 5,
        initial_backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 60.0,
        serial_sweep: bool | str = True,
        failure_threshold: float | str = 0.0,
        poll_interval_seconds: float = 5.0,
        defer_after_seconds: float | str = 60.0,
        submit_pause_seconds: float | str = 0.0,
        adaptive_in_flight: bool = True,
        dead_letter_root: str | None = None,
        dry_run: bool | str = False,
        estimated_rows: int | str | None = None,
        salesforce_conn_id: str = SalesforceBulk2Hook.default_conn_name,
        datacloud_conn_id: str = DataCloudHook.default_conn_name,
        check_limits: bool = True,
        deferrable: bool | str | None = conf.getboolean(
            "operators", "default_deferrable", fallback=False
        ),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.partition = partition
        self.range_start = range_start
        self.range_end = range_end
        self.start_inclusive = start_inclusive
        self.source_dmo = source_dmo
        self.mapping = mapping
        self.target_object = target_object
        self.external_id_field = external_id_field
        self.operation = operation
        self.page_size = page_size
        self.records_per_job = records_per_job
        self.max_in_flight = max_in_flight
        self.group_by_parent = group_by_parent
        self.record_retries = record_retries
        self.initial_backoff_seconds = initial_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.serial_sweep = serial_sweep
        self.failure_threshold = failure_threshold
        self.poll_interval_seconds = poll_interval_seconds
        self.defer_after_seconds = defer_after_seconds
        self.submit_pause_seconds = submit_pause_seconds
        self.adaptive_in_flight = adaptive_in_flight
        self.dead_letter_root = dead_letter_root
        self.dry_run = dry_run
        self.estimated_rows = estimated_rows
        self.salesforce_conn_id = salesforce_conn_id
        self.datacloud_conn_id = datacloud_conn_id
        self.check_limits = check_limits
        self.deferrable = deferrable

    # -- configuration ------------------------------------------------------------------------------

    @conf_errors_are_permanent
    def load_config(self) -> LoadConfig:
        """The rendered arguments as a validated LoadConfig (clear errors name the argument)."""
        mapping = json.loads(self.mapping) if isinstance(self.mapping, str) else dict(self.mapping)
        key_range = KeyRange(
            start=self.range_start or None,
            end=self.range_end or None,
            start_inclusive=_as_bool(self.start_inclusive, "start_inclusive")
            and bool(self.range_start),
        )
        return LoadConfig(
            partition=_as_int(self.partition, "partition"),
            key_range=key_range,
            source_dmo=self.source_dmo,
            mapping=MappingSpec.from_dict(mapping),
            target_object=self.target_object,
            external_id_field=self.external_id_field,
            operation=self.operation,
            page_size=_as_int(self.page_size, "page_size"),
            records_per_job=_as_int(self.records_per_job, "records_per_job"),
            max_in_flight=_as_int(self.max_in_flight, "max_in_flight"),
            group_by_parent=_as_bool(self.group_by_parent, "group_by_parent"),
            retry=RetrySettings(
                record_retries=_as_int(self.record_retries, "record_retries"),
                initial_backoff_seconds=float(self.initial_backoff_seconds),
                max_backoff_seconds=float(self.max_backoff_seconds),
                serial_sweep=_as_bool(self.serial_sweep, "serial_sweep"),
            ),
            failure_threshold=float(self.failure_threshold),
            poll_interval_seconds=float(self.poll_interval_seconds),
            submit_pause_seconds=float(self.submit_pause_seconds),
            dead_letter_root=self.dead_letter_root or default_dead_letter_root(),
            adaptive_in_flight=self.adaptive_in_flight,
            expected_rows=_as_int(self.estimated_rows, "estimated_rows")
            if self.estimated_rows not in (None, "", "None")
            else None,
        )

    def _hooks(self) -> tuple[SalesforceBulk2Hook, DataCloudHook]:
        counter = CallCounter()
        salesforce = SalesforceBulk2Hook(self.salesforce_conn_id, counter=counter)
        datacloud = DataCloudHook(
            self.datacloud_conn_id, salesforce_hook=salesforce, counter=counter
        )
        return salesforce, datacloud

    def _loader(self, config: LoadConfig, context: Context) -> PartitionLoader:
        salesforce, datacloud = self._hooks()
        ti = context["ti"]
        last_push = [0.0, ""]

        def publish(progress: dict[str, Any]) -> None:
            now = time.monotonic()
            if (
                progress["state"] == last_push[1]
                and now - last_push[0] < PROGRESS_MIN_INTERVAL_SECONDS
            ):
                return
            last_push[0], last_push[1] = now, progress["state"]
            progress["try_number"] = ti.try_number
            ti.xcom_push(key="progress", value=progress)

        writer = DeadLetterWriter(
            config.dead_letter_root, context["run_id"], config.partition, config.mapping.header
        )
        return PartitionLoader(
            config,
            salesforce=salesforce,
            datacloud=datacloud,
            store=context["task_state_store"],
            dead_letters=writer,
            publish=publish,
            check_limits=self.check_limits,
        )

    # -- execution ----------------------------------------------------------------------------------

    @fail_fast
    def execute(self, context: Context) -> dict[str, Any]:
        config = self.load_config()
        if _as_bool(self.dry_run, "dry_run"):
            salesforce, datacloud = self._hooks()
            report = dry_run_report(config, salesforce=salesforce, datacloud=datacloud)
            self.log.info(
                "Dry run for partition %s: %s", config.partition, json.dumps(report, default=str)
            )
            return report
        return self._drive(self._loader(config, context), context)

    @fail_fast
    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: settle the finished jobs and carry on."""
        if event.get("status") != "ready":
            raise RuntimeError(f"waiting for Bulk jobs failed: {event.get('message')}")
        loader = self._loader(self.load_config(), context)
        loader.note_job_infos(event.get("infos", []))
        return self._drive(loader, context)

    def _deferrable(self) -> bool:
        """The rendered `deferrable`; unset (None) falls back to `[operators] default_deferrable`."""
        if self.deferrable is None or str(self.deferrable).strip() in ("", "None", "null"):
            return conf.getboolean("operators", "default_deferrable", fallback=False)
        return _as_bool(self.deferrable, "deferrable")

    def _drive(self, loader: PartitionLoader, context: Context) -> dict[str, Any]:
        if not self._deferrable():
            return self._with_process_cost(loader.run_blocking().summary)
        while True:
            outcome = loader.step()
            if isinstance(outcome, Done):
                return self._with_process_cost(outcome.summary)
            if isinstance(outcome, Wait):
                # Short waits are cheaper here than a hand-off to the triggerer and back (which
                # costs at least RESUME_RACE_GUARD_SECONDS); only a long wait frees the slot.
                if loader.wait(outcome, timeout=float(self.defer_after_seconds or 0)):
                    continue
                loader.note_deferral()
                # Never resume sooner than the guard: a trigger firing before the scheduler has
                # seen this run's exit gets the resumed run killed (see defaults).
                guard = time.time() + RESUME_RACE_GUARD_SECONDS
                self.defer(
                    trigger=BulkJobsTrigger(
                        salesforce_conn_id=self.salesforce_conn_id,
                        job_ids=list(outcome.job_ids),
                        poll_interval=loader.config.poll_interval_seconds,
                        not_before=max(outcome.not_before or 0.0, guard),
                    ),
                    method_name="execute_complete",
                )

    def _with_process_cost(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Add what this task process cost to the summary (and say it in the log): the figure an
        operator needs to size Airflow workers. A deferred load resumes in a new process, so the
        figures are those of the process that finished the partition."""
        cost = {"peak_rss_mb": round(peak_rss_mb(), 1), "cpu_seconds": round(cpu_seconds(), 2)}
        self.log.info(
            "This task process: peak memory %.0f MB, CPU %.1f s",
            cost["peak_rss_mb"],
            cost["cpu_seconds"],
        )
        return {**summary, "process": cost}


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "", "none"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")
