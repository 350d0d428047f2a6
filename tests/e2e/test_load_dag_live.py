"""Issue 5 acceptance: the load DAG in a real Airflow (scheduler, dag-processor, triggerer,
api-server; LocalExecutor, SQLite) against the emulator, triggered over the REST API.

What it proves, on one shared stack (tests/e2e/conftest.py):

* a 5-partition run over 20,000 rows with a 15 s stagger succeeds, every row lands exactly once and
  field for field, and ``reconcile`` says so;
* the staggered sensors release in partition order, none before run start + i × stagger;
* partition loads overlap as the stagger allows (each load lasts longer than the stagger);
* invalid conf is refused at trigger time, over REST and by ``airflow dags trigger``, with the
  Param schema's words, and no run is created;
* a partition that fails mid-load (marked failed over REST while its jobs are in flight, in
  deferrable mode, as a crashed worker would leave it) is re-run with ``clearTaskInstances`` and
  resumes from its checkpoint: it sends only the unsettled rest (plus at most one re-read chunk),
  and the org still holds each row exactly once.

Timing assertions are about order only (the machine is shared); waits are generous.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.rest import AirflowApiError
from include.dc2sf.operators.stagger_wait import INLINE_WAIT_SECONDS
from tests.e2e.conftest import DAG_ID, LiveEnv
from tests.support.loading import assert_exact

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

PARTITIONS = 5
STAGGER_MINUTES = 0.25  # 15 s between partition starts
#: Small jobs and two in flight: a 4,000-row partition needs 4 Bulk rounds, most through a 5 s
#: poll, so loads last about as long as the stagger and neighbours overlap.
LOAD_CONF: dict[str, Any] = {
    "partitions": PARTITIONS,
    "stagger_minutes": STAGGER_MINUTES,
    "records_per_job": 500,
    "max_in_flight": 2,
    "page_size": 1_000,
}
RUN_TIMEOUT = 480.0
#: Scheduler clocks and the REST timestamps are both the DB's; allow for rounding only.
CLOCK_TOLERANCE = dt.timedelta(seconds=1)


def _when(value: str | None) -> dt.datetime:
    assert value, "timestamp missing"
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def main_run(live_env: LiveEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The acceptance run: triggered over REST, waited for, with its task instances."""
    live_env.fresh_org()
    client = live_env.stack.client
    dead = tmp_path_factory.mktemp("dead-letters")
    conf = {**LOAD_CONF, "dead_letter_root": f"file://{dead}"}
    began = time.monotonic()
    run = client.trigger(DAG_ID, conf, note="test_load_dag_live")
    assert run["logical_date"] is None and run["conf"]["partitions"] == PARTITIONS
    run_id = run["dag_run_id"]
    finished = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=3.0)
    took = time.monotonic() - began
    tis = client.task_instances(DAG_ID, run_id)
    live_env.notes.append(f"main run {run_id}: {finished['state']} in {took:.0f}s")
    return {"run": finished, "run_id": run_id, "tis": tis, "seconds": took, "conf": conf}


