"""The `plan` task: validate the whole load up front, then split the key space into partitions.

Everything that can be checked before the first write is checked here, so a bad trigger fails in
seconds with a message instead of hours later: the mapping and identifiers (MappingSpec,
LoadConfig), the mapping against the target object's describe, the source range's row count, and
the org's daily allowance for the whole plan.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from typing import Any

from include.dc2sf import defaults
from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.dead_letters import DeadLetter, DeadLetterWriter, default_dead_letter_root
from include.dc2sf.engine.errors import ConfInvalid, SourceUnfit, conf_errors_are_permanent
from include.dc2sf.engine.limits import check_daily_allowance, plan_for
from include.dc2sf.engine.target_fit import validate_against_org
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.keyset_sql import (
    build_count_query,
    build_null_key_count_query,
    build_null_key_query,
    build_quantile_boundaries_query,
)
from include.dc2sf.logic.mapping import MappingSpec
from include.dc2sf.logic.planner import (
    PlannedPartition,
    plan_from_boundaries,
    plan_from_quantiles,
    plan_seed_pattern,
)

log = logging.getLogger(__name__)

#: The keys the mapped task group takes (expand_kwargs passes exactly these).
PARTITION_KEYS = ("partition", "range_start", "range_end", "start_inclusive", "estimated_rows")


def overall_range(params: dict[str, Any]) -> KeyRange:
    """The part of the key space this run loads: (range_start, range_end], open when unset."""
    return KeyRange(start=params.get("range_start") or None, end=params.get("range_end") or None)


@conf_errors_are_permanent
def config_from_params(params: dict[str, Any], key_range: KeyRange | None = None) -> LoadConfig:
    """A LoadConfig built from the run's Params: the same validation the load task applies."""
    return LoadConfig(
        partition=0,
        key_range=key_range or overall_range(params),
        source_dmo=params.get("source_dmo", defaults.SOURCE_DMO),
        mapping=MappingSpec.from_dict(params.get("mapping", defaults.OPPORTUNITY_MAPPING)),
        target_object=params.get("target_object", defaults.TARGET_OBJECT),
        external_id_field=params.get("external_id_field", defaults.EXTERNAL_ID_FIELD),
        page_size=int(params.get("page_size", 10_000)),
        records_per_job=int(params.get("records_per_job", defaults.RECORDS_PER_JOB)),
        max_in_flight=int(params.get("max_in_flight", defaults.MAX_IN_FLIGHT)),
        failure_threshold=float(params.get("failure_threshold", 0.0)),
        dead_letter_root=params.get("dead_letter_root") or "file:///unused-at-plan-time",
    )


def _clip(plan: list[PlannedPartition], bounds: KeyRange) -> list[PlannedPartition]:
    """Open ends of a quantile plan become the run's own bounds, when it has any."""
    if not plan:
        return plan
    first, last = plan[0], plan[-1]
    clipped = list(plan)
    if bounds.start is not None and first.key_range.start is None:
        clipped[0] = PlannedPartition(
            first.index, KeyRange(bounds.start, first.key_range.end), first.estimated_rows
        )
    last = clipped[-1]
    if bounds.end is not None and last.key_range.end is None:
        clipped[-1] = PlannedPartition(
            last.index,
            KeyRange(last.key_range.start, bounds.end, last.key_range.start_inclusive),
            last.estimated_rows,
        )
    return clipped


def _partition_count(params: dict[str, Any]) -> int:
    return int(params.get("partitions", 5))


@conf_errors_are_permanent
def fixed_partitions(params: dict[str, Any]) -> list[PlannedPartition] | None:
    """The plan when the conf fixes the boundaries (explicit or seed pattern); None for quantiles.

    Pure: every error here is the conf's (ConfInvalid).
    """
    mode = params.get("boundary_mode") or "quantiles"
    if params.get("boundaries"):
        # The Param default for boundary_mode is "quantiles", so given boundaries must win over
        # it (the DAG says partitions are ignored when boundaries are given); before, they were
        # silently ignored. Only a contradicting explicit choice is refused.
        if mode == "seed_pattern":
            raise ValueError(
                "both boundaries and boundary_mode=seed_pattern are set; remove the boundaries "
                "or set boundary_mode to explicit"
            )
        mode = "explicit"
    if mode == "explicit":
        boundaries = params.get("boundaries") or []
        return plan_from_boundaries(boundaries)
    if mode == "seed_pattern":
        return plan_seed_pattern(
            int(params.get("seed_pattern_total") or defaults.SEED_PATTERN_TOTAL),
            _partition_count(params),
        )
    if mode != "quantiles":
        raise ValueError(f"boundary_mode must be quantiles, explicit or seed_pattern, got {mode!r}")
    return None


