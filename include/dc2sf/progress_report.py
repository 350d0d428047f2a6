"""The partition progress report of one DAG run: one builder for the UI plugin and the terminal.

Why this module exists: the plugin (reading the metadata DB inside the api-server) and the terminal
report (reading Airflow's public REST API when the plugin is absent) gather the same raw facts in
two different ways. Both hand them to :func:`build_report` as a :class:`RunSnapshot`, and both
render the resulting JSON-safe dict, so the page, the JSON endpoint and the terminal cannot
disagree. All record arithmetic (rate, ETA, success rate, totals) comes from
:mod:`include.dc2sf.logic.progress`; this module only adds what that one cannot know: the task
instance states (waiting / queued / retrying …), the stagger fire times of partitions that have not
started, and the run-wide projection over partitions that start later.

No Airflow imports here: the plugin and the CLI both import it, and it is unit-testable as is.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.progress import (
    COUNTER_FIELDS,
    LoadState,
    Progress,
    format_count,
    format_duration,
    format_percent,
    format_rate,
    iso,
    parse_time,
    total_progress,
)

SCHEMA_VERSION = 1

#: Task ids of the load DAG's shape (``plan`` → mapped group ``partition``: ``wait`` → ``load``).
PLAN_TASK_ID = "plan"
WAIT_TASK_ID = "partition.wait"
LOAD_TASK_ID = "partition.load"
PROGRESS_KEY = "progress"
#: ``plan``'s XCom ``{"rows", "file"}``: rows with a NULL key, dead-lettered before any partition.
NULL_KEYS_KEY = "null_keys"
DEFAULT_DAG_ID = "datacloud_to_salesforce"

#: How often the page (and ``--watch`` by default) refreshes while the run is active.
REFRESH_SECONDS = 5

ACTIVE_RUN_STATES = frozenset({"queued", "running"})
#: Display states of a partition whose load try has started (so it has counts, or should have).
_STARTED_STATES = frozenset({"running", "retrying", "up_for_retry", "failed"})
_TERMINAL_TI_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
_LOAD_ACTIVE_TI_STATES = frozenset({"running", "deferred", "restarting", "up_for_reschedule"})
_WAITING_TI_STATES = frozenset(
    {
        None,
        "none",
        "scheduled",
        "queued",
        "running",
        "deferred",
        "up_for_reschedule",
        "up_for_retry",
    }
)

#: Display state → tone (the CSS class and the colour family). Every state also has a text label.
TONES: dict[str, str] = {
    "planning": "idle",
    "waiting": "idle",
    "queued": "idle",
    "running": "active",
    "retrying": "warn",
    "up_for_retry": "warn",
    "success": "ok",
    "failed": "bad",
    "upstream_failed": "bad",
    "skipped": "idle",
    "removed": "idle",
    "unknown": "idle",
}


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """One mapped task instance as the DB or the REST API reports it."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int = 0
    max_tries: int | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    rendered_map_index: str | None = None
    #: Sensor only: when its trigger fires (trigger kwargs, else the rendered ``target_time``).
    fire_at: dt.datetime | None = None
    #: ``up_for_retry`` only: when Airflow will start the next try (None when unknown).
    retry_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        _normalise_times(self, ("start_date", "end_date", "fire_at", "retry_at"))


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """Everything the report needs about one run, gathered by the plugin or by the REST client."""

    dag_id: str
    run_id: str
    state: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    now: dt.datetime
    #: ``plan`` task's return value: one dict per partition (``partition``, ``range_*``,
    #: ``start_inclusive``, optional ``estimated_rows``); None before ``plan`` has run.
    plan: Sequence[Mapping[str, Any]] | None = None
    tasks: Sequence[TaskSnapshot] = ()
    #: map index → the latest ``progress`` XCom value of ``partition.load``.
    progress: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: ``plan``'s ``null_keys`` XCom; None before ``plan`` has run (or in a dry run).
    null_keys: Mapping[str, Any] | None = None
    stagger_minutes: float | None = None
    source: str = "plugin"

    def __post_init__(self) -> None:
        _normalise_times(self, ("start_date", "end_date", "now"))