def _mapped(tis: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return sorted(
        (ti for ti in tis if ti["task_id"] == task_id and ti["map_index"] >= 0),
        key=lambda ti: ti["map_index"],
    )


def _failure_context(env: LiveEnv, run: dict[str, Any]) -> str:
    lines = [f"{ti['task_id']}[{ti['map_index']}] {ti['state']}" for ti in run["tis"]]
    for ti in run["tis"]:
        if ti["state"] not in ("success", "skipped"):
            lines += env.stack.client.task_log(
                DAG_ID,
                run["run_id"],
                ti["task_id"],
                int(ti["try_number"] or 1),
                map_index=ti["map_index"],
            )[-8:]
    return "\n".join(lines) + "\n" + env.stack.log_tail("scheduler", 20)


def test_run_succeeds_and_every_row_is_loaded_exactly(
    live_env: LiveEnv, main_run: dict[str, Any]
) -> None:
    assert main_run["run"]["state"] == "success", _failure_context(live_env, main_run)
    assert {ti["state"] for ti in main_run["tis"]} == {"success"}
    loads = _mapped(main_run["tis"], "partition.load")
    assert [ti["map_index"] for ti in loads] == list(range(PARTITIONS))
    assert {ti["pool"] for ti in loads} == {"salesforce_bulk"}
    assert all(ti["rendered_map_index"].startswith(f"p{ti['map_index']} (") for ti in loads)

    # Field for field, once each, straight from the emulator's database.
    assert assert_exact(live_env.files) == live_env.rows
    assert live_env.org_count() == live_env.rows

    client = live_env.stack.client
    reconcile = client.xcom(DAG_ID, main_run["run_id"], "reconcile")
    assert reconcile["ok"] is True
    assert (reconcile["source"], reconcile["salesforce"], reconcile["missing"]) == (
        live_env.rows,
        live_env.rows,
        0,
    )
    assert reconcile["dead_lettered"] == 0
    assert sum(p["source"] for p in reconcile["partitions"]) == live_env.rows
    summary = client.xcom(DAG_ID, main_run["run_id"], "summary")
    assert "-> OK" in summary

    progress = [
        client.xcom(DAG_ID, main_run["run_id"], "partition.load", "progress", map_index=i)
        for i in range(PARTITIONS)
    ]
    assert [p["state"] for p in progress] == ["success"] * PARTITIONS
    assert sum(p["succeeded"] for p in progress) == live_env.rows
    # Each load task says what its own process cost (sizing workers; the benchmark's C figure).
    for index in range(PARTITIONS):
        returned = client.xcom(DAG_ID, main_run["run_id"], "partition.load", map_index=index)
        assert returned["succeeded"] == progress[index]["succeeded"]
        assert 50 < returned["process"]["peak_rss_mb"] < 4096
        assert returned["process"]["cpu_seconds"] > 0
    # A successful partition clears its checkpoint, or a later clear would resume at its end.
    for index in range(PARTITIONS):
        assert _checkpoint(live_env, main_run["run_id"], index) is None


def test_staggered_sensors_release_in_order(live_env: LiveEnv, main_run: dict[str, Any]) -> None:
    run_start = _when(main_run["run"]["start_date"])
    stagger = dt.timedelta(minutes=STAGGER_MINUTES)
    waits = _mapped(main_run["tis"], "partition.wait")
    assert [ti["map_index"] for ti in waits] == list(range(PARTITIONS))
    targets = [run_start + index * stagger for index in range(PARTITIONS)]
    released = [_when(ti["end_date"]) for ti in waits]
    for index, (target, moment) in enumerate(zip(targets, released, strict=True)):
        assert moment >= target - CLOCK_TOLERANCE, f"wait[{index}] released {moment} < {target}"
        # The rendered template is the target (dag_run.start_date + i x stagger).
        rendered = _when(waits[index]["rendered_fields"]["target_time"])
        assert abs(rendered - target) <= CLOCK_TOLERANCE
    # Sensors whose target was still ahead when they started really waited for it, so they
    # release in partition order. (Those already due when the plan and the worker's DAG parse were
    # done go at once, in whatever order their workers finish parsing.)
    waited = [i for i, ti in enumerate(waits) if targets[i] > _when(ti["start_date"])]
    assert len(waited) >= 2, f"only {waited} waited: plan took too long for the stagger"
    assert [released[i] for i in waited] == sorted(released[i] for i in waited), released
    # No retry: a sensor that lost its resumed run (the 404 race) would show try 2.
    assert [ti["try_number"] for ti in waits] == [1] * PARTITIONS
    # Already due: released in the worker, no trigger round trip (StaggerWaitSensor). Far
    # enough ahead (beyond the inline window plus a slow DAG parse): deferred to the triggerer.
    client = live_env.stack.client

    def log(index: int) -> str:
        lines = client.task_log(DAG_ID, main_run["run_id"], "partition.wait", 1, map_index=index)
        return "\n".join(lines)

    assert "DEFERRED" not in log(0)
    far = [
        i
        for i, ti in enumerate(waits)
        if (targets[i] - _when(ti["start_date"])).total_seconds() > INLINE_WAIT_SECONDS + 20
    ]
    for index in far:
        assert "DEFERRED" in log(index), log(index)[-2000:]
    # Every load started after its own sensor, not after all of them.
    loads = _mapped(main_run["tis"], "partition.load")
    for wait, load in zip(waits, loads, strict=True):
        assert _when(load["start_date"]) >= _when(wait["end_date"]) - CLOCK_TOLERANCE
    assert _when(loads[0]["start_date"]) < released[-1], "load 0 waited for the last sensor"
    live_env.notes.append(
        "sensor releases after run start (s): "
        + ", ".join(f"{(m - run_start).total_seconds():.1f}" for m in released)
        + f"; deferred: {far}"
    )


def test_partition_loads_overlap_as_the_stagger_allows(
    live_env: LiveEnv, main_run: dict[str, Any]
) -> None:
    run_start = _when(main_run["run"]["start_date"])
    loads = _mapped(main_run["tis"], "partition.load")
    spans = [(_when(ti["start_date"]), _when(ti["end_date"])) for ti in loads]
    overlapping = [
        (a, b)
        for (a, (sa, ea)), (b, (sb, eb)) in itertools.combinations(enumerate(spans), 2)
        if sa < eb and sb < ea
    ]
    live_env.notes.append(
        "load spans after run start (s): "
        + ", ".join(
            f"p{i} {(s - run_start).total_seconds():.1f}-{(e - run_start).total_seconds():.1f}"
            for i, (s, e) in enumerate(spans)
        )
        + f"; overlapping pairs {overlapping}"
    )
    # Partitions run side by side (pool salesforce_bulk has 5 slots), not one after another.
    assert len(overlapping) >= 2, f"loads {spans} overlap only in {overlapping}"


# -- invalid conf --------------------------------------------------------------------------------

INVALID_CONF = [
    ({"stagger_minutes": -1}, "-1 is less than the minimum of 0", "stagger_minutes"),
    ({"partitions": 0}, "0 is less than the minimum of 1", "partitions"),
    (
        {"boundary_mode": "by_magic"},
        "'by_magic' is not one of ['quantiles', 'explicit', 'seed_pattern']",
        "boundary_mode",
    ),
    ({"stagger_minutes": "soon"}, "'soon' is not of type 'number'", "stagger_minutes"),
]


@pytest.mark.parametrize(("conf", "message", "param"), INVALID_CONF)
def test_invalid_conf_is_refused_over_rest(
    live_env: LiveEnv, conf: dict[str, Any], message: str, param: str
) -> None:
    client = live_env.stack.client
    before = _run_ids(live_env)
    try:
        text = client.trigger_error(DAG_ID, conf)
    except AirflowApiError as exc:  # pragma: no cover - a 5xx would be a bug worth seeing
        pytest.fail(f"unexpected answer: {exc}")
    assert message in text, text
    assert param in text, text
    assert _run_ids(live_env) == before, "a refused trigger created a run"


def test_trigger_error_status_is_a_client_error(live_env: LiveEnv) -> None:
    client = live_env.stack.client
    response = client.request(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"partitions": 0}},
        expect=(400, 422),
    )
    assert response.status_code in (400, 422)


