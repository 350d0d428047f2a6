"""The `reconcile` and `summary` tasks: source vs Salesforce, per partition and in total.

For every planned range, the source count (Data Cloud `COUNT(*)`) is compared with what Salesforce
holds for the same external-id range (`SELECT COUNT() ... WHERE ExternalId__c > a AND <= b`), next
to what the load reported (its `progress` XCom: loaded, dead-lettered). The run fails when the
share of source rows present in Salesforce is below `min_success_rate`.

The Salesforce side counts by external id range, which assumes the mapping writes the source key
into the external id field unchanged (the default). SOQL compares text case-insensitively: keys
that differ only in case around a boundary would be counted in the neighbouring range (the total
is still right).
"""

from __future__ import annotations

import logging
from typing import Any

from include.dc2sf import defaults
from include.dc2sf.engine.errors import PermanentLoadError
from include.dc2sf.engine.planning import config_from_params
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.keyset_sql import build_count_query, build_soql_count_in_range
from include.dc2sf.logic.progress import format_count, format_percent

log = logging.getLogger(__name__)

LOAD_TASK_ID = "partition.load"


class ReconciliationFailed(PermanentLoadError, RuntimeError):
    """Fewer source rows are in Salesforce than the run requires.

    Permanent: the counts are read after every partition has ended, so reconciling again gives
    the same answer. The fix is to load the missing rows (clear the failed partitions, which
    clears this task too, or trigger the range again).
    """


def _progress(ti: Any, map_index: int) -> dict[str, Any]:
    if ti is None:
        return {}
    value = ti.xcom_pull(task_ids=LOAD_TASK_ID, key="progress", map_indexes=map_index)
    return value if isinstance(value, dict) else {}


def reconcile_run(
    plan: list[dict[str, Any]],
    params: dict[str, Any],
    ti: Any = None,
    *,
    salesforce: SalesforceBulk2Hook | None = None,
    datacloud: DataCloudHook | None = None,
) -> dict[str, Any]:
    config = config_from_params(params)
    salesforce = salesforce or SalesforceBulk2Hook(defaults.SALESFORCE_CONN_ID)
    datacloud = datacloud or DataCloudHook(defaults.DATACLOUD_CONN_ID, salesforce_hook=salesforce)
    rows: list[dict[str, Any]] = []
    for entry in plan:
        key_range = KeyRange(
            entry["range_start"], entry["range_end"], bool(entry["start_inclusive"])
        )
        source = int(
            datacloud.scalar(
                build_count_query(
                    dmo=config.source_dmo, key_column=config.mapping.key_column, key_range=key_range
                )
            )
            or 0
        )
        in_salesforce = salesforce.count(
            build_soql_count_in_range(
                sobject=config.target_object,
                external_id_field=config.external_id_field,
                key_range=key_range,
            )
        )
        progress = _progress(ti, int(entry["partition"]))
        rows.append(
            {
                "partition": int(entry["partition"]),
                "range": key_range.describe(),
                "source": source,
                "salesforce": in_salesforce,
                "missing": max(source - in_salesforce, 0),
                "loaded": progress.get("succeeded"),
                "dead_lettered": progress.get("dead_lettered"),
                "state": progress.get("state", "no progress reported"),
                "api_calls": progress.get("api_calls"),
                "jobs": progress.get("jobs_total"),
                "dead_letter_folder": progress.get("dead_letter_folder"),
                "success_rate": (in_salesforce / source) if source else 1.0,
            }
        )
    null_keys = (ti.xcom_pull(task_ids="plan", key="null_keys") if ti is not None else None) or {}
    source_total = sum(r["source"] for r in rows)
    salesforce_total = sum(r["salesforce"] for r in rows)
    report = {
        "partitions": rows,
        "source": source_total,
        "salesforce": salesforce_total,
        "missing": max(source_total - salesforce_total, 0),
        "dead_lettered": sum(r["dead_lettered"] or 0 for r in rows) + int(null_keys.get("rows", 0)),
        "null_key_rows": int(null_keys.get("rows", 0)),
        "null_key_file": null_keys.get("file"),
        "api_calls": sum(r["api_calls"] or 0 for r in rows),
        "jobs": sum(r["jobs"] or 0 for r in rows),
        "success_rate": (salesforce_total / source_total) if source_total else 1.0,
        "min_success_rate": float(params.get("min_success_rate", 1.0)),
    }
    report["ok"] = report["success_rate"] >= report["min_success_rate"]
    log.info("%s", format_report(report))
    if not report["ok"]:
        raise ReconciliationFailed(
            f"{format_count(salesforce_total)} of {format_count(source_total)} source rows are in Salesforce "
            f"({format_percent(report['success_rate'], 3)}), below min_success_rate "
            f"{format_percent(report['min_success_rate'], 3)}. Missing per partition: "
            + ", ".join(f"p{r['partition']}={r['missing']}" for r in rows if r["missing"])
            + ". Dead letters are listed per partition in the progress view; clear the failed "
            "partitions to resume them."
        )
    return report


def format_report(report: dict[str, Any]) -> str:
    """The reconciliation as a fixed-width table (task log, summary task, `make demo`)."""
    lines = [
        "=" * 96,
        "RECONCILIATION",
        "=" * 96,
        f"{'part':>4}  {'range':<44} {'source':>10} {'salesforce':>10} {'missing':>8} {'dead':>6}",
    ]
    for row in report["partitions"]:
        lines.append(
            f"{row['partition']:>4}  {row['range'][:44]:<44} {format_count(row['source']):>10} "
            f"{format_count(row['salesforce']):>10} {format_count(row['missing']):>8} "
            f"{format_count(row['dead_lettered']) if row['dead_lettered'] is not None else '-':>6}"
        )
    lines += [
        "-" * 96,
        f"Total source rows:      {format_count(report['source'])}",
        f"In Salesforce:          {format_count(report['salesforce'])}",
        f"Missing:                {format_count(report['missing'])}",
        f"Dead-lettered:          {format_count(report['dead_lettered'])}"
        + (
            f" (incl. {format_count(report['null_key_rows'])} with a NULL key: {report['null_key_file']})"
            if report.get("null_key_rows")
            else ""
        ),
        f"Bulk jobs / API calls:  {format_count(report['jobs'])} / {format_count(report['api_calls'])}",
        f"Success rate:           {format_percent(report['success_rate'], 3)} "
        f"(required {format_percent(report['min_success_rate'], 3)}) -> {'OK' if report['ok'] else 'FAILED'}",
        "=" * 96,
    ]
    return "\n".join(lines)
