"""simple-salesforce bulk2, unmodified: ``ss_naive`` (rows in key order, as they are read) and
``ss_sorted`` (rows sorted by parent first, the batch size that served it best).

Both read their partition whole with the shared reader, then make one
``sf.bulk2.Opportunity.upsert(records=...)`` call per partition in a thread of its own. The
client splits the records into jobs of ``batch_size`` and runs them one after another, each
waited for with its own polling (``wait=`` its default 5 s, scaled like every client wait).
"""

from __future__ import annotations

import operator
from typing import Any

from bench.contenders.common import (
    ContenderSpec,
    Partition,
    in_threads,
    no_retry_counts,
    scaled,
    sum_parts,
)
from bench.contenders.reader import hooks, read_pages

#: simple-salesforce's own default for ``upsert(wait=...)``: seconds before the first poll,
#: then the base of its poll interval.
SSF_DEFAULT_WAIT = 5.0
#: ``ss_naive``: one job per 10,000 records, Salesforce's internal batch size (one batch a job).
NAIVE_BATCH_SIZE = 10_000
#: ``ss_sorted``: no split (``None``): one job per partition, which Salesforce cuts into
#: internal batches that run in parallel on the org's workers. With the records sorted by parent
#: those batches share at most their boundary parents. Measured against 10,000 and 50,000 on
#: scenario B's org model (bench/README.md, "ss_sorted's batch size"): the fastest of the three.
SORTED_BATCH_SIZE: int | None = None
#: The Opportunity field holding the parent (Account) id.
PARENT_FIELD = "AccountId"


def salesforce_client(spec: ContenderSpec) -> Any:
    """The unmodified simple-salesforce client, its requests routed to the emulator."""
    from simple_salesforce import Salesforce

    from emulator.client_support import emulator_session

    return Salesforce(
        username="bench@example.com",
        password="bench-password",
        security_token="bench-token",
        session=emulator_session(spec.base_url, spec.ca_bundle),
    )


def sorted_upsert(spec: ContenderSpec, records: list[dict[str, str]]) -> tuple[int, int]:
    """``ss_sorted``'s upload, also ``user_stack``'s: sort by parent (Salesforce's advice
    against parent-row lock contention), then one upsert. Returns (records saved, jobs)."""
    records.sort(key=operator.itemgetter(PARENT_FIELD))  # stable: key order within a parent
    return upsert(spec, records, sorted_settings(spec)["batch_size"])


def upsert(
    spec: ContenderSpec, records: list[dict[str, str]], batch_size: int | None
) -> tuple[int, int]:
    """One ``bulk2.Opportunity.upsert`` call; returns (records the org saved, jobs)."""
    from include.dc2sf import defaults

    results = salesforce_client(spec).bulk2.Opportunity.upsert(
        records=records,
        external_id_field=defaults.EXTERNAL_ID_FIELD,
        batch_size=batch_size,
        wait=scaled(SSF_DEFAULT_WAIT, spec.time_scale),
    )
    saved = sum(int(r["numberRecordsProcessed"]) - int(r["numberRecordsFailed"]) for r in results)
    return saved, len(results)


def _read_records(partition: Partition) -> list[dict[str, str]]:
    """The whole partition as dicts (what ``upsert(records=...)`` takes), read with our reader."""
    _, datacloud = hooks()
    records: list[dict[str, str]] = []
    for header, rows, _ in read_pages(datacloud, partition, 10_000):
        records.extend(dict(zip(header, row, strict=True)) for row in rows)
    return records


def run_ss_naive(spec: ContenderSpec) -> dict[str, Any]:
    """Rows in key order (as read), jobs of 10,000."""
    batch_size = spec.settings.get("batch_size", NAIVE_BATCH_SIZE)

    def work(partition: Partition) -> dict[str, Any]:
        records = _read_records(partition)
        saved, jobs = upsert(spec, records, batch_size)
        return no_retry_counts(len(records), saved, jobs)

    parts = in_threads(spec.partitions, work)
    return {**sum_parts(parts), "settings": settings(spec, batch_size, sorted_by=None)}


def run_ss_sorted(spec: ContenderSpec) -> dict[str, Any]:
    """Rows sorted by parent, then one upsert with ``SORTED_BATCH_SIZE``."""

    def work(partition: Partition) -> dict[str, Any]:
        records = _read_records(partition)
        saved, jobs = sorted_upsert(spec, records)
        return no_retry_counts(len(records), saved, jobs)

    parts = in_threads(spec.partitions, work)
    return {**sum_parts(parts), "settings": sorted_settings(spec)}


def settings(spec: ContenderSpec, batch_size: int | None, sorted_by: str | None) -> dict[str, Any]:
    """The settings a run used, for the result JSON."""
    return {
        "batch_size": batch_size,
        "wait": scaled(SSF_DEFAULT_WAIT, spec.time_scale),
        "sorted_by": sorted_by,
    }


def sorted_settings(spec: ContenderSpec) -> dict[str, Any]:
    """``ss_sorted``'s settings (``spec.settings`` may override the batch size)."""
    return settings(spec, spec.settings.get("batch_size", SORTED_BATCH_SIZE), PARENT_FIELD)
