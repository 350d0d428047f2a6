"""The distributed profile: Airflow on Postgres + CeleryExecutor (Redis) with several Celery workers.

Why it exists: users outgrow one machine, and the load must run unchanged when its
partitions land on different workers. This profile proves that on one box: the metadata DB is
Postgres (a database of its own, created if missing), the executor is Celery with Redis as the
broker, and two (or more) ``airflow celery worker`` processes take the partitions. Nothing in the
load relies on a worker's disk: the checkpoint lives in the task state store (the metadata DB,
reached through the API server) and dead letters go through ``ObjectStoragePath`` to a location
every worker can reach. Locally that is ``$AIRFLOW_HOME/dead_letters`` (one home, so one folder for
all workers); in production it is ``s3://``/``gs://`` and the same code path.

``DistributedStack`` is an :class:`~devstack.airflow_stack.AirflowStack` with a different
``executor``/``database_url`` plus worker components; the harness (isolation, logs, stop, sweep)
is the same. What it adds:

* the Postgres database is created before the stack starts and, for throwaway stacks, dropped
  after it stops (``keep_database`` keeps it: ``make up-distributed`` does);
* every stack uses its own Celery queue (``[operators] default_queue`` and ``-q``), so two stacks
  sharing one Redis never run each other's tasks;
* each worker reports its own name as the task-instance hostname (``[core] hostname_callable``):
  on one machine both workers would otherwise report the same FQDN, and the test must show which
  worker ran which try;
* :meth:`DistributedStack.kill_worker` kills a worker's whole session (the Celery parent, its pool
  children and the task processes they supervise), which is what losing a worker machine does.

Where Postgres and Redis come from: the CI/dev machines run both (127.0.0.1:5432 trust auth, user
``postgres``; 127.0.0.1:6379). On a fresh Debian/Ubuntu machine::

    apt-get install -y postgresql redis-server
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

or with Docker: ``docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`` and
``docker run -d -p 6379:6379 redis:7``. Other servers: ``DEVSTACK_POSTGRES_URL`` (a libpq URL of a
role that may create databases) and ``DEVSTACK_REDIS_URL``.

Command line (what the Makefile targets call)::

    python -m devstack.distributed up     # starts in the background, prints the UI URL and login
    python -m devstack.distributed down   # stops it (the database is kept for the next `up`)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

from devstack.airflow_stack import REPO_ROOT, AirflowStack, Component, StackError
from devstack.processes import tail

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "DistributedStack",
    "missing_services",
    "worker_hostname",
]

DEFAULT_POSTGRES_URL = os.environ.get(
    "DEVSTACK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DEFAULT_REDIS_URL = os.environ.get("DEVSTACK_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER_NAME_ENV = "DEVSTACK_WORKER_NAME"
#: Where ``make up-distributed`` keeps its home (inside the git-ignored ``.airflow``).
PROFILE_HOME = REPO_ROOT / ".airflow" / "distributed"
PROFILE_DATABASE = "airflow_dc2sf_distributed"

#: Postgres is shared with other people's stacks: small pools per component keep a whole stack
#: (6 processes + task processes) well under the server's default 100 connections.
POSTGRES_CONFIG: dict[str, str] = {
    "database.sql_alchemy_pool_size": "2",
    "database.sql_alchemy_max_overflow": "4",
    "database.sql_alchemy_pool_recycle": "600",
}


def worker_hostname() -> str:
    """``[core] hostname_callable`` for the workers: ``<worker name>@<fqdn>``.

    Airflow records this as the task instance's ``hostname``. Two workers on one machine would
    both report the machine's FQDN; naming the worker keeps "which worker ran this try" visible in
    the UI and the REST API, as distinct machines would be in production."""
    name = os.environ.get(WORKER_NAME_ENV)
    fqdn = socket.getfqdn()
    return f"{name}@{fqdn}" if name else fqdn


def missing_services(
    postgres_url: str = DEFAULT_POSTGRES_URL, redis_url: str = DEFAULT_REDIS_URL
) -> str | None:
    """Why the profile cannot run here (``None`` when Postgres and Redis both answer).

    Used by the e2e test's skip reason, so it names the server and how to get it."""
    problems: list[str] = []
    try:
        import psycopg2

        psycopg2.connect(postgres_url, connect_timeout=3).close()
    except ImportError:
        problems.append("psycopg2 is not installed (make setup)")
    except Exception as exc:
        problems.append(f"Postgres at {_safe(postgres_url)} unreachable ({exc.__class__.__name__})")
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except ImportError:
        problems.append("the redis client is not installed (make setup)")
    except Exception as exc:
        problems.append(f"Redis at {_safe(redis_url)} unreachable ({exc.__class__.__name__})")
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        problems.append("apache-airflow-providers-celery is not installed (make setup)")
    if not problems:
        return None
    return "; ".join(problems) + " - see devstack/distributed.py for how to start them"


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


