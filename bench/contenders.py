"""The three contenders, each run in a child process of its own so its CPU and memory are its own.

``python -m bench.contenders SPEC.json RESULT.json`` runs one contender against a running
emulator and writes what the client itself can know: wall time, CPU seconds (user + sys of this
process, from just before the first partition starts to the end: interpreter start-up and
imports are not the load's cost), peak RSS (``VmHWM``: this process's own, see ``_rss_mb``) and
the counts the client saw. The harness adds what the org saw (API requests, Bulk batches, rows landed).

Every contender reads the same partitions (planned once by the product's planner) with the same
Data Cloud reader (``DataCloudHook`` + keyset pages + ``MappingSpec``), so the differences are in
how each one writes to Bulk API 2.0:

* ``ours``: ``PartitionLoader`` per partition, 5 threads, the operator's defaults.
* ``ours_processes`` (scenario C): the same, one process per partition as Airflow runs them.
* ``simple_salesforce``: per partition read everything, then the unmodified client's
  ``sf.bulk2.Opportunity.upsert(records=..., batch_size=10000)``; 5 threads.
* ``seed``: the Apex seed ported: pages of 500, one Bulk job per page, wait for it, no record
  retries; the seed's 20-30 s Queueable/Batch chaining delays are 0 here; 5 threads.

Client-side waits (poll intervals, ssf's ``wait``, backoff) are simulated seconds × the
emulator's ``time_scale`` (floor 0.05 s, so a zero-cost run does not spin): a scaled run keeps
each client's polling in proportion to the org's processing.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

POLL_FLOOR_SECONDS = 0.05
#: The seed waited for nothing (it chained Apex jobs with 20-30 s delays); the port waits for each
#: job by polling its info this often (simulated seconds), the shortest sensible poll.
SEED_POLL_SECONDS = 0.5
SEED_PAGE = 500
SEED_MAX_EMPTY_BATCHES = 3
SEED_MAX_RETRIES = 3
#: ssf's own default for ``upsert(wait=...)`` (seconds before the first poll, then the base poll).
SSF_DEFAULT_WAIT = 5.0
SSF_BATCH_SIZE = 10_000
API_VERSION = "59.0"


@dataclass
class Partition:
    index: int
    start: str | None
    end: str | None
    start_inclusive: bool = False


@dataclass
class ContenderSpec:
    """What the child process needs; JSON on disk between harness and child."""

    contender: str
    base_url: str
    ca_bundle: str
    partitions: list[Partition]
    time_scale: float
    workdir: str
    ours: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> ContenderSpec:
        data = json.loads(text)
        data["partitions"] = [Partition(**p) for p in data["partitions"]]
        return cls(**data)


def scaled(simulated_seconds: float, time_scale: float) -> float:
    """A client-side wait in real seconds for a duration meant in the org's simulated time."""
    return max(simulated_seconds * time_scale, POLL_FLOOR_SECONDS)


def _proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from ``/proc/self/status`` (Linux), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _rss_mb() -> float:
    """Peak RSS of this process's own memory (``VmHWM``).

    Why not ``ru_maxrss``: Linux carries it across ``exec`` from the process that spawned us, so
    a child started by a harness that once held 200 MB reports at least 200 MB whatever it uses
    itself. ``VmHWM`` belongs to the address space ``exec`` created. ``ru_maxrss`` is the
    fallback where ``/proc`` is missing.
    """
    peak = _proc_status_mb("VmHWM")
    if peak is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return peak


