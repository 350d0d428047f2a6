"""``seed``: the Apex original (``DynamicPartitionProcessorV2`` + ``DelayedBatchStarterV2``)
ported call for call.

What the seed did, per partition, and what the port does for each step:

* ``execute()``: one Data Cloud query, ``WHERE key > last AND key <= end ORDER BY key LIMIT
  500`` (the shared reader's keyset page of 500), a CSV, and three callouts: create the job
  (POST), upload (PUT), close (PATCH ``UploadComplete``). It never asked how the job went.
  ``makeBulkAPICallWithRetry`` re-sent a *failed callout* up to 3 times; failed *records* were
  never retried.
* ``finish()``: count an empty result; stop after 3 empty results in a row (a short page does
  not stop it); otherwise enqueue ``DelayedBatchStarterV2``, a Queueable whose queue time plus
  the next batch's start took 20-30 s (the seed's own comment). The port sleeps a seeded
  uniform 20-30 simulated seconds (× the org's time scale) between executions, empty ones too.
* The end: the seed's progress script counted what had landed once the chain was done. The port
  reads each of its jobs' info once (one GET each) after the chain and sums
  ``numberRecordsProcessed - numberRecordsFailed``; a job still running then is read again one
  chain delay later (counted as ``status_rereads``: a job slowed by lock waits outlasts the
  chain's trailing empty executions).

Partition starts: the seed's start script staggered them by 90 minutes; the port staggers them
by ``SEED_START_STAGGER_SECONDS`` (why: there). Left out: ``MAX_BATCHES`` (800), a guard the
seed sized to its own 400,000-row partitions (400K / 500), so that a partition's chain never
ends early. Login: the Apex ran with its own session; the port makes one OAuth call
per partition (counted by the org as a login).
"""

from __future__ import annotations

import csv
import io
import random
import time
from typing import Any

import requests

from bench.contenders.common import (
    ContenderSpec,
    Partition,
    in_threads,
    no_retry_counts,
    scaled,
    sum_parts,
)
from bench.contenders.reader import hooks, read_page

#: RECORDS_PER_BATCH: records per Data Cloud page and per Bulk job.
SEED_PAGE = 500
#: MAX_EMPTY_BATCHES: empty results in a row that end a partition's chain.
SEED_MAX_EMPTY_BATCHES = 3
#: MAX_RETRIES: re-sends of a failed callout.
SEED_MAX_RETRIES = 3
#: The Queueable chain's delay between two executions, simulated seconds (low, high).
SEED_CHAIN_DELAY_SECONDS = (20.0, 30.0)
#: Simulated seconds between two partitions' starts. The seed never started two partitions
#: together: its start script ran partition 0 at once and scheduled the others 90 minutes apart,
#: so their chains ran out of phase. Started together, five chains submit their first jobs at the
#: same moment and, never waiting for a job, keep piling new jobs onto the lock waits of the
#: first ones (measured: bench/README.md, "seed"). A fifth of the mean chain delay spreads the
#: five first jobs over one chain period, out of phase as the seed's were, without the 6 hours
#: its own stagger would add to every run (``stagger_seconds=5400`` gives that).
SEED_START_STAGGER_SECONDS = 5.0
API_VERSION = "59.0"
_FINAL_STATES = ("JobComplete", "Failed", "Aborted")


class SeedBulkClient:
    """The seed's raw HTTP callouts (create job, PUT CSV, PATCH UploadComplete, job info)."""

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
        """createBulkJob, uploadDataToJob, closeJob: three callouts, no waiting."""
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

    def submit_with_retry(self, csv_text: str) -> str:
        """makeBulkAPICallWithRetry: a failed callout is re-sent, up to ``SEED_MAX_RETRIES``."""
        for attempt in range(SEED_MAX_RETRIES + 1):
            try:
                return self.submit(csv_text)
            except requests.RequestException:
                if attempt == SEED_MAX_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def job_info(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{self.base}/{job_id}").json())


def seed_csv(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """buildCSVContent: header plus one line per record, LF line endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def chain_delay(rng: random.Random, time_scale: float) -> float:
    """Real seconds between two executions of one partition's chain."""
    return scaled(rng.uniform(*SEED_CHAIN_DELAY_SECONDS), time_scale)


def run_seed(spec: ContenderSpec) -> dict[str, Any]:
    """Every partition's chain at once; then each job's final status, read once.

    The i-th partition's chain starts i × ``SEED_START_STAGGER_SECONDS`` (simulated) later,
    or ``spec.settings["stagger_seconds"]``.
    """
    stagger = float(spec.settings.get("stagger_seconds", SEED_START_STAGGER_SECONDS))
    position = {p.index: i for i, p in enumerate(spec.partitions)}

    def work(partition: Partition) -> dict[str, Any]:
        if stagger and position[partition.index]:
            time.sleep(position[partition.index] * stagger * spec.time_scale)
        _, datacloud = hooks()
        client = SeedBulkClient(spec)
        rng = random.Random(f"seed-chain-{partition.index}")
        job_ids: list[str] = []
        processed = empty = 0
        last: str | None = None
        while True:  # one iteration = one execute() + finish() of the Batch class
            header, rows, count, last = read_page(datacloud, partition, last, SEED_PAGE)
            if count:
                empty = 0
                processed += len(rows)
                job_ids.append(client.submit_with_retry(seed_csv(header, rows)))
            else:
                empty += 1
                if empty >= SEED_MAX_EMPTY_BATCHES:
                    break
            time.sleep(chain_delay(rng, spec.time_scale))
        succeeded, rereads = _final_status(client, job_ids, rng, spec.time_scale)
        counts = no_retry_counts(processed, succeeded, len(job_ids), client.calls)
        return {**counts, "status_rereads": rereads}

    parts = in_threads(spec.partitions, work)
    return {
        **sum_parts(parts),
        "status_rereads": sum(int(p["status_rereads"]) for p in parts),
        "settings": {
            "page": SEED_PAGE,
            "stagger_seconds": stagger,
            "chain_delay_seconds": [scaled(s, spec.time_scale) for s in SEED_CHAIN_DELAY_SECONDS],
        },
    }


def _final_status(
    client: SeedBulkClient, job_ids: list[str], rng: random.Random, time_scale: float
) -> tuple[int, int]:
    """(records saved, re-reads): each job's info once; one still running, again a delay later."""
    succeeded = rereads = 0
    pending = list(job_ids)
    while pending:
        still: list[str] = []
        for job_id in pending:
            info = client.job_info(job_id)
            if info["state"] not in _FINAL_STATES:
                still.append(job_id)
                continue
            succeeded += int(info.get("numberRecordsProcessed") or 0) - int(
                info.get("numberRecordsFailed") or 0
            )
        rereads += len(still)
        pending = still
        if pending:
            time.sleep(chain_delay(rng, time_scale))
    return succeeded, rereads