@pytest.mark.parametrize(
    ("conf", "message"),
    [(c, m) for c, m, _ in INVALID_CONF[1:3]],  # each CLI call costs ~4 s of CPU: two suffice
)
def test_invalid_conf_is_refused_by_the_cli(
    live_env: LiveEnv, conf: dict[str, Any], message: str
) -> None:
    before = _run_ids(live_env)
    result = live_env.stack.cli(
        "dags", "trigger", DAG_ID, "--conf", json.dumps(conf), check=False, timeout=180
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in output, output[-2000:]
    # Readable: the schema's sentence, not only a traceback.
    assert any(message in line and "Traceback" not in line for line in output.splitlines())
    assert _run_ids(live_env) == before


def _run_ids(env: LiveEnv) -> set[str]:
    body = env.stack.client.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})
    return {run["dag_run_id"] for run in body.json()["dag_runs"]}


# -- failure and resume --------------------------------------------------------------------------


def _checkpoint(env: LiveEnv, run_id: str, map_index: int) -> dict[str, Any] | None:
    response = env.stack.client.request(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/partition.load/state-store/checkpoint",
        params={"map_index": map_index},
        expect=(404,),
    )
    if response.status_code == 404:
        return None
    value = response.json()["value"]
    return json.loads(value) if isinstance(value, str) else dict(value)