def _current_rss_mb() -> float:
    """RSS right now (``VmRSS``): the baseline after imports."""
    current = _proc_status_mb("VmRSS")
    return _rss_mb() if current is None else current


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_threads(partitions: list[Partition], work: Callable[[Partition], dict[str, Any]]) -> list:
    """Run ``work`` for every partition at once (stagger 0); re-raise the first failure.

    One partition runs in the calling thread, so a profiler that samples only the main thread
    (pyinstrument) sees it (``bench.profile_contender``).
    """
    if len(partitions) == 1:
        return [work(partitions[0])]
    results: list[dict[str, Any] | None] = [None] * len(partitions)
    errors: list[BaseException] = []

    def run(i: int, partition: Partition) -> None:
        try:
            results[i] = work(partition)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(i, p), name=f"partition-{p.index}")
        for i, p in enumerate(partitions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- the shared reader ---------------------------------------------------------------------------


def _hooks() -> tuple[Any, Any]:
    """Our two hooks on the connections from the environment (``AIRFLOW_CONN_*``)."""
    from include.dc2sf.hooks.datacloud import DataCloudHook
    from include.dc2sf.hooks.retry import CallCounter
    from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook

    counter = CallCounter()
    salesforce = SalesforceBulk2Hook(counter=counter)
    return salesforce, DataCloudHook(salesforce_hook=salesforce, counter=counter)


def _key_range(partition: Partition) -> Any:
    from include.dc2sf.logic.key_range import KeyRange

    return KeyRange(partition.start, partition.end, partition.start_inclusive)


def read_page(
    datacloud: Any, partition: Partition, after: str | None, limit: int
) -> tuple[tuple[str, ...], list[tuple[str, ...]], int, str | None]:
    """One keyset page after ``after``: (header, mapped value tuples, source rows, last key).

    The values come from ``MappingSpec.apply_values``: the product's conversions and rejections
    (and its compiled page mapper), in the form a values-taking writer needs. The spec is built
    once per process, as a loader builds it once per partition, so its compiled mapper is reused.
    """
    from include.dc2sf import defaults
    from include.dc2sf.logic.keyset_sql import build_page_query
    from include.dc2sf.logic.mapping import SourcePage

    spec = _reader_spec()
    sql = build_page_query(
        dmo=defaults.SOURCE_DMO,
        columns=spec.source_columns,
        key_column=spec.key_column,
        key_range=_key_range(partition),
        after_key=after,
        limit=limit,
    )
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = []
    for batch in datacloud.query(sql):
        columns = batch.column_names or columns
        rows.extend(batch.rows)
    if not rows:
        return tuple(spec.header), [], 0, after
    page = spec.apply_values(SourcePage(columns=columns, rows=rows))
    return tuple(spec.header), [r.values for r in page.records], len(rows), page.last_key


@functools.cache
def _reader_spec() -> Any:
    from include.dc2sf import defaults
    from include.dc2sf.logic.mapping import MappingSpec

    return MappingSpec.from_dict(defaults.OPPORTUNITY_MAPPING)


def read_pages(
    datacloud: Any, partition: Partition, page_size: int, *, stop_on_short: bool = True
) -> Iterator[tuple[tuple[str, ...], list[tuple[str, ...]], str | None]]:
    """Keyset pages of mapped rows: the loader's reading, without its checkpoint state."""
    last: str | None = None
    while True:
        header, values, count, last = read_page(datacloud, partition, last, page_size)
        if not count:
            return
        yield header, values, last
        if stop_on_short and count < page_size:
            return


class _DictStore(dict):
    """The task state store's interface over a dict (the loader checkpoints into it)."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


# -- ours ----------------------------------------------------------------------------------------


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
            key_range=_key_range(partition),
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
        salesforce, datacloud = _hooks()
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

    parts = _in_threads(spec.partitions, work)
    return {**_sum(parts), "settings": settings}


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
    children: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    for partition in spec.partitions:
        folder = workdir / f"process-{partition.index}"
        folder.mkdir(parents=True, exist_ok=True)
        child = ContenderSpec(
            contender="ours",
            base_url=spec.base_url,
            ca_bundle=spec.ca_bundle,
            partitions=[partition],
            time_scale=spec.time_scale,
            workdir=str(folder),
            ours=spec.ours,
        )
        spec_path, result_path = folder / "spec.json", folder / "result.json"
        spec_path.write_text(json.dumps(dataclasses.asdict(child)), encoding="utf-8")
        log = (folder / "child.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.contenders", str(spec_path), str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        children.append((process, result_path, folder / "child.log"))
    results = []
    for process, result_path, log_path in children:
        if process.wait() != 0 or not result_path.exists():
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"partition process failed (exit {process.returncode}):\n{tail}")
        results.append(json.loads(result_path.read_text(encoding="utf-8")))
    return {
        **_sum(results),
        "settings": {"processes": len(results), **(results[0].get("settings") or {})},
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "baseline_rss_mb": max(r["baseline_rss_mb"] for r in results),
        "per_process": [
            {k: r[k] for k in ("cpu_seconds", "peak_rss_mb", "baseline_rss_mb", "wall_seconds")}
            for r in results
        ],
    }


# -- simple-salesforce ---------------------------------------------------------------------------


def _salesforce_client(spec: ContenderSpec) -> Any:
    """The unmodified simple-salesforce client, its requests routed to the emulator."""
    from simple_salesforce import Salesforce

    from emulator.client_support import emulator_session

    return Salesforce(
        username="bench@example.com",
        password="bench-password",
        security_token="bench-token",
        session=emulator_session(spec.base_url, spec.ca_bundle),
    )


def run_simple_salesforce(spec: ContenderSpec) -> dict[str, Any]:
    """Per partition: read it all with our reader, then one ``bulk2.Opportunity.upsert`` call."""
    from include.dc2sf import defaults

    wait = scaled(SSF_DEFAULT_WAIT, spec.time_scale)

    def work(partition: Partition) -> dict[str, Any]:
        _, datacloud = _hooks()
        records: list[dict[str, str]] = []
        for header, rows, _ in read_pages(datacloud, partition, 10_000):
            records.extend(dict(zip(header, row, strict=True)) for row in rows)
        read = len(records)
        sf = _salesforce_client(spec)
        results = sf.bulk2.Opportunity.upsert(
            records=records,
            external_id_field=defaults.EXTERNAL_ID_FIELD,
            batch_size=SSF_BATCH_SIZE,
            wait=wait,
        )
        del records
        failed = sum(int(r["numberRecordsFailed"]) for r in results)
        processed = sum(int(r["numberRecordsProcessed"]) for r in results)
        return {
            "processed": read,
            "succeeded": processed - failed,
            "dead_lettered": read - (processed - failed),
            "retried": 0,
            "first_pass_failed": read - (processed - failed),
            "jobs": len(results),
            "client_calls": 0,
        }

    return {**_sum(_in_threads(spec.partitions, work)), "settings": {"wait": wait}}


# -- the seed's method ---------------------------------------------------------------------------


class _SeedBulkClient:
    """The seed's raw HTTP callouts (create job, PUT CSV, PATCH UploadComplete), plus a wait."""

    def __init__(self, spec: ContenderSpec) -> None:
        from emulator.client_support import emulator_session

        self.session = emulator_session(spec.base_url, spec.ca_bundle)
        token = self.session.post(
            "https://login.salesforce.com/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "seed-port",
                "client_secret": "seed-port",
                "username": "bench@example.com",
                "password": "bench-password",
            },
            timeout=60,
        )
        token.raise_for_status()
        body = token.json()
        self.base = f"{body['instance_url']}/services/data/v{API_VERSION}/jobs/ingest"
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"
        self.calls = 0

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        response = self.session.request(method, url, timeout=300, **kwargs)
        response.raise_for_status()
        return response

    def submit(self, csv_text: str) -> str:
        job = self._call(
            "POST",
            self.base,
            json={
                "object": "Opportunity",
                "externalIdFieldName": "ExternalId__c",
                "contentType": "CSV",
                "operation": "upsert",
                "lineEnding": "LF",
            },
        ).json()
        job_id = str(job["id"])
        self._call(
            "PUT",
            f"{self.base}/{job_id}/batches",
            data=csv_text.encode("utf-8"),
            headers={"Content-Type": "text/csv"},
        )
        self._call("PATCH", f"{self.base}/{job_id}", json={"state": "UploadComplete"})
        return job_id

    def wait(self, job_id: str, poll: float) -> dict[str, Any]:
        while True:
            info = dict(self._call("GET", f"{self.base}/{job_id}").json())
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return info
            time.sleep(poll)