def partitions_for(
    params: dict[str, Any], datacloud: DataCloudHook, config: LoadConfig
) -> list[PlannedPartition]:
    fixed = fixed_partitions(params)
    if fixed is not None:
        return fixed
    partitions = _partition_count(params)
    bounds = config.key_range
    _, rows = datacloud.query_all(
        build_quantile_boundaries_query(
            dmo=config.source_dmo,
            key_column=config.mapping.key_column,
            tiles=partitions,
            key_range=bounds,
        )
    )
    uppers = [str(row[1]) for row in rows]
    counts = [int(row[2]) for row in rows]
    return _clip(plan_from_quantiles(uppers, row_counts=counts), bounds)


def check_known_keys(params: dict[str, Any], known: Iterable[str]) -> None:
    """Refuse conf keys the DAG does not define.

    Airflow adds an unknown trigger-conf key to the params without complaint, so a typo such as
    `partitons` would silently run with the default. Refused here, before anything is written.
    """
    known = sorted(known)
    unknown = sorted(set(params) - set(known))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfInvalid(
        f"unknown conf key(s): {', '.join(hints)}; remove or rename them. Known keys: {known}"
    )


#: More null-key rows than this is not a data-quality blip: the run is refused.
MAX_NULL_KEY_ROWS = 50_000


def null_key_count(datacloud: DataCloudHook, dmo: str, key_column: str) -> int:
    return int(datacloud.scalar(build_null_key_count_query(dmo=dmo, key_column=key_column)) or 0)


def dead_letter_null_keys(
    params: dict[str, Any],
    run_id: str,
    *,
    datacloud: DataCloudHook | None = None,
) -> dict[str, Any]:
    """Rows with a NULL key cannot be read by key nor upserted: write them to a dead-letter file.

    Returns `{"rows": n, "file": url | None}` for the reconciliation. Refuses the run (before any
    write to Salesforce) when there are more than MAX_NULL_KEY_ROWS of them.
    """
    config = config_from_params(params)
    datacloud = datacloud or DataCloudHook(defaults.DATACLOUD_CONN_ID)
    key = config.mapping.key_column
    count = null_key_count(datacloud, config.source_dmo, key)
    if count == 0:
        return {"rows": 0, "file": None}
    if count > MAX_NULL_KEY_ROWS:
        raise SourceUnfit(
            f"{count:,} rows of {config.source_dmo} have a NULL {key}: they cannot be loaded by key. "
            "Fix the source (or filter those rows out of the DMO) and trigger again."
        )
    columns, rows = datacloud.query_all(
        build_null_key_query(
            dmo=config.source_dmo,
            columns=config.mapping.source_columns,
            key_column=key,
            limit=count,
        )
    )
    positions = {column.name: index for index, column in enumerate(columns)}
    writer = DeadLetterWriter.for_plan(
        params.get("dead_letter_root") or default_dead_letter_root(), run_id, config.mapping.header
    )
    letters = [
        DeadLetter(
            "",
            f"NULL_SOURCE_KEY: {key} is NULL; the row cannot be matched or upserted by key",
            tuple(
                ""
                if m.source is None or row[positions[m.source]] is None
                else str(row[positions[m.source]])
                for m in config.mapping.fields
            ),
        )
        for row in rows
    ]
    path = writer.write(0, 0, letters)
    log.warning("%d source rows have a NULL %s: dead-lettered to %s", len(letters), key, path)
    return {"rows": len(letters), "file": path}


def plan_partitions(
    params: dict[str, Any],
    *,
    salesforce: SalesforceBulk2Hook | None = None,
    datacloud: DataCloudHook | None = None,
    known_keys: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Validate the run and return one `expand_kwargs` entry per partition.

    `known_keys` (the DAG's Param names) makes unknown conf keys an error.
    """
    if known_keys is not None:
        check_known_keys(params, known_keys)
    config = config_from_params(params)
    salesforce = salesforce or SalesforceBulk2Hook(defaults.SALESFORCE_CONN_ID)
    datacloud = datacloud or DataCloudHook(defaults.DATACLOUD_CONN_ID, salesforce_hook=salesforce)
    validate_against_org(config, salesforce)
    plan = partitions_for(params, datacloud, config)
    total_rows = int(
        datacloud.scalar(
            build_count_query(
                dmo=config.source_dmo,
                key_column=config.mapping.key_column,
                key_range=config.key_range,
            )
        )
        or 0
    )
    if not params.get("dry_run"):
        check_daily_allowance(salesforce, plan_for(config, rows=total_rows, partitions=len(plan)))
    for planned in plan:
        log.info(
            "partition %d: %s (~%s rows)",
            planned.index,
            planned.key_range.describe(),
            planned.estimated_rows if planned.estimated_rows is not None else "?",
        )
    log.info(
        "%d partitions, %d source rows in %s", len(plan), total_rows, config.key_range.describe()
    )
    return [{key: planned.to_dict()[key] for key in PARTITION_KEYS} for planned in plan]
