"""A throw-away Airflow (temp AIRFLOW_HOME, migrated SQLite DB, SimpleAuthManager users) for the
progress plugin tests, with seeded runs.

How "a user without access to the DAG" is expressed: SimpleAuthManager has only global roles
(viewer < user < op < admin) and every role, even viewer, may read every DAG; it cannot deny one
DAG. A user configured with an *empty* role (``outsider:`` in ``[core] simple_auth_manager_users``)
logs in, but the manager authorizes nothing for it, so the DAG checks answer 403; that is what
such a user gets from Airflow's own ``/api/v2`` routes too (asserted in the tests). A real
deployment (FAB or Astro roles) grants per-DAG access and the plugin asks the same question.

Airflow reads its config once per process, and other test packages may have imported it already
with the repo's ``.airflow`` home, so the session fixture switches the live config and ORM to the
temp home (``conf.set`` + ``settings.reconfigure_orm``) and switches back at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[3]
PASSWORDS = {"admin": "admin-pass-1", "viewer": "viewer-pass-1", "outsider": "outsider-pass-1"}
USERS = "admin:admin,viewer:viewer,outsider:"
FERNET_KEY = "yNfDqHxLJ1qY4KvmjDJbYl0cGv6aHnU9c1Fw3S8dP0Q="
JWT_SECRET = "dc2sf-plugin-tests-only-" + "0123456789abcdef" * 4


def _settings(home: Path) -> dict[tuple[str, str], str]:
    from progress_seeding import FIXTURE_DAGS

    return {
        ("database", "sql_alchemy_conn"): f"sqlite:///{home / 'airflow.db'}",
        ("core", "dags_folder"): str(FIXTURE_DAGS),
        ("core", "plugins_folder"): str(REPO / "plugins"),
        ("core", "load_examples"): "False",
        ("core", "auth_manager"): (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        ("core", "simple_auth_manager_users"): USERS,
        ("core", "simple_auth_manager_all_admins"): "False",
        ("core", "simple_auth_manager_passwords_file"): str(home / "passwords.json"),
        ("core", "fernet_key"): FERNET_KEY,
        ("api_auth", "jwt_secret"): JWT_SECRET,
        ("api", "base_url"): "",
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Temp AIRFLOW_HOME, `airflow db migrate`d, made the live config of this process."""
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    settings_map = _settings(home)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "PYTHONPATH": str(REPO),
        **{f"AIRFLOW__{s.upper()}__{k.upper()}": v for (s, k), v in settings_map.items()},
    }
    airflow_bin = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow_bin), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    from airflow import settings
    from airflow.configuration import conf

    saved: dict[tuple[str, str], str | None] = {}
    for (section, key), value in settings_map.items():
        saved[(section, key)] = conf.get(section, key, fallback=None)
        conf.set(section, key, value)
    saved_env = {k: os.environ.get(k) for k in ("AIRFLOW_HOME",)}
    os.environ["AIRFLOW_HOME"] = str(home)
    settings.configure_vars()
    settings.reconfigure_orm()
    try:
        from progress_seeding import sync_fixture_dag

        sync_fixture_dag()
        yield home
    finally:
        for (section, key), value in saved.items():
            if value is not None:
                conf.set(section, key, value)
            else:
                conf.remove_option(section, key)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings.configure_vars()
        settings.reconfigure_orm()