class DistributedStack(AirflowStack):
    """Postgres + CeleryExecutor (Redis) + ``workers`` Celery workers; a context manager.

    >>> with DistributedStack(workers=2, emulator_url=..., dag_ids=["datacloud_to_salesforce"]) as s:
    ...     s.client.trigger(...)
    ...     s.kill_worker("worker-1")
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        worker_concurrency: int = 2,
        database: str | None = None,
        keep_database: bool = False,
        postgres_url: str = DEFAULT_POSTGRES_URL,
        redis_url: str = DEFAULT_REDIS_URL,
        queue: str | None = None,
        config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """
        :param workers: Celery workers, named ``worker-1`` .. ``worker-N``.
        :param worker_concurrency: task slots per worker (``--concurrency``).
        :param database: the Postgres database; a fresh ``devstack_<random>`` when ``None``.
        :param keep_database: keep it after ``stop()`` (always kept when ``database`` is given).
        :param queue: the Celery queue; unique per stack by default.
        Other keyword arguments go to :class:`AirflowStack`.
        """
        if workers < 1:
            raise ValueError("a distributed stack needs at least one worker")
        tag = uuid.uuid4().hex[:10]
        self.database = database or f"devstack_{tag}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.database):
            raise ValueError(f"unsafe database name {self.database!r}")
        self.keep_database = keep_database or database is not None
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self.queue = queue or f"devstack_{tag}"
        self.worker_names = [f"worker-{i}" for i in range(1, workers + 1)]
        db_url = _with_database(postgres_url, self.database)
        sqlalchemy_url = db_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        options: dict[str, Any] = {
            **POSTGRES_CONFIG,
            "celery.broker_url": redis_url,
            "celery.result_backend": "db+" + sqlalchemy_url,
            "celery.worker_concurrency": str(worker_concurrency),
            # One process sends tasks to the broker (default: one per CPU less one).
            "celery.sync_parallelism": "1",
            "operators.default_queue": self.queue,
            **(config or {}),
        }
        components = [
            Component(
                name,
                (
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}-{tag}@%h",
                    "--queues",
                    self.queue,
                    "--concurrency",
                    str(worker_concurrency),
                    "--skip-serve-logs",
                    "--without-gossip",
                    "--without-mingle",
                ),
                env={
                    WORKER_NAME_ENV: name,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.distributed.worker_hostname",
                },
                ready_log=" ready.",
            )
            for name in self.worker_names
        ]
        super().__init__(
            executor="CeleryExecutor",
            database_url=sqlalchemy_url,
            config=options,
            extra_components=[*components, *kwargs.pop("extra_components", ())],
            **kwargs,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DistributedStack:
        """Create the database if missing, start everything, wait for the workers' ``ready.``."""
        problem = missing_services(self.postgres_url, self.redis_url)
        if problem:
            raise StackError(problem)
        self._create_database()
        try:
            began = time.monotonic()
            super().start()
            self._wait_workers_ready(began + self.start_timeout)
            self.timings["workers_ready"] = time.monotonic() - began
        except BaseException:
            self._failed = True
            self.stop()
            raise
        return self

    def _stop(self) -> None:
        try:
            super()._stop()
        finally:
            self._cleanup_queue()
            if not self.keep_database:
                self._drop_database()

    def _wait_workers_ready(self, deadline: float) -> None:
        pending = list(self.worker_names)
        while pending:
            self._check_alive()
            pending = [
                name
                for name in pending
                if " ready." not in self.log_path(name).read_text(errors="replace")
            ]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise StackError(f"Celery workers not ready: {pending}")
            time.sleep(0.5)

    def _admin_connection(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.postgres_url, connect_timeout=10)
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        return conn

    def _create_database(self) -> None:
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.database}"')
                    self._say(f"created Postgres database {self.database}")
        finally:
            conn.close()

    def _drop_database(self) -> None:
        with contextlib.suppress(Exception):
            conn = self._admin_connection()
            try:
                with conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                conn.close()

    def _cleanup_queue(self) -> None:
        """Remove this stack's queue and bindings from Redis (messages left by a killed run)."""
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3)
            for key in client.scan_iter(match=f"*{self.queue}*", count=500):
                client.delete(key)

    # -- workers --------------------------------------------------------------------------------

    def worker_processes(self, name: str) -> list[psutil.Process]:
        """Every live process of one worker: the Celery parent's session (pool children, task
        supervisors, task processes; they keep the session even when they change group)."""
        proc = self._procs[name]
        found: list[psutil.Process] = []
        for candidate in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if os.getsid(candidate.pid) == proc.pid:
                    found.append(candidate)
        return found

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Kill a worker the way a lost machine dies: every process of its session at once,
        task processes included. Returns the pids signalled."""
        victims = self.worker_processes(name)
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.send_signal(sig)
        self.kill_component(name, sig)
        return [v.pid for v in victims]


# -- command line (make up-distributed / down-distributed) ----------------------------------------


def _state_file(home: Path) -> Path:
    return home / "profile.json"


def _persistent_key(home: Path, name: str, make: Any) -> str:
    """A key kept in the home between ``up``s: the Fernet key must not change while the database
    (variables, connections created in the UI) outlives one start."""
    path = home / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _serve(args: argparse.Namespace) -> int:
    """The background supervisor ``up`` starts: emulator (optional) + stack until SIGTERM."""
    from cryptography.fernet import Fernet

    from devstack.emulator_process import EmulatorProcess

    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fernet = _persistent_key(home, "fernet.key", lambda: Fernet.generate_key().decode())
    password = _persistent_key(home, "admin.password", lambda: uuid.uuid4().hex[:16])
    state: dict[str, Any] = {"pid": os.getpid(), "home": str(home), "state": "starting"}
    with contextlib.ExitStack() as stack_ctx:
        emulator = None
        if args.rows >= 0:
            # The emulator's org is throwaway test data: a fresh one (seeded again) per `up`.
            shutil.rmtree(home / "emulator", ignore_errors=True)
            (home / "emulator").mkdir()
            emulator = stack_ctx.enter_context(
                EmulatorProcess(
                    rows=args.rows,
                    accounts=args.accounts,
                    time_scale=args.time_scale,
                    workdir=home / "emulator",
                )
            )
            state["emulator"] = emulator.base_url
        stack = DistributedStack(
            home=home / "airflow",
            workers=args.workers,
            worker_concurrency=args.concurrency,
            database=args.database,
            dag_ids=["datacloud_to_salesforce"],
            emulator_url=emulator.base_url if emulator else None,
            emulator_ca=emulator.ca_bundle if emulator else None,
            api_port=args.port,
            password=password,
            config={"core.fernet_key": fernet},
        )
        stack_ctx.enter_context(stack)
        state.update(
            state="ready",
            ui=stack.ui_url,
            username=stack.username,
            password_file=str(home / "admin.password"),
            database=stack.database,
            queue=stack.queue,
            workers=stack.worker_names,
            logs=str(stack.log_dir),
            cli_env=str(stack.cli_env_path),
        )
        _state_file(home).write_text(json.dumps(state, indent=2))
        print(f"READY {json.dumps(state)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    _state_file(home).unlink(missing_ok=True)
    return 0


def _up(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    existing = _running(home)
    if existing:
        print(f"already running (pid {existing['pid']}): {existing.get('ui')}")
        return 0
    problem = missing_services()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    log_path = home / "profile.log"
    argv = [sys.executable, "-m", "devstack.distributed", "serve", *args.passthrough]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # Not devstack.processes.spawn: its PDEATHSIG would end the profile when `up` returns. The
    # supervisor runs in its own session and stops everything it started on SIGTERM (`down`).
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"start failed ({proc.returncode}); log tail:\n{tail(log_path, 40)}")
            return 1
        state = _running(home)
        if state and state.get("state") == "ready":
            print(
                f"Distributed Airflow up: {state['ui']}  login {state['username']} / "
                f"{(home / 'admin.password').read_text().strip()}\n"
                f"  Postgres database {state['database']}, Celery queue {state['queue']}, "
                f"workers {', '.join(state['workers'])}\n"
                f"  emulator {state.get('emulator', '(none)')}; logs {state['logs']}\n"
                f"  CLI (airflow ..., python -m include.dc2sf.report ...): "
                f"source {state['cli_env']}\n"
                f"  stop: make down-distributed"
            )
            return 0
        time.sleep(1.0)
    print(f"not ready after {args.timeout:.0f}s; see {log_path}")
    return 1


def _running(home: Path) -> dict[str, Any] | None:
    path = _state_file(home)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not psutil.pid_exists(int(state["pid"])):
        path.unlink(missing_ok=True)
        return None
    return dict(state)


def _down(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    state = _running(home)
    if not state:
        print("not running")
        return 0
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.5)
    if psutil.pid_exists(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        print(f"forced stop of {pid}")
    else:
        print(f"stopped (database {state.get('database')} kept)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.distributed", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "serve"])
    parser.add_argument("--home", default=str(PROFILE_HOME))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database", default=PROFILE_DATABASE)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--rows", type=int, default=200_000, help="emulator rows; -1: no emulator")
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--time-scale", type=float, default=0.1)
    args = parser.parse_args(argv)
    args.passthrough = [
        f"--home={args.home}",
        f"--workers={args.workers}",
        f"--concurrency={args.concurrency}",
        f"--database={args.database}",
        f"--rows={args.rows}",
        f"--accounts={args.accounts}",
        f"--time-scale={args.time_scale}",
        *([f"--port={args.port}"] if args.port else []),
    ]
    if args.command == "up":
        return _up(args)
    if args.command == "down":
        return _down(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
