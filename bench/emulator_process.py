"""The emulator in its own process, configured per scenario, plus the admin calls the harness needs.

Why a separate process: the benchmark measures the *client's* CPU and memory with
``getrusage`` in the client process; an in-process (thread mode) emulator would add its own CPU
to that figure and share the client's GIL. ``python -m emulator serve`` has no flags for the
Bulk processing model (workers, records/s/worker, lock wait), so this module is also a tiny
launcher (``python -m bench.emulator_process CONFIG.json``) that builds a full
``EmulatorConfig`` and calls the same ``emulator.server.serve``.

The database lives in a file under the run's tmp folder so the harness can check, with plain
SQLite after a contender finished, how many source rows landed once, twice or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from bench.profiles import OrgProfile

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TABLE = "Opportunity_Source__dlm"
TARGET_TABLE = "sobject_opportunity"


@dataclass(frozen=True)
class OrgModel:
    """What the emulated org costs (a profile's knobs plus the run's time scale).

    All durations are *simulated* seconds. ``latency_seconds`` is applied per request as
    ``latency_seconds × time_scale`` real seconds, so a scaled run keeps every part of the
    timeline (network, processing, lock waits, client polls) in the same proportion as an
    unscaled one. ``bulk`` overrides further ``BulkProcessingConfig`` fields as they are.
    """

    time_scale: float = 0.0
    workers: int = 8
    records_per_second_per_worker: float = 0.0
    lock_wait_seconds: float = 10.0
    latency_seconds: float = 0.0
    bulk: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, profile: OrgProfile, time_scale: float) -> OrgModel:
        return cls(
            time_scale=time_scale,
            workers=profile.workers,
            records_per_second_per_worker=profile.records_per_second_per_worker,
            lock_wait_seconds=profile.lock_wait_seconds,
            latency_seconds=profile.latency_seconds,
            bulk=dict(profile.bulk),
        )

    def bulk_config(self) -> Any:
        """The emulator's ``BulkProcessingConfig`` for this model (unknown overrides raise)."""
        from emulator.bulk2.config import BulkProcessingConfig

        return BulkProcessingConfig(
            workers=self.workers,
            records_per_second_per_worker=self.records_per_second_per_worker,
            lock_wait_seconds=self.lock_wait_seconds,
            **self.bulk,
        )


@dataclass(frozen=True)
class DataSpec:
    """The synthetic source: same values → same rows in every contender's fresh emulator."""

    rows: int
    accounts: int = 20_000
    skew: float = 0.0
    seed: int = 42


def _serve(config_path: Path) -> None:
    """Child entry point: build the EmulatorConfig from JSON and serve until terminated."""
    from emulator.config import EmulatorConfig
    from emulator.faults import FaultProfile
    from emulator.server import serve

    spec = json.loads(config_path.read_text(encoding="utf-8"))
    model = OrgModel(**spec["model"])
    # serve() configures INFO logging with one line per request; at millions of records that is
    # real CPU in the emulator process. Configuring WARNING first makes its basicConfig a no-op.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    faults = FaultProfile()
    if model.latency_seconds > 0 and model.time_scale > 0:
        faults = FaultProfile.from_dict(
            {
                "seed": 1,
                "groups": {
                    "*": {
                        "latency_seconds": model.latency_seconds * model.time_scale,
                        "latency_rate": 1.0,
                    }
                },
            }
        )
    config = EmulatorConfig(
        host="127.0.0.1",
        port=0,
        tls=True,
        time_scale=model.time_scale,
        db_path=Path(spec["db_path"]),
        faults=faults,
        # The daily allowance must not be what limits a benchmark (the seed method at 2M rows
        # makes tens of thousands of calls); usage is still counted and reported.
        api_daily_request_max=10_000_000,
        bulk_daily_batch_max=1_000_000,
        bulk=model.bulk_config(),
    )
    serve(config, Path(spec["tls_dir"]))