def _seed_csv(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def run_seed(spec: ContenderSpec) -> dict[str, Any]:
    """DynamicPartitionProcessorV2 in Python: 500-row pages, one job each, waited for, no retries."""
    poll = scaled(SEED_POLL_SECONDS, spec.time_scale)

    def work(partition: Partition) -> dict[str, Any]:
        _, datacloud = _hooks()
        client = _SeedBulkClient(spec)
        processed = succeeded = jobs = 0
        last: str | None = None
        # The seed queried until an empty result (a short page did not stop it).
        for header, rows, page_last in read_pages(
            datacloud, partition, SEED_PAGE, stop_on_short=False
        ):
            last = page_last
            processed += len(rows)
            csv_text = _seed_csv(header, rows)
            # makeBulkAPICallWithRetry: a failed *callout* is re-sent (up to 3 times); failed
            # *records* in a finished job are never retried.
            for attempt in range(SEED_MAX_RETRIES + 1):
                try:
                    job_id = client.submit(csv_text)
                    break
                except requests.RequestException:
                    if attempt == SEED_MAX_RETRIES:
                        raise
            jobs += 1
            info = client.wait(job_id, poll)
            succeeded += int(info.get("numberRecordsProcessed") or 0) - int(
                info.get("numberRecordsFailed") or 0
            )
        # The seed stopped after MAX_EMPTY_BATCHES empty results in a row: two more queries.
        for _ in range(SEED_MAX_EMPTY_BATCHES - 1):
            read_page(datacloud, partition, last, SEED_PAGE)
        return {
            "processed": processed,
            "succeeded": succeeded,
            "dead_lettered": processed - succeeded,
            "retried": 0,
            "first_pass_failed": processed - succeeded,
            "jobs": jobs,
            "client_calls": client.calls,
        }

    return {**_sum(_in_threads(spec.partitions, work)), "settings": {"poll_seconds": poll}}


# -- entry ---------------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[ContenderSpec], dict[str, Any]]] = {
    "ours": run_ours,
    "ours_processes": run_ours_processes,
    "simple_salesforce": run_simple_salesforce,
    "seed": run_seed,
}
#: The registry the harness iterates (by name).
CONTENDERS = RUNNERS


def _sum(parts: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("processed", "succeeded", "dead_lettered", "retried", "first_pass_failed", "jobs")
    total = {k: sum(int(p[k]) for p in parts) for k in (*keys, "client_calls")}
    total["per_partition"] = [{k: p[k] for k in keys} for p in parts]
    return total


def main(spec_path: str, result_path: str) -> None:
    spec = ContenderSpec.from_json(Path(spec_path).read_text(encoding="utf-8"))
    runner = RUNNERS[spec.contender]
    # Imports (Airflow, hooks, simple-salesforce) happen before the clock starts: they are the
    # same for every run and not the load's cost. RSS after them is the baseline.
    _hooks()
    import simple_salesforce  # noqa: F401

    baseline_rss = _current_rss_mb()
    cpu0, wall0 = _cpu(), time.perf_counter()
    outcome = runner(spec)
    wall = time.perf_counter() - wall0
    result = {
        "contender": spec.contender,
        "wall_seconds": wall,
        "cpu_seconds": _cpu() - cpu0,
        "peak_rss_mb": _rss_mb(),
        "baseline_rss_mb": baseline_rss,
        **outcome,
    }
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