@pytest.fixture(scope="session")
def api_app(airflow_home: Path) -> Any:
    """The real api-server app (core API, auth manager, plugins), as `airflow api-server` builds it."""
    from airflow.api_fastapi.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(api_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(api_app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tokens(client: Any) -> dict[str, str]:
    """A JWT per configured user, from `POST /auth/token` like any API client."""
    result = {}
    for user, password in PASSWORDS.items():
        response = client.post("/auth/token", json={"username": user, "password": password})
        assert response.status_code == 201, response.text
        result[user] = response.json()["access_token"]
    return result


@pytest.fixture(scope="session")
def dead_letters(airflow_home: Path) -> Iterator[Any]:
    """Runs with dead letters on ``file://`` and ``memory://`` (see dead_letter_seeding.py)."""
    import dead_letter_seeding

    with dead_letter_seeding.memory_storage():
        yield dead_letter_seeding.seed(airflow_home)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the seeded scenario ------------------------------------------------------------------------

ACTIVE_RUN = "manual__progress_active"
FINISHED_RUN = "manual__progress_finished"
RETRY_RUN = "manual__progress_retry"
#: Partition 2 of the active run fell back to single-batch jobs (the loader's split guard).
JOB_SHAPE_FALLBACK = "2 row-lock failure(s) in 2 multi-batch job(s) that shared no Account"


@dataclass
class Scenario:
    """What was seeded, so tests compare the report against independent arithmetic."""

    start: dt.datetime
    stagger_minutes: float
    progress: dict[int, dict[str, Any]] = field(default_factory=dict)
    fire_at: dict[int, dt.datetime] = field(default_factory=dict)
    estimated_rows: dict[int, int] = field(default_factory=dict)
    dead_letter_root: Path | None = None
    #: Retry run: when partition 0's killed try ended.
    killed_at: dt.datetime | None = None


@pytest.fixture(scope="session")
def scenario(airflow_home: Path) -> Scenario:
    """Two runs of the fixture DAG.

    Active run (5 partitions, stagger 30 min, started 70 min ago), like the seed's Test8:
      p0 loaded and succeeded; p1 loading; p2 loading in a record-retry round (try 2);
      p3 sensor deferred until its trigger's moment; p4 sensor not started yet (fire time from
      the stagger rule, with the DAG's Param default since the run's conf has none).
    Finished run: p0 success, p1 failed, p2 upstream_failed.
    Retry run (older than the active one): p0's try 1 was killed 20 s ago with 10,000 of 40,000
      records settled and 30,000 sent (``up_for_retry``, its progress XCom still there); p1's
      try 2 has started and has not pushed progress yet (a new try's XComs are cleared).
    """
    import progress_seeding as s

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(minutes=70)
    dl_root = airflow_home / "dead_letters"
    folder = dl_root / ACTIVE_RUN.replace(":", "_") / "partition-001"
    folder.mkdir(parents=True)
    dl_file = folder / "chunk-000000-round-01.csv"
    dl_file.write_text("partition,key,sf__Error,Name\n1,k01007,REQUIRED_FIELD_MISSING:Name,\n")
    sc = Scenario(start=start, stagger_minutes=30, dead_letter_root=dl_root)
    plan = [
        {
            "partition": i,
            "range_start": None if i == 0 else f"k{i:02d}000",
            "range_end": None if i == 4 else f"k{i + 1:02d}000",
            "start_inclusive": False,
            "estimated_rows": 40_000,
        }
        for i in range(5)
    ]
    sc.estimated_rows = {i: 40_000 for i in range(5)}
    s.create_run(ACTIVE_RUN, start=start, plan=plan, conf={"dead_letter_root": f"file://{dl_root}"})
    minutes = dt.timedelta(minutes=1)
    sc.progress[0] = s.progress_value(
        0,
        started=start + 1 * minutes,
        updated=start + 21 * minutes,
        state="success",
        processed=40_000,
        succeeded=39_600,
        failed=900,
        retried=800,
        dead_lettered=400,
        api_calls=61,
        jobs_total=8,
        jobs_in_flight=0,
        source_count=40_000,
        watermark="k01000",
    )
    sc.progress[1] = s.progress_value(
        1,
        started=start + 31 * minutes,
        updated=now - 1 * minutes,
        epoch=True,
        processed=25_000,
        succeeded=22_500,
        failed=2_600,
        retried=2_400,
        dead_lettered=100,
        api_calls=57,
        jobs_total=6,
        jobs_in_flight=2,
        watermark="k01620",
        dead_letter_files=[f"file://{dl_file}", "file:///etc/passwd"],
        dead_letter_folder=f"file://{folder}",
    )
    sc.progress[2] = s.progress_value(
        2,
        started=start + 61 * minutes,
        updated=now,
        state="retrying",
        try_number=2,
        processed=6_000,
        succeeded=4_000,
        failed=2_100,
        retried=2_000,
        dead_lettered=0,
        api_calls=19,
        jobs_total=2,
        jobs_in_flight=1,
        watermark="k02150",
        job_shape={"records_per_job": 10_000, "max_in_flight": 8, "fallback": JOB_SHAPE_FALLBACK},
    )
    for i in range(3):
        s.set_ti(ACTIVE_RUN, s.WAIT, i, "success")
        s.push_progress(ACTIVE_RUN, i, sc.progress[i])
    s.set_ti(ACTIVE_RUN, s.LOAD, 0, "success", rendered_map_index="p0 (start .. k01000]")
    s.set_ti(ACTIVE_RUN, s.LOAD, 1, "running")
    s.set_ti(ACTIVE_RUN, s.LOAD, 2, "running", try_number=2)
    sc.fire_at[3] = start + dt.timedelta(minutes=90)
    s.set_ti(ACTIVE_RUN, s.WAIT, 3, "deferred", trigger_moment=sc.fire_at[3])
    sc.fire_at[4] = start + dt.timedelta(minutes=120)  # stagger rule, DAG Param default 30

    s.create_run(
        FINISHED_RUN,
        start=start - dt.timedelta(days=1),
        end=start - dt.timedelta(days=1) + dt.timedelta(hours=2),
        state="failed",
        plan=plan[:3],
    )
    s.set_ti(FINISHED_RUN, s.WAIT, 0, "success")
    s.set_ti(FINISHED_RUN, s.WAIT, 1, "success")
    s.set_ti(FINISHED_RUN, s.WAIT, 2, "failed")
    s.set_ti(FINISHED_RUN, s.LOAD, 0, "success")
    s.set_ti(FINISHED_RUN, s.LOAD, 1, "failed", try_number=3)
    s.set_ti(FINISHED_RUN, s.LOAD, 2, "upstream_failed", try_number=0)
    t0 = start - dt.timedelta(days=1)
    s.push_progress(
        FINISHED_RUN,
        0,
        s.progress_value(
            0,
            started=t0,
            updated=t0 + 30 * minutes,
            state="success",
            processed=40_000,
            succeeded=40_000,
            api_calls=40,
            jobs_total=4,
            source_count=40_000,
        ),
    )
    s.push_progress(
        FINISHED_RUN,
        1,
        s.progress_value(
            1,
            started=t0 + 30 * minutes,
            updated=t0 + 50 * minutes,
            state="failed",
            processed=10_000,
            succeeded=5_000,
            dead_lettered=5_000,
            failed=5_000,
            api_calls=12,
            jobs_total=1,
        ),
    )
    _seed_retry_run(sc, plan[:2], now)
    return sc


def _seed_retry_run(sc: Scenario, plan: list[dict[str, Any]], now: dt.datetime) -> None:
    import progress_seeding as s

    start = now - dt.timedelta(hours=3)
    s.create_run(RETRY_RUN, start=start, plan=plan)
    sc.killed_at = now - dt.timedelta(seconds=20)
    for i in range(2):
        s.set_ti(RETRY_RUN, s.WAIT, i, "success")
    s.set_ti(RETRY_RUN, s.LOAD, 0, "up_for_retry", end_date=sc.killed_at)
    s.set_ti(RETRY_RUN, s.LOAD, 1, "running", try_number=2)
    s.push_progress(
        RETRY_RUN,
        0,
        s.progress_value(
            0,
            started=start,
            updated=sc.killed_at - dt.timedelta(seconds=5),
            processed=40_000,
            succeeded=10_000,
            api_calls=30,
            jobs_total=8,
            jobs_in_flight=6,
            source_count=40_000,
            watermark="k00250",
        ),
    )