class EmulatorProcess:
    """Start ``python -m bench.emulator_process`` and talk to its admin API."""

    def __init__(self, model: OrgModel, workdir: Path) -> None:
        self.model = model
        self.workdir = workdir
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.ca_bundle = ""
        self.db_path = workdir / "emulator.sqlite3"
        self.admin = requests.Session()

    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> EmulatorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        config = self.workdir / "emulator-config.json"
        config.write_text(
            json.dumps(
                {
                    "model": asdict(self.model),
                    "db_path": str(self.db_path),
                    "tls_dir": str(self.workdir / "tls"),
                }
            ),
            encoding="utf-8",
        )
        log = (self.workdir / "emulator.log").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator_process", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while not (self.base_url and self.ca_bundle):
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"emulator did not start; see {self.workdir}/emulator.log")
                continue
            if line.startswith("Salesforce emulator on "):
                self.base_url = line.split(" on ", 1)[1].strip()
            elif "CA bundle:" in line:
                self.ca_bundle = line.split("CA bundle:", 1)[1].strip()
        # A requests.Session's own `verify` loses to REQUESTS_CA_BUNDLE; the emulator's adapter
        # forces its CA whatever the environment says.
        from emulator.client_support import emulator_session

        self.admin = emulator_session(self.base_url, self.ca_bundle)
        while True:
            try:
                self.admin.get(self._admin("health"), timeout=5).raise_for_status()
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self.admin.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- admin ------------------------------------------------------------------------------------

    def _admin(self, path: str) -> str:
        return f"{self.base_url}/__emulator__/{path}"

    def reset_and_seed(self, data: DataSpec) -> float:
        """Empty everything (org, Data Cloud, jobs, usage) and seed ``data``; returns seconds."""
        self.admin.post(self._admin("reset"), timeout=600).raise_for_status()
        response = self.admin.post(self._admin("seed"), json=asdict(data), timeout=1800)
        response.raise_for_status()
        return float(response.json()["seconds"])

    def counts(self) -> dict[str, Any]:
        response = self.admin.get(self._admin("counts"), timeout=120)
        response.raise_for_status()
        return dict(response.json())

    def jobs(self) -> list[dict[str, Any]]:
        response = self.admin.get(self._admin("jobs"), timeout=600)
        response.raise_for_status()
        return list(response.json()["jobs"])

    def counters(self) -> dict[str, float]:
        """The org's running totals: requests, batches, logins, exchanges, queries, emulator CPU.

        A run's usage is the difference of two snapshots (one before it, given to :meth:`org_usage`), so
        the harness's own calls before a run (planning the partitions) are not charged to it.
        """
        counts = self.counts()
        limits = counts["limits"]
        events = counts.get("events", {})
        batches = limits["DailyBulkApiBatches"]
        return {
            "api_requests": int(counts["api_usage"]["used"]),
            "bulk_batches": int(batches["Max"]) - int(batches["Remaining"]),
            "logins": int(events.get("login", 0)),
            "token_exchanges": int(events.get("token_exchange", 0)),
            "datacloud_queries": int(events.get("datacloud_query", 0)),
            "datacloud_query_batches": int(events.get("datacloud_query_batch", 0)),
            "emulator_cpu_seconds": self.cpu_seconds(),
        }

    def org_usage(self, since: dict[str, float] | None = None) -> dict[str, Any]:
        """What the org counted after the ``since`` snapshot (default: since the last reset),
        plus the job list's sums."""
        now = self.counters()
        since = since or {}
        jobs = self.jobs()
        return {
            **{name: now[name] - since.get(name, 0) for name in now},
            "bulk_jobs": len(jobs),
            "job_records_failed": sum(int(j.get("numberRecordsFailed") or 0) for j in jobs),
            "job_records_processed": sum(int(j.get("numberRecordsProcessed") or 0) for j in jobs),
            "jobs_not_complete": sum(j.get("state") != "JobComplete" for j in jobs),
            # Epoch seconds of the first job: a client that reads everything before writing
            # (simple-salesforce here) has a read phase a projection must not scale.
            "first_job_created": min((_epoch(j["createdDate"]) for j in jobs), default=None),
            # Simulated ms workers were occupied vs doing DML: the difference is lock waiting.
            "worker_ms_total": sum(int(j.get("totalProcessingTime") or 0) for j in jobs),
            "worker_ms_dml": sum(int(j.get("apiActiveProcessingTime") or 0) for j in jobs),
        }

    def cpu_seconds(self) -> float:
        """CPU (user + sys) the emulator process has used so far: is the org itself the bottleneck?"""
        import psutil

        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def largest_parent(self) -> int:
        """Children of the Account with the most source rows: the skew-aware bound's input."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=60)
        try:
            found = conn.execute(
                f'SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM "{SOURCE_TABLE}" '
                'GROUP BY "AccountId__c")'
            ).fetchone()[0]
        finally:
            conn.close()
        return int(found or 0)

    def landed(self) -> dict[str, int]:
        """Source rows vs Opportunities, straight from the emulator's SQLite file (read-only)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=60)
        try:
            source = conn.execute(f'SELECT COUNT(*) FROM "{SOURCE_TABLE}"').fetchone()[0]
            rows, distinct = conn.execute(
                f'SELECT COUNT(*), COUNT(DISTINCT "ExternalId__c") FROM {TARGET_TABLE} '
                'WHERE "IsDeleted" = 0'
            ).fetchone()
            lost = conn.execute(
                f'SELECT COUNT(*) FROM "{SOURCE_TABLE}" s WHERE NOT EXISTS (SELECT 1 FROM '
                f'{TARGET_TABLE} o WHERE o."ExternalId__c" = s."ExternalId__c" '
                'AND o."IsDeleted" = 0)'
            ).fetchone()[0]
        finally:
            conn.close()
        return {
            "source_rows": int(source),
            "opportunities": int(rows),
            "duplicated": int(rows) - int(distinct),
            "lost": int(lost),
        }


def _epoch(stamp: str) -> float:
    """Salesforce's ``2026-01-01T00:00:00.000+0000`` → epoch seconds."""
    import datetime as dt

    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
