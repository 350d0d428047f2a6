"""Every contender in ``bench.contenders.CONTENDERS`` finishes at tiny size, and the org agrees.

One emulator process with scenario B's org model (8 workers, 2,000 rec/s/worker, 10 s lock wait,
80 ms latency, Zipf-skewed parents) at a small time scale; before each contender a reset and the
same seeded rows; each contender in its own child process, as the harness runs it. Checked
against the org (the emulator's SQLite file and its counters), never against time:

* the contender finished and read every source row;
* loaded + failed = source rows, nothing duplicated, and what it says it saved is what the org
  holds;
* every contender lands the same field values (``user_stack`` maps with pandas, the rest with the
  product's mapping);
* ``seed`` makes the seed's calls: three per 500-record job and one status read per job at the
  end, never a poll.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.compare import connection_env, plan, run_contender
from bench.contenders import CONTENDERS
from bench.contenders.seed import SEED_PAGE
from bench.emulator_process import TARGET_TABLE, DataSpec, EmulatorProcess, OrgModel
from bench.matrix import SMOKE, time_scale
from bench.profiles import profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The harness's smoke-size scenario B on its control profile: a small time scale, its rows.
TUNED = profile("tuned")
MODEL = OrgModel.of(TUNED, time_scale("B", smoke=True))
DATA = DataSpec(SMOKE.b_headline_rows, TUNED.accounts, skew=TUNED.skew)
COMPARED = [name for name, c in CONTENDERS.items() if c.compared]
FIELDS = (
    "ExternalId__c",
    "Name",
    "StageName",
    "Amount",
    "CloseDate",
    "AccountId",
    "Probability",
    "Description",
    "IsPrivate",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Each compared contender run once: its result, the org's counts and what landed."""
    workdir = tmp_path_factory.mktemp("contenders")
    out: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(MODEL, workdir / "emulator") as emulator:
        partitions = None
        for name in COMPARED:
            emulator.reset_and_seed(DATA)
            if partitions is None:
                with pytest.MonkeyPatch.context() as env:  # plan() sets the connections
                    for key, value in connection_env(emulator).items():
                        env.setenv(key, value)
                    partitions = plan(emulator)
            client = run_contender(emulator, name, partitions, workdir / name)
            out[name] = {
                "client": client,
                "org": emulator.org_usage(),
                "landed": emulator.landed(),
                "values": _landed_values(emulator.db_path),
                "partitions": len(partitions),
            }
    yield out


def _landed_values(db_path: Path) -> dict[str, tuple[Any, ...]]:
    columns = ", ".join(f'"{f}"' for f in FIELDS)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f'SELECT {columns} FROM {TARGET_TABLE} WHERE "IsDeleted" = 0')
        return {row[0]: row for row in rows}
    finally:
        conn.close()


def test_the_registry_has_the_issue_contenders() -> None:
    assert COMPARED == ["ours", "ss_sorted", "ss_naive", "user_stack", "seed"]
    assert all(c.description and c.name == n for n, c in CONTENDERS.items())


@pytest.mark.parametrize("name", COMPARED)
def test_contender_finishes_and_the_org_agrees(runs: dict[str, dict[str, Any]], name: str) -> None:
    run = runs[name]
    client, landed, org = run["client"], run["landed"], run["org"]
    assert client["completed"]
    assert landed["source_rows"] == DATA.rows
    assert client["processed"] == DATA.rows
    assert landed["duplicated"] == 0
    assert landed["opportunities"] + landed["lost"] == DATA.rows
    assert client["succeeded"] == landed["opportunities"]
    # The org processed every row exactly once per contender that never retries.
    if name != "ours":
        assert org["job_records_processed"] == DATA.rows
        assert org["job_records_processed"] - org["job_records_failed"] == landed["opportunities"]
    assert org["jobs_not_complete"] == 0
    assert client["jobs"] == org["bulk_jobs"] > 0


def test_ours_loses_nothing(runs: dict[str, dict[str, Any]]) -> None:
    assert runs["ours"]["landed"]["lost"] == 0
    assert runs["ours"]["client"]["dead_lettered"] == 0


def test_every_contender_lands_the_same_values(runs: dict[str, dict[str, Any]]) -> None:
    """Where two contenders both landed a record, its fields are identical."""
    reference = runs["ours"]["values"]
    assert len(reference) == DATA.rows
    for name in COMPARED:
        values = runs[name]["values"]
        assert values, name
        for key, row in values.items():
            assert row == reference[key], (name, key)


def test_sorted_contenders_upload_one_job_per_partition(runs: dict[str, dict[str, Any]]) -> None:
    for name in ("ss_sorted", "user_stack"):
        assert runs[name]["client"]["settings"]["sorted_by"] == "AccountId"
        assert runs[name]["client"]["jobs"] == runs[name]["partitions"]
    # ss_naive: 10,000-record jobs, so one per partition at this size too, but in key order.
    assert runs["ss_naive"]["client"]["settings"]["sorted_by"] is None


def test_seed_makes_the_seeds_calls_and_never_polls(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["seed"]
    client, org = run["client"], run["org"]
    per_partition = client["per_partition"]
    # One 500-record job per page of each partition.
    assert client["jobs"] == sum(math.ceil(p["processed"] / SEED_PAGE) for p in per_partition)
    # create + upload + close per job, then one status read per job (plus any re-read of a job
    # still running at the end): what the client made is what the org counted.
    calls = 4 * client["jobs"] + client["status_rereads"]
    assert client["client_calls"] == calls
    assert org["api_requests"] == calls
