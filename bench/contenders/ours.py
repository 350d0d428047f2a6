"""``ours``: the product's ``PartitionLoader`` with the operator's defaults, and its one-process-
per-partition variant (how Airflow runs mapped partitions, for scenario C's memory figure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bench.contenders import child
from bench.contenders.common import ContenderSpec, Partition, in_threads, scaled, sum_parts
from bench.contenders.reader import hooks, key_range


class _DictStore(dict):  # type: ignore[type-arg]
    """The task state store's interface over a dict (the loader checkpoints into it)."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def run_ours(spec: ContenderSpec) -> dict[str, Any]:
    """PartitionLoader per partition in threads; counts first-pass failures by instrumenting rounds."""
    from include.dc2sf import defaults
    from include.dc2sf.engine.config import LoadConfig, RetrySettings
    from include.dc2sf.engine.dead_letters import DeadLetterWriter
    from include.dc2sf.engine.loader import PartitionLoader
    from include.dc2sf.logic.mapping import MappingSpec

    class MeasuredLoader(PartitionLoader):
        """Records each chunk's round-1 failures: the first-pass success rate (bench only)."""

        first_pass_failed = 0

        def _finish_round(self) -> Any:
            if self.cp["chunk"]["round"] == 1:
                settled = self._round.settled.values()
                self.first_pass_failed += sum(s["failed"] + s["unprocessed"] for s in settled)
            return super()._finish_round()

    settings = {
        "page_size": 10_000,
        "records_per_job": defaults.RECORDS_PER_JOB,
        "max_in_flight": defaults.MAX_IN_FLIGHT,
        "record_retries": 5,
        "initial_backoff_seconds": 2.0,
        "max_backoff_seconds": 60.0,
        "poll_interval_seconds": 5.0,
        **spec.ours,
    }
    ts = spec.time_scale
    counters: list[Any] = []

    def work(partition: Partition) -> dict[str, Any]:
        config = LoadConfig(
            partition=partition.index,
            key_range=key_range(partition),
            source_dmo=defaults.SOURCE_DMO,
            mapping=MappingSpec.from_dict(defaults.OPPORTUNITY_MAPPING),
            target_object=defaults.TARGET_OBJECT,
            external_id_field=defaults.EXTERNAL_ID_FIELD,
            page_size=int(settings["page_size"]),
            records_per_job=int(settings["records_per_job"]),
            max_in_flight=int(settings["max_in_flight"]),
            retry=RetrySettings(
                record_retries=int(settings["record_retries"]),
                initial_backoff_seconds=scaled(settings["initial_backoff_seconds"], ts),
                max_backoff_seconds=scaled(settings["max_backoff_seconds"], ts),
            ),
            poll_interval_seconds=scaled(settings["poll_interval_seconds"], ts),
            dead_letter_root=f"file://{spec.workdir}/dead_letters",
        )
        salesforce, datacloud = hooks()
        counters.append(salesforce.counter)
        loader = MeasuredLoader(
            config,
            salesforce=salesforce,
            datacloud=datacloud,
            store=_DictStore(),
            dead_letters=DeadLetterWriter(
                config.dead_letter_root, "bench", partition.index, config.mapping.header
            ),
        )
        summary = loader.run_blocking().summary
        return {
            "processed": int(summary["processed"]),
            "succeeded": int(summary["succeeded"]),
            "dead_lettered": int(summary["dead_lettered"]),
            "retried": int(summary["retried"]),
            "first_pass_failed": loader.first_pass_failed,
            "jobs": int(summary["jobs_total"]),
            "client_calls": int(summary["api_calls"]),
        }

    parts = in_threads(spec.partitions, work)
    return {**sum_parts(parts), "settings": settings}


def run_ours_processes(spec: ContenderSpec) -> dict[str, Any]:
    """``ours`` the way Airflow runs it: every partition in a process of its own, all at once.

    In the DAG each partition is a mapped task instance, and each task instance is its own
    process; the memory that matters there is the largest of those processes, not five
    partitions sharing one (what ``ours`` measures, the harder case). Each child is this module
    run as ``ours`` on one partition, so its CPU and peak RSS are measured exactly as for every
    contender (imports excluded from CPU, ``VmHWM`` of the process). Reported: peak RSS =
    the largest child's, CPU = the children's sum; every child's figures are kept.
    """
    workdir = Path(spec.workdir)
    children = [
        child.start(
            dataclasses.replace(
                spec, contender="ours", partitions=[partition], workdir=str(folder)
            ),
            folder,
        )
        for partition in spec.partitions
        for folder in [workdir / f"process-{partition.index}"]
    ]
    results = [c.result() for c in children]
    return {
        **sum_parts(results),
        "settings": {"processes": len(results), **(results[0].get("settings") or {})},
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "baseline_rss_mb": max(r["baseline_rss_mb"] for r in results),
        "per_process": [
            {k: r[k] for k in ("cpu_seconds", "peak_rss_mb", "baseline_rss_mb", "wall_seconds")}
            for r in results
        ],
    }