def _poll(predicate: Any, timeout: float, interval: float = 1.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def sub_range(live_env: LiveEnv) -> Iterator[tuple[str, list[str]]]:
    """The first 6,000 source keys: a one-partition run of ~6 Bulk rounds."""
    with live_env.files.state.connect() as conn:
        keys = [
            row[0]
            for row in conn.execute(
                'SELECT "ExternalId__c" FROM "Opportunity_Source__dlm" ORDER BY 1 LIMIT 6000'
            )
        ]
    yield keys[-1], keys


def test_failed_partition_resumes_from_its_checkpoint_when_cleared(
    live_env: LiveEnv, sub_range: tuple[str, list[str]], tmp_path: Path
) -> None:
    range_end, keys = sub_range
    live_env.fresh_org()
    client = live_env.stack.client
    conf = {
        "partitions": 1,
        "stagger_minutes": 0,
        "range_end": range_end,
        "records_per_job": 500,
        "max_in_flight": 2,
        "page_size": 1_000,
        "deferrable": "yes",  # the waits go through BulkJobsTrigger in the real triggerer
        "dead_letter_root": f"file://{tmp_path}/dead",
    }
    chunk = conf["records_per_job"] * conf["max_in_flight"]
    run_id = client.trigger(DAG_ID, conf, note="resume test")["dag_run_id"]
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"

    # Let it settle a few chunks, then fail it as a crashed worker or an operator would.
    def settled_enough() -> dict[str, Any] | None:
        cp = _checkpoint(live_env, run_id, 0)
        return cp if cp and cp.get("watermark") and cp["chunks_done"] >= 2 else None

    _poll(settled_enough, timeout=300, what="two settled chunks")
    client.request("PATCH", f"{base}/partition.load/0", json={"new_state": "failed"})
    _poll(
        lambda: client.request("GET", f"{base}/partition.load/0").json()["state"] == "failed",
        timeout=60,
        what="the load to be failed",
    )
    # The failed partition fails the run: reconcile counts the shortfall and fails at once (a
    # permanent failure, not retried). Only then does the user act on the alerts; clearing
    # "only failed" while reconcile still ran would leave it out of the clear.
    ended = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=2.0)
    assert ended["state"] == "failed"
    reconcile_try = client.request("GET", f"{base}/reconcile").json()
    assert (reconcile_try["state"], reconcile_try["try_number"]) == ("failed", 1)

    time.sleep(3)  # let a killed try's last writes land before reading what it left
    at_failure = _checkpoint(live_env, run_id, 0)
    assert at_failure is not None and at_failure["watermark"], "checkpoint lost on failure"
    settled = at_failure["totals"]["succeeded"] + at_failure["totals"]["dead_lettered"]
    assert 0 < settled < len(keys)
    loaded_before = live_env.org_count()
    assert loaded_before >= settled

    # The user's re-run: clear the failed partition (and what follows it) over REST.
    cleared = client.request(
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [["partition.load", 0]],
            "only_failed": True,
            "include_downstream": True,
            "reset_dag_runs": True,
        },
    ).json()
    assert any(ti["task_id"] == "partition.load" for ti in cleared["task_instances"])
    finished = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, poll=3.0)
    load = client.request("GET", f"{base}/partition.load/0").json()
    assert finished["state"] == "success", client.task_log(
        DAG_ID, run_id, "partition.load", int(load["try_number"]), map_index=0
    )[-20:]
    assert load["try_number"] >= 2

    # Exactly once, field for field, and the reconcile agrees.
    assert assert_exact(live_env.files, keys) == len(keys)
    assert live_env.org_count() == len(keys)
    reconcile = client.xcom(DAG_ID, run_id, "reconcile")
    assert reconcile["ok"] is True and reconcile["salesforce"] == len(keys)

    # The new try said where it resumed, and sent only the rest: all rows sent over both tries
    # are the range plus at most the one chunk that was in flight at the failure.
    log = "\n".join(
        client.task_log(DAG_ID, run_id, "partition.load", int(load["try_number"]), map_index=0)
    )
    assert f"Resuming partition 0 from watermark '{at_failure['watermark']}'" in log, log[-3000:]
    in_flight = list((at_failure.get("chunk") or {}).get("jobs", {}).values())
    if in_flight:  # the jobs the failed try had submitted are named as re-attached, not re-sent
        assert "re-attaching" in log and all(job in log for job in in_flight), log[-3000:]
    live_env.notes.append(next(line for line in log.splitlines() if "Resuming partition" in line))
    sent = sum(int(job.get("numberRecordsProcessed") or 0) for job in live_env.jobs())
    assert len(keys) <= sent <= len(keys) + chunk, (sent, settled)
    assert sent < len(keys) + settled, "the cleared try started the partition over"
    progress = client.xcom(DAG_ID, run_id, "partition.load", "progress", map_index=0)
    assert progress["succeeded"] == len(keys) and progress["try_number"] == load["try_number"]
    live_env.notes.append(
        f"resume: failed at watermark {at_failure['watermark']} ({settled} settled), "
        f"{sent} rows sent in total for {len(keys)}"
    )