def _normalise_times(snapshot: object, names: Sequence[str]) -> None:
    """Puts every timestamp of a snapshot into the one time model (aware UTC, stdlib class).

    Done here, where the facts enter, so neither the plugin nor the REST client can hand the
    arithmetic a naive or pendulum value, whatever form Airflow gave them.
    """
    for name in names:
        object.__setattr__(snapshot, name, parse_time(getattr(snapshot, name)))


# --- small helpers -------------------------------------------------------------------------------


def format_clock(moment: dt.datetime | None, now: dt.datetime) -> str:
    """``23:56:04 UTC`` today, ``2026-11-30 01:26:04 UTC`` on another day (``–`` when unknown)."""
    if moment is None:
        return "–"
    moment = moment.astimezone(dt.UTC)
    if moment.date() == now.astimezone(dt.UTC).date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ui_task_path(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """The Airflow UI page of one mapped TI (its first tab is the log), relative to the UI root.

    Relative (no leading slash) so the caller can prefix it with whatever leads back to the root
    of the deployment: ``../../../`` from the plugin page, the server URL in the terminal.
    """
    path = (
        f"dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/"
        f"{quote(task_id, safe='')}/mapped/{map_index}"
    )
    return f"{path}?try_number={try_number}" if try_number > 0 else path


def parse_progress(raw: Mapping[str, Any]) -> Progress:
    """A ``progress`` XCom value → :class:`Progress`, tolerant of how it was written.

    The operator may write ``started_at``/``updated_at`` as epoch seconds (an earlier contract)
    or ISO text (:meth:`Progress.to_dict`); ``state`` may be ``retrying``, which is a display
    state of the view, not a :class:`LoadState`: it counts as running for the arithmetic.
    """
    data = dict(raw)
    if data.get("updated_at") in (None, ""):
        data["updated_at"] = data.get("started_at")
    state = str(data.get("state") or LoadState.RUNNING.value)
    if state not in {s.value for s in LoadState}:
        data["state"] = LoadState.RUNNING.value
    for name in ("source_count",):
        if data.get(name) is not None:
            data[name] = int(data[name])
    return Progress.from_dict(data)


def _label(load: TaskSnapshot | None, index: int) -> str:
    """The TI's rendered map index (``map_index_template``), else ``partition <i>``.

    The REST API reports the bare index as the rendered one when no template rendered: ignore it.
    """
    rendered = load.rendered_map_index if load else None
    return rendered if rendered and rendered != str(index) else f"partition {index}"


def _range_label(item: Mapping[str, Any]) -> str:
    try:
        return KeyRange(
            start=item.get("range_start"),
            end=item.get("range_end"),
            start_inclusive=bool(item.get("start_inclusive") and item.get("range_start")),
        ).describe()
    except ValueError:
        return f"{item.get('range_start')!s} .. {item.get('range_end')!s}"


# --- partition state -----------------------------------------------------------------------------


def partition_state(
    wait: TaskSnapshot | None,
    load: TaskSnapshot | None,
    progress_state: str | None,
) -> str:
    """The one word the view shows for a partition, from both TIs and the loader's own state.

    The load TI wins once it has a state of its own; before that the sensor decides (the
    partition is *waiting* for its stagger slot). ``up_for_retry`` is Airflow's: a try failed
    (or was killed) and the next one starts at the TI's retry time; ``retrying`` is the loader's
    own record-retry round inside a running try (progress state ``retrying``).
    """
    load_state = load.state if load else None
    wait_state = wait.state if wait else None
    if load_state in _TERMINAL_TI_STATES:
        return str(load_state)
    if load_state == "up_for_retry":
        return "up_for_retry"
    if load_state in _LOAD_ACTIVE_TI_STATES:
        return "retrying" if progress_state == "retrying" else "running"
    if load_state == "queued" or (load_state == "scheduled" and wait_state == "success"):
        return "queued"
    if wait_state in ("failed", "upstream_failed", "skipped", "removed"):
        return "failed" if wait_state == "failed" else str(wait_state)
    if wait_state == "success":
        return "queued"
    if wait_state in _WAITING_TI_STATES:
        return "waiting"
    return "unknown"


def _state_label(
    state: str, fire_at: dt.datetime | None, load: TaskSnapshot | None, now: dt.datetime
) -> str:
    if state == "waiting":
        return f"waiting until {format_clock(fire_at, now)}" if fire_at else "waiting"
    if state == "up_for_retry":
        retry_at = load.retry_at if load else None
        return f"up for retry at {format_clock(retry_at, now)}" if retry_at else "up for retry"
    if state == "retrying" and load is not None:
        return f"retrying (try {load.try_number})" if load.try_number > 1 else "retrying"
    if state == "running" and load is not None and load.try_number > 1:
        return f"running (try {load.try_number})"
    return state.replace("_", " ")


def _fire_time(
    wait: TaskSnapshot | None, map_index: int, snapshot: RunSnapshot
) -> dt.datetime | None:
    """When partition ``map_index`` is released: the sensor's own target, else the stagger rule.

    The rule is the DAG's: ``dag_run.start_date + map_index × stagger_minutes``.
    """
    if wait is not None and wait.fire_at is not None:
        return wait.fire_at
    if snapshot.start_date is None or snapshot.stagger_minutes is None:
        return None
    return snapshot.start_date + dt.timedelta(minutes=snapshot.stagger_minutes * map_index)


# --- the report ----------------------------------------------------------------------------------


def build_report(snapshot: RunSnapshot) -> dict[str, Any]:
    """The JSON-safe progress report of one run (the plugin endpoint's body, the CLI's input)."""
    now = snapshot.now
    plan_items = {
        int(item.get("partition", index)): item for index, item in enumerate(snapshot.plan or [])
    }
    waits = {t.map_index: t for t in snapshot.tasks if t.task_id == WAIT_TASK_ID}
    loads = {t.map_index: t for t in snapshot.tasks if t.task_id == LOAD_TASK_ID}
    # Before the mapped group expands its TIs have map index -1: the plan lists the partitions.
    indexes = sorted(i for i in {*plan_items, *waits, *loads, *snapshot.progress} if i >= 0)

    parsed: dict[int, Progress] = {}
    errors: dict[int, str] = {}
    for index, raw in snapshot.progress.items():
        try:
            parsed[index] = parse_progress(raw)
        except (ValueError, TypeError) as exc:  # one bad XCom must not hide the other partitions
            errors[index] = f"unreadable progress XCom: {exc}"

    # Source counts: the loader's own COUNT(*) when it has one, else the planner's estimate.
    for index, progress in list(parsed.items()):
        estimate = plan_items.get(index, {}).get("estimated_rows")
        if progress.source_count is None and isinstance(estimate, int):
            parsed[index] = replace(progress, source_count=estimate)

    rates = [p.rate_per_second for p in parsed.values() if p.rate_per_second]
    typical_rate = statistics.median(rates) if rates else None

    partitions: list[dict[str, Any]] = []
    for index in indexes:
        partitions.append(
            _partition_entry(
                index,
                snapshot,
                plan_items.get(index, {}),
                waits.get(index),
                loads.get(index),
                snapshot.progress.get(index),
                parsed.get(index),
                errors.get(index),
                typical_rate,
            )
        )

    totals = _totals(partitions, parsed, snapshot)
    run_state = snapshot.state
    active = run_state in ACTIVE_RUN_STATES
    return {
        "schema_version": SCHEMA_VERSION,
        "source": snapshot.source,
        "generated_at": iso(now),
        "refresh_seconds": REFRESH_SECONDS if active else None,
        "run": {
            "dag_id": snapshot.dag_id,
            "run_id": snapshot.run_id,
            "state": run_state,
            "active": active,
            "start_date": iso(snapshot.start_date),
            "end_date": iso(snapshot.end_date),
            "stagger_minutes": snapshot.stagger_minutes,
            "planned": snapshot.plan is not None,
        },
        "partitions": partitions,
        "totals": totals,
        "plan_dead_letters": _plan_dead_letters(snapshot.null_keys),
    }


def _plan_dead_letters(null_keys: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The NULL-key rows ``plan`` dead-lettered (in no partition, so reported on their own)."""
    if not null_keys:
        return None
    rows = null_keys.get("rows")
    rows = rows if isinstance(rows, int) and not isinstance(rows, bool) else 0
    return {"rows": rows, "file": null_keys.get("file"), "display": {"rows": format_count(rows)}}


def _partition_entry(
    index: int,
    snapshot: RunSnapshot,
    plan_item: Mapping[str, Any],
    wait: TaskSnapshot | None,
    load: TaskSnapshot | None,
    raw: Mapping[str, Any] | None,
    progress: Progress | None,
    error: str | None,
    typical_rate: float | None,
) -> dict[str, Any]:
    now = snapshot.now
    source = dict(plan_item)
    if raw:
        source.update({k: raw[k] for k in ("range_start", "range_end") if k in raw})
    state = partition_state(wait, load, str(raw.get("state")) if raw else None)
    fire_at = _fire_time(wait, index, snapshot) if state == "waiting" else None
    try_number = load.try_number if load else 0
    counters = {name: (getattr(progress, name) if progress else 0) for name in COUNTER_FIELDS}
    estimate = plan_item.get("estimated_rows")
    source_count = (
        progress.source_count if progress else (estimate if isinstance(estimate, int) else None)
    )
    estimated = bool(
        source_count is not None
        and not (raw and raw.get("source_count") is not None)
        and isinstance(estimate, int)
    )
    terminal = state in _TERMINAL_TI_STATES
    # A try that started but has not pushed progress yet (a new try's XComs are cleared when it
    # starts) knows nothing this view can show: its counts are unknown, not zero.
    reported = progress is not None or state not in _STARTED_STATES
    retry_at = load.retry_at if load is not None and state == "up_for_retry" else None
    unsettled = progress.unsettled if progress and state != "success" else 0
    rate = progress.rate_per_second if progress else None
    eta = progress.eta_seconds if progress and not terminal else None
    finish = progress.projected_finish if progress and not terminal else None
    if progress is None and state in ("waiting", "queued") and source_count is not None:
        # Not started yet: it starts at its fire time and runs at the pace of the others.
        start = max(fire_at or now, now)
        if source_count == 0:
            finish = start
        elif typical_rate:
            finish = start + dt.timedelta(seconds=source_count / typical_rate)
        eta = (finish - now).total_seconds() if finish else None
    if progress is not None and retry_at is not None and progress.eta_seconds is not None:
        # Up for retry: nothing moves until the next try starts, then it goes on at its pace.
        finish = max(retry_at, now) + dt.timedelta(seconds=progress.eta_seconds)
        eta = (finish - now).total_seconds()
    if terminal and progress is not None:
        finish = None
    percent = progress.percent_complete if progress else None
    if progress is None and reported and source_count is not None and state != "success":
        percent = 100.0 if source_count == 0 else 0.0  # not started: nothing settled yet
    if state == "success" and percent is None:
        percent = 100.0
    dag_id, run_id = snapshot.dag_id, snapshot.run_id
    entry: dict[str, Any] = {
        "map_index": index,
        "partition": int(source.get("partition", index)),
        "name": f"p{int(source.get('partition', index))}",
        "label": _label(load, index),
        "range_start": source.get("range_start"),
        "range_end": source.get("range_end"),
        "range": _range_label(source) if source else None,
        "state": state,
        "tone": TONES.get(state, "idle"),
        "state_label": _state_label(state, fire_at, load, now),
        "waiting_until": iso(fire_at),
        "retry_at": iso(retry_at),
        "wait_state": wait.state if wait else None,
        "load_state": load.state if load else None,
        "progress_state": raw.get("state") if raw else None,
        "try_number": try_number,
        "max_tries": load.max_tries if load else None,
        **counters,
        "reported": reported,
        "settled": progress.settled if progress else 0,
        "unsettled": unsettled,
        "source_count": source_count,
        "source_count_estimated": estimated,
        "percent_complete": _round(percent, 2),
        "rate_per_second": _round(rate, 3),
        "success_rate": _round(progress.success_rate if progress else None, 6),
        "eta_seconds": _round(eta, 1),
        "projected_finish": iso(finish),
        "watermark": raw.get("watermark") if raw else None,
        "started_at": iso(progress.started_at) if progress else None,
        "updated_at": iso(progress.updated_at) if progress else None,
        "log_url": ui_task_path(dag_id, run_id, LOAD_TASK_ID, index, try_number) if load else None,
        "wait_log_url": ui_task_path(dag_id, run_id, WAIT_TASK_ID, index, wait.try_number)
        if wait
        else None,
        "dead_letter_folder": raw.get("dead_letter_folder") if raw else None,
        "dead_letter_files": list(raw.get("dead_letter_files") or []) if raw else [],
        # Records per job, jobs in flight and, when the load fell back to single-batch jobs
        # because the org cuts jobs elsewhere than packing assumes, the reason (else null).
        "job_shape": raw.get("job_shape") if raw else None,
        "error": error,
    }
    entry["display"] = {
        **{name: format_count(counters[name] if reported else None) for name in counters},
        "unsettled": format_count(unsettled),
        "source_count": ("~" if estimated else "") + format_count(source_count),
        "percent_complete": "–" if percent is None else f"{percent:.1f}%",
        "rate": format_rate(rate),
        "success_rate": format_percent(progress.success_rate if progress else None, 2),
        "eta": format_duration(eta) if eta is not None else "–",
        "projected_finish": format_clock(finish, now),
        "waiting_until": format_clock(fire_at, now) if fire_at else "–",
        "retry_at": format_clock(retry_at, now) if retry_at else "–",
        "retry_in": format_duration((retry_at - now).total_seconds()) if retry_at else "–",
    }
    return entry


def _totals(
    partitions: Sequence[Mapping[str, Any]], parsed: Mapping[int, Progress], snapshot: RunSnapshot
) -> dict[str, Any]:
    now = snapshot.now
    base = total_progress(parsed.values())
    counts = [p["source_count"] for p in partitions]
    source_count = sum(counts) if partitions and None not in counts else None
    totals = replace(base, source_count=source_count)
    data = totals.to_dict()
    states: dict[str, int] = {}
    for item in partitions:
        states[item["state"]] = states.get(item["state"], 0) + 1
    data["partitions"] = len(partitions)
    data["states"] = states
    data["load_states"] = dict(base.states)
    percent = (
        (100.0 if source_count == 0 else min(100.0, 100.0 * totals.settled / source_count))
        if source_count is not None
        else None
    )
    data["percent_complete"] = _round(percent, 2)
    success_rate = totals.success_rate
    finished = bool(partitions) and all(p["state"] in _TERMINAL_TI_STATES for p in partitions)
    if finished:
        projected_succeeded: int | None = totals.counters["succeeded"]
        finish: dt.datetime | None = None
    else:
        projected_succeeded = (
            round(success_rate * source_count)
            if success_rate is not None and source_count is not None
            else None
        )
        ends = [
            parse_time(p["projected_finish"])
            for p in partitions
            if p["state"] not in _TERMINAL_TI_STATES
        ]
        finish = max(ends) if ends and None not in ends else None  # type: ignore[type-var]
    data["projected_succeeded"] = projected_succeeded
    data["projected_finish"] = iso(finish)
    data["eta_seconds"] = (
        _round((finish - now).total_seconds(), 1) if finish else (0.0 if finished else None)
    )
    waiting = [p for p in partitions if p["state"] == "waiting"]
    data["waiting"] = len(waiting)
    data["display"] = {
        **{
            name: format_count(totals.counters[name])
            for name in (
                "processed",
                "succeeded",
                "failed",
                "retried",
                "dead_lettered",
                "api_calls",
                "jobs_total",
                "jobs_in_flight",
            )
        },
        "settled": format_count(totals.settled),
        "source_count": format_count(source_count),
        "percent_complete": "–" if percent is None else f"{percent:.1f}%",
        "rate": format_rate(totals.rate_per_second),
        "success_rate": format_percent(success_rate, 2),
        "projected_succeeded": format_count(projected_succeeded),
        "projected_finish": format_clock(finish, now),
        "eta": format_duration(data["eta_seconds"]) if data["eta_seconds"] is not None else "–",
    }
    return data


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- terminal rendering --------------------------------------------------------------------------

RULE = "=" * 64


def render_text(report: Mapping[str, Any], *, server_url: str | None = None) -> str:
    """The report as the seed's ``check_test8_progress`` printed it, from the JSON report only.

    Rendering reads nothing but ``report`` (its ``display`` strings), so what the terminal shows
    is what the endpoint returned.
    """
    run = report["run"]
    totals = report["totals"]
    show = totals["display"]
    parts: Sequence[Mapping[str, Any]] = report["partitions"]
    lines = [
        RULE,
        "PARTITION PROGRESS",
        f"{run['dag_id']} / {run['run_id']}",
        f"Run state: {run['state']}   as of {report['generated_at']}",
        RULE,
        "",
    ]
    waiting = [p for p in parts if p["state"] == "waiting"]
    if waiting:
        lines.append(f"Scheduled Partitions: {len(waiting)}")
        lines += [f"  {p['label']}: {p['display']['waiting_until']} (WAITING)" for p in waiting]
        lines.append("")
    lines.append("Partition Status:")
    width = max((len(p["label"]) for p in parts), default=0)
    for p in parts:
        d = p["display"]
        lines.append(
            f"  {p['label']:<{width}}  {d['processed']:>11} records, {d['succeeded']:>11} loaded, "
            f"{d['dead_lettered']:>7} dead-lettered, {d['api_calls']:>7} calls, "
            f"jobs {d['jobs_in_flight']}/{d['jobs_total']} in flight, "
            f"{d['rate']}, ETA {d['eta']} ({p['state_label']})"
        )
        if p["state"] == "up_for_retry":
            lines.append(
                f"  {'':<{width}}  next try at {d['retry_at']} (in {d['retry_in']}); "
                f"{d['unsettled']} records sent before the try ended are counted when it "
                "re-attaches their Bulk jobs"
            )
        if server_url and p.get("log_url"):
            lines.append(f"  {'':<{width}}  log: {server_url.rstrip('/')}/{p['log_url']}")
        if p.get("dead_letter_folder") and p.get("dead_lettered"):
            lines.append(f"  {'':<{width}}  dead letters: {p['dead_letter_folder']}")
        shape = p.get("job_shape") or {}
        if shape.get("fallback"):
            lines.append(
                f"  {'':<{width}}  jobs of {shape['records_per_job']:,} records, "
                f"{shape['max_in_flight']} in flight, since: {shape['fallback']}"
            )
        if p.get("error"):
            lines.append(f"  {'':<{width}}  ! {p['error']}")
    if not parts:
        lines.append("  (no partitions yet: the plan task has not run)")
    plan_letters = report.get("plan_dead_letters")
    if plan_letters and plan_letters["rows"]:
        lines.append(
            f"  NULL-key rows dead-lettered by plan: {plan_letters['display']['rows']}"
            f" ({plan_letters['file']})"
        )
    lines += [
        "",
        f"Total Processed: {show['processed']} records",
        f"Total Loaded: {show['succeeded']} records",
        f"Total Dead-lettered: {show['dead_lettered']} records",
        f"Total Failed Attempts: {show['failed']}   Retried: {show['retried']}",
        f"Total API Calls: {show['api_calls']}",
        f"Source Records: {show['source_count']}   Complete: {show['percent_complete']}",
        f"Current Success Rate: {show['success_rate']}",
        f"Rate: {show['rate']}",
        "",
        f"Projected Final: ~{show['projected_succeeded']} records loaded",
        "Projected Finish: "
        + (
            f"{show['projected_finish']} (in {show['eta']})"
            if report["totals"].get("projected_finish")
            else show["projected_finish"]
        ),
        f"Active Jobs: {show['jobs_in_flight']}",
        "",
        RULE,
    ]
    return "\n".join(lines)
