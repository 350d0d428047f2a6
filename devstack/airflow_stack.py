"""``AirflowStack``: a real Airflow 3.3 on this machine, started and stopped by a test or the demo.

Why separate components instead of ``airflow standalone``: ``standalone`` forces LocalExecutor and
SimpleAuthManager and multiplexes every component into one stdout, whereas starting scheduler,
dag-processor, triggerer and api-server ourselves gives one log file per component, lets a test
stop or kill one component (a Celery worker, in the distributed profile), and keeps the
executor, database and auth choices ours: the distributed profile becomes a different
``executor``/``database_url`` plus extra components (``celery worker``), not a different harness.
Start-up cost is the same (``standalone`` spawns the same four processes).

What every stack gets, so tests never collide with each other or with the repo's ``.airflow``:

* its own ``AIRFLOW_HOME`` (a temporary directory unless given), SQLite in it, a free api-server
  port, free log-server ports, fresh JWT/secret/Fernet keys;
* an environment scrubbed of inherited ``AIRFLOW*`` variables (the Makefile exports the repo's
  home), ``PYTHONPATH`` = repo root (``include.*`` and ``emulator`` import as on Astro) and the
  venv's ``bin`` first on ``PATH`` (Airflow re-executes bare ``airflow`` for task processes);
* SimpleAuthManager with a passwords file written here, so the admin password is known;
* connections as ``AIRFLOW_CONN_*`` JSON from ``airflow_settings.yaml`` (optionally pointed at an
  emulator), pools and variables created over REST once the api-server is up;
* every process in its own session (see ``devstack.processes``): stop sends SIGTERM to each
  process group, SIGKILL after a grace period, then kills whatever is still in one of the
  sessions or tagged with ``DEVSTACK_STACK_ID`` (task processes that left the group, orphans);
  on Linux each component also gets ``PR_SET_PDEATHSIG`` so a SIGKILLed harness does not leave
  a stack running.

Logs go to ``$AIRFLOW_HOME/logs/devstack/<component>.log``; the home is kept (and the tails are
printed) when start-up fails or the ``with`` body raises.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import psutil

from devstack.processes import (
    STACK_ID_ENV,
    free_port,
    sigint_deferred,
    spawn,
    stack_processes,
    stop_all,
    tail,
)
from devstack.rest import AirflowApiError, AirflowClient
from devstack.settings_loader import (
    AirflowSettings,
    PoolSpec,
    emulator_overrides,
    load_settings,
)

__all__ = [
    "REPO_ROOT",
    "AirflowStack",
    "Component",
    "StackError",
    "free_port",
    "stack_processes",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
#: The shell file in every stack's home that points a terminal's CLI at the stack.
CLI_ENV_FILE = "cli.env"

#: Intervals that make a fresh DAG file show up and a run progress within seconds instead of
#: minutes, at the cost of more frequent (cheap, single-process) parsing. Names checked against
#: the installed airflow/config_templates/config.yml (3.3.2).
FAST_CONFIG: dict[str, str] = {
    "dag_processor.refresh_interval": "5",
    "dag_processor.min_file_process_interval": "15",
    "dag_processor.bundle_refresh_check_interval": "2",
    "dag_processor.print_stats_interval": "300",
    "scheduler.scheduler_heartbeat_sec": "2",
    "scheduler.job_heartbeat_sec": "2",
    "scheduler.scheduler_idle_sleep_time": "0.5",
    "scheduler.pool_metrics_interval": "30",
    "triggerer.job_heartbeat_sec": "2",
}

#: Defaults that keep a stack modest on a 2-core machine shared with other people.
MODEST_CONFIG: dict[str, str] = {
    "core.parallelism": "8",
    "dag_processor.parsing_processes": "1",
    "api.workers": "1",
    "scheduler.enable_health_check": "False",
    "logging.logging_level": "INFO",
}


class StackError(RuntimeError):
    """The stack could not start (the message carries the failing component's log tail)."""


class PortTaken(StackError):
    """The api-server's port, free when chosen, was bound by another process before the
    api-server got to it (~10 s of imports later on a busy machine)."""


#: How often start-up picks another api-server port after losing that race.
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Component:
    """One long-running ``airflow <args>`` process of the stack.

    ``ready_log`` is optional: a line fragment that appears in the log once the component is up
    (only used for components the health endpoint does not report, like Celery workers).
    """

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_log: str | None = None


class AirflowStack:
    """Scheduler + dag-processor + triggerer + api-server (LocalExecutor, SQLite) in a throwaway
    home; use as a context manager.

    >>> with AirflowStack(dags_folder=tmp, dag_ids=["my_dag"]) as stack:
    ...     run = stack.client.trigger("my_dag", {"n": 3})
    ...     stack.client.wait_for_run("my_dag", run["dag_run_id"], timeout=120)
    """

    def __init__(
        self,
        *,
        dags_folder: str | Path | None = None,
        plugins_folder: str | Path | None = None,
        home: str | Path | None = None,
        settings: AirflowSettings | str | Path | None = None,
        emulator_url: str | None = None,
        emulator_ca: str | Path | None = None,
        connection_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        pools: Sequence[PoolSpec] = (),
        dag_ids: Sequence[str] = (),
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        fast: bool = True,
        executor: str = "LocalExecutor",
        database_url: str | None = None,
        extra_components: Sequence[Component] = (),
        username: str = "admin",
        password: str | None = None,
        api_port: int | None = None,
        start_timeout: float = 240.0,
        stop_grace: float = 10.0,
        keep_home: bool | None = None,
        quiet: bool = False,
        stack_id: str | None = None,
    ) -> None:
        """
        :param dags_folder: defaults to the repo's ``dags/``.
        :param plugins_folder: defaults to the repo's ``plugins/``.
        :param home: ``AIRFLOW_HOME``; a new temporary directory when ``None``. Never point it at
            the repo's ``.airflow``: the stack's database would mix with the developer's.
        :param settings: ``AirflowSettings``, a path to an ``airflow_settings.yaml``, or ``None``
            for the repo's file.
        :param emulator_url: point every ``salesforce`` connection at this emulator
            (``login_url`` extra) and trust ``emulator_ca`` (``ca_bundle`` extra).
        :param connection_overrides: conn_id -> fields, applied last (see
            ``AirflowSettings.with_overrides``).
        :param pools: pools added to (or resizing) the settings' pools.
        :param dag_ids: DAGs that must be parsed before ``start()`` returns.
        :param config: extra Airflow options as ``{"section.key": value}``; they win over the
            stack's defaults.
        :param env: extra environment for every component and CLI call.
        :param fast: short parse/heartbeat intervals (tests, demo).
        :param executor, database_url, extra_components: the hooks for other profiles (Celery
            workers, Postgres); the defaults are LocalExecutor on SQLite in ``home``.
        :param password: the admin password; a random one when ``None`` (read ``.password``).
        :param keep_home: ``True`` keeps the home, ``False`` always deletes it, ``None`` keeps it
            only when something failed (so its logs can be read).
        :param stack_id: the process tag (random by default). ``stop()`` kills every process
            carrying it, so only share it with processes that must die with this stack.
        """
        self.dags_folder = Path(dags_folder or REPO_ROOT / "dags").resolve()
        self.plugins_folder = Path(plugins_folder or REPO_ROOT / "plugins").resolve()
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="airflow-devstack-")).resolve()
        if self.home == (REPO_ROOT / ".airflow").resolve():
            raise ValueError("AirflowStack must not use the repo's .airflow home")
        self.log_dir = self.home / "logs" / "devstack"
        self.stack_id = stack_id or uuid.uuid4().hex
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self._fixed_port = api_port is not None
        self.api_port = api_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.executor = executor
        self.database_url = database_url or f"sqlite:///{self.home / 'airflow.db'}"
        self._use_db_template = database_url is None and os.environ.get(
            "DEVSTACK_DB_TEMPLATE", "1"
        ) not in ("0", "false", "False")
        self.dag_ids = tuple(dag_ids)
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.keep_home = keep_home
        self.quiet = quiet
        self.settings = self._resolve_settings(
            settings, emulator_url, emulator_ca, connection_overrides, pools
        )
        self.extra_components = tuple(extra_components)
        self.bin_dir = Path(sys.executable).parent
        airflow = shutil.which("airflow", path=str(self.bin_dir)) or shutil.which("airflow")
        if not airflow:
            raise StackError(f"no `airflow` executable next to {sys.executable} or on PATH")
        self.airflow = airflow
        self._env_args = (dict(config or {}), dict(env or {}), fast)
        self.env = self._build_env(*self._env_args)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._client: AirflowClient | None = None
        self._failed = False
        self.started_in: float | None = None
        #: Seconds from start() to each phase: where start-up time goes (migrated, healthy,
        #: dags_parsed).
        self.timings: dict[str, float] = {}

    # -- configuration --------------------------------------------------------------------------

    @staticmethod
    def _resolve_settings(
        settings: AirflowSettings | str | Path | None,
        emulator_url: str | None,
        emulator_ca: str | Path | None,
        connection_overrides: Mapping[str, Mapping[str, Any]] | None,
        pools: Sequence[PoolSpec],
    ) -> AirflowSettings:
        if settings is None:
            settings = REPO_ROOT / "airflow_settings.yaml"
        if not isinstance(settings, AirflowSettings):
            settings = load_settings(settings)
        if emulator_url:
            settings = settings.with_overrides(
                emulator_overrides(settings, emulator_url, emulator_ca)
            )
        if connection_overrides:
            settings = settings.with_overrides(connection_overrides)
        return settings.with_pools(pools)

    def _build_env(
        self, config: Mapping[str, Any], extra_env: Mapping[str, str], fast: bool
    ) -> dict[str, str]:
        # Inherited AIRFLOW* variables (the Makefile's home and folders, a developer's
        # connections) would silently win over the stack's: drop them all.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        env[STACK_ID_ENV] = self.stack_id
        options: dict[str, Any] = {
            "core.dags_folder": self.dags_folder,
            "core.plugins_folder": self.plugins_folder,
            "core.load_examples": "False",
            "core.dags_are_paused_at_creation": "False",
            "core.unit_test_mode": "False",
            "core.executor": self.executor,
            "core.auth_manager": SIMPLE_AUTH_MANAGER,
            "core.simple_auth_manager_users": f"{self.username}:admin",
            "core.simple_auth_manager_passwords_file": self.home / "passwords.json",
            "core.fernet_key": _fernet_key(),
            "core.execution_api_server_url": f"{self.api_url}/execution/",
            "database.sql_alchemy_conn": self.database_url,
            "api.host": "127.0.0.1",
            "api.port": self.api_port,
            "api.base_url": self.api_url,
            "api.secret_key": secrets.token_urlsafe(32),
            "api_auth.jwt_secret": secrets.token_urlsafe(32),
            "logging.base_log_folder": self.home / "logs",
            "logging.worker_log_server_port": free_port(),
            "logging.trigger_log_server_port": free_port(),
            **MODEST_CONFIG,
            **(FAST_CONFIG if fast else {}),
            **config,
        }
        for dotted, value in options.items():
            section, _, key = dotted.partition(".")
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
        env["AIRFLOW_HOME"] = str(self.home)
        env.update(self.settings.connection_env())
        env.update(extra_env)
        return env

    @property
    def cli_env_path(self) -> Path:
        """``source`` this file in a shell to run the CLIs against this stack (see
        :meth:`cli_env`)."""
        return self.home / CLI_ENV_FILE

    def cli_env(self) -> dict[str, str]:
        """What a terminal needs for ``airflow ...`` and ``python -m include.dc2sf.report``
        against this stack: the components' own Airflow environment (home, config, connections),
        plus the report's ``AIRFLOW_URL`` / ``AIRFLOW_USER`` / ``AIRFLOW_PASSWORD``.

        Why the whole environment and not just ``AIRFLOW_HOME``: the stack's configuration lives
        in environment variables (so a test can never pick up a stale ``airflow.cfg``), and
        without them the CLI would read a default ``airflow.cfg``: wrong DAGs folder, no Fernet key
        for the variables, no connections.
        """
        env = {k: v for k, v in self.env.items() if k.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_URL=self.api_url, AIRFLOW_USER=self.username, AIRFLOW_PASSWORD=self.password
        )
        return env

    def write_cli_env(self) -> Path:
        """Write :attr:`cli_env_path` (owner-only: it holds the admin password and the keys).

        Like the stack's own processes, the shell first drops every inherited ``AIRFLOW*``
        variable (a Makefile-exported ``AIRFLOW_HOME=.airflow`` would otherwise win), then puts the
        venv's ``bin`` first on ``PATH`` (``airflow``, ``python``) and the repo on ``PYTHONPATH``
        (``include.*`` imports from any directory).
        """
        lines = [
            "# Source this file (bash/zsh) to point `airflow ...` and",
            "# `python -m include.dc2sf.report` at the devstack Airflow in this directory.",
            "# Written by devstack.airflow_stack; deleted with the directory.",
            'for name in $(env | sed -n "s/^\\(AIRFLOW[A-Za-z0-9_]*\\)=.*/\\1/p"); do unset "$name"; done',
            *(f"export {k}={shlex.quote(v)}" for k, v in sorted(self.cli_env().items())),
            f'export PATH={shlex.quote(str(self.bin_dir))}:"$PATH"',
            f"export PYTHONPATH={shlex.quote(str(REPO_ROOT))}" + '"${PYTHONPATH:+:$PYTHONPATH}"',
        ]
        path = self.cli_env_path
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    def components(self) -> list[Component]:
        """What runs. Log serving is skipped: with everything on one machine the api-server reads
        task logs from the shared log folder, and two fewer processes matter on 2 cores."""
        return [
            Component("api-server", ("api-server", "--port", str(self.api_port))),
            Component("scheduler", ("scheduler", "--skip-serve-logs")),
            Component("dag-processor", ("dag-processor",)),
            Component("triggerer", ("triggerer", "--skip-serve-logs")),
            *self.extra_components,
        ]

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def client(self) -> AirflowClient:
        """A REST client logged in as the stack's admin (created on first use)."""
        if self._client is None:
            self._client = AirflowClient(self.api_url, self.username, self.password)
        return self._client

    @property
    def ui_url(self) -> str:
        return f"{self.api_url}/"

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
            self._failed = True
            self.print_log_tails()
        self.stop()

    def start(self) -> AirflowStack:
        """Migrate the database, start the components, wait for health and the DAGs, apply pools
        and variables. On any failure (Ctrl-C included) everything started is stopped.

        A port chosen free can be taken by another process before the api-server binds it (other
        stacks start on the same machine): then the components are stopped and started again on
        another port, up to :data:`PORT_ATTEMPTS` times, unless the caller fixed the port.
        """
        began = time.monotonic()
        deadline = began + self.start_timeout
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            (self.home / "passwords.json").write_text(json.dumps({self.username: self.password}))
            self._say(f"Airflow home {self.home}; migrating the metadata database")
            self._migrate(timeout=max(30.0, deadline - time.monotonic()))
            self.timings["migrated"] = time.monotonic() - began
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    self._start_components(deadline)
                    break
                except PortTaken:
                    if self._fixed_port or attempt == PORT_ATTEMPTS:
                        raise
                    self._say(f"api-server port {self.api_port} was taken meanwhile; another one")
                    self._stop_processes()
                    self._procs.clear()
                    self._use_port(free_port())
            self.timings["healthy"] = time.monotonic() - began
            self._apply_settings()
            for dag_id in self.dag_ids:
                self.wait_for_dag(dag_id, timeout=max(1.0, deadline - time.monotonic()))
            self.timings["dags_parsed"] = time.monotonic() - began
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                self._failed = True
                self.print_log_tails()
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        self._say(f"Airflow up in {self.started_in:.0f}s at {self.ui_url}")
        return self

    def _start_components(self, deadline: float) -> None:
        self.write_cli_env()
        for component in self.components():
            self.start_component(component)
        self._wait_healthy(deadline)

    def _use_port(self, port: int) -> None:
        """Move the stack to another api-server port (the URL is in every component's config)."""
        self.api_port = port
        self.api_url = f"http://127.0.0.1:{port}"
        self.env = self._build_env(*self._env_args)

    def _migrate(self, *, timeout: float) -> None:
        """``airflow db migrate``, or a copy of a database migrated earlier by the same Airflow.

        Migrating a fresh SQLite file costs ~8-10 s of CPU (most of a test's start-up budget on
        2 cores), and its result depends only on the installed Airflow: so the first stack
        stores it under the temp dir, keyed by the version and the migration scripts, and later
        stacks copy it. A fresh database holds no secrets (no connections or variables), only the
        schema, ``default_pool`` and the log template. ``DEVSTACK_DB_TEMPLATE=0`` turns it off.
        """
        target = self.home / "airflow.db"
        template = _db_template_path() if self._use_db_template else None
        if template is not None and template.exists():
            shutil.copyfile(template, target)
            return
        self.cli("db", "migrate", timeout=timeout, log="db")
        if template is not None and target.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            partial = template.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(target, partial)
            os.replace(partial, template)  # atomic: a parallel stack sees all or nothing

    def start_component(self, component: Component) -> subprocess.Popen[bytes]:
        """Start (or restart) one component in its own session, logging to its file."""
        old = self._procs.get(component.name)
        if old is not None and old.poll() is None:
            raise StackError(f"{component.name} is already running (pid {old.pid})")
        log = (self.log_dir / f"{component.name}.log").open("ab")
        self._logs[component.name] = log
        proc = spawn(
            [self.airflow, *component.args],
            env={**self.env, **component.env},
            log=log,
            cwd=self.home,
        )
        self._procs[component.name] = proc
        # Parsed by the Ctrl-C test: the pid is also the session id of everything it spawns.
        self._say(f"started {component.name} pid={proc.pid}")
        return proc

    def kill_component(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one component's whole process group (e.g. kill a worker mid-run)."""
        proc = self._procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.stop_grace)

    def stop(self) -> None:
        """Stop everything this stack started: SIGTERM to each process group, SIGKILL after
        ``stop_grace`` seconds, then a sweep of any process still tagged with the stack id.
        Safe to call twice."""
        with sigint_deferred():
            self._stop()

    def _stop(self) -> None:
        try:
            self._stop_processes()
        finally:
            self._remove_home()

    def _stop_processes(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
                self._client = None
            stop_all(self._procs.values(), stack_id=self.stack_id, grace=self.stop_grace)
        finally:
            for log in self._logs.values():
                log.close()
            self._logs.clear()

    def _remove_home(self) -> None:
        keep = self.keep_home if self.keep_home is not None else self._failed
        if keep or not self._own_home:
            if self._failed:
                print(f"[devstack] kept {self.home} for its logs", file=sys.stderr)
            return
        shutil.rmtree(self.home, ignore_errors=True)

    # -- waiting --------------------------------------------------------------------------------

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                log = tail(self.log_dir / f"{name}.log", 40)
                error = (
                    PortTaken
                    if name == "api-server" and "address already in use" in log
                    else StackError
                )
                raise error(f"{name} exited with {code} during start-up; log tail:\n{log}")

    def _wait_healthy(self, deadline: float) -> None:
        """Wait for the api-server to answer and report the scheduler, dag-processor and
        triggerer healthy (they heartbeat into the DB, so this also proves the DB works).

        Healthy is not enough when another stack's api-server took our port first: it answers
        for its own components until ours dies on the bind. Only our server accepts our admin's
        password (each stack writes its own), so a login proves the answer is ours.
        """
        want = {"metadatabase", "scheduler", "triggerer", "dag_processor"}
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = self.client.health()
                last = {k: (v or {}).get("status") for k, v in health.items()}
                if all(last.get(k) == "healthy" for k in want):
                    self.client.token(refresh=True)
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            except AirflowApiError as exc:
                last = f"{self.api_url} is not this stack's api-server ({exc})"
            time.sleep(0.5)
        raise StackError(f"Airflow not healthy after {self.start_timeout:.0f}s: {last}")

    def _apply_settings(self) -> None:
        for pool in self.settings.pools:
            self.client.upsert_pool(pool.rest_body())
        for variable in self.settings.variables:
            self.client.set_variable(variable.key, variable.value)

    def wait_for_dag(self, dag_id: str, *, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the dag-processor has serialised ``dag_id``; fail fast (with the traceback)
        when it is missing while import errors exist, instead of waiting out the timeout."""
        deadline = time.monotonic() + timeout
        errors_since: float | None = None
        while True:
            self._check_alive()
            dag = self.client.get_dag(dag_id)
            if dag is not None:
                if dag.get("is_paused"):
                    self.client.unpause(dag_id)
                return dag
            errors = self.client.import_errors()
            if errors:
                errors_since = errors_since or time.monotonic()
                # One parse loop covers every file, so a DAG still missing well after errors
                # appeared is not coming.
                if time.monotonic() - errors_since > 10:
                    text = "\n".join(
                        f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in errors
                    )
                    raise StackError(f"DAG {dag_id!r} did not load; import errors:\n{text}")
            if time.monotonic() >= deadline:
                raise StackError(
                    f"DAG {dag_id!r} not parsed after {timeout:.0f}s from {self.dags_folder}"
                )
            time.sleep(1.0)

    # -- helpers --------------------------------------------------------------------------------

    def cli(
        self,
        *args: str,
        timeout: float = 120.0,
        check: bool = True,
        log: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this stack (same home, DB and connections).

        Output is captured (and written to ``logs/devstack/<log>.log`` when ``log`` is given);
        with ``check`` a non-zero exit raises :class:`StackError` carrying the output tail.
        """
        result = subprocess.run(
            [self.airflow, *args],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if log:
            (self.log_dir / f"{log}.log").write_text(result.stdout + result.stderr)
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            raise StackError(
                f"airflow {' '.join(args[:3])} exited with {result.returncode}:\n"
                + "\n".join(output[-30:])
            )
        return result

    @property
    def sessions(self) -> list[int]:
        """Session ids of the components (each is a session leader): with ``stack_id``, what
        finds every process of the stack, even after it stopped (for leak checks)."""
        return [proc.pid for proc in self._procs.values()]

    def processes(self) -> list[psutil.Process]:
        """Every live process of this stack (what a leak check looks for)."""
        return stack_processes(self.stack_id, self.sessions)

    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_tail(self, component: str, lines: int = 40) -> str:
        return tail(self.log_path(component), lines)

    def print_log_tails(self, lines: int = 30) -> None:
        """What a failed CI run needs to be debuggable without the home directory."""
        for name in [*self._procs, "db"]:
            path = self.log_path(name)
            if path.exists():
                print(f"----- {name} ({path}) -----", file=sys.stderr)
                print(tail(path, lines), file=sys.stderr)

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"[devstack] {text}", file=sys.stderr, flush=True)


def _db_template_path() -> Path:
    """Where a migrated empty SQLite database for the installed Airflow is cached."""
    # Found without importing airflow: `import airflow` alone costs the harness ~2 s.
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("apache-airflow is not installed in this interpreter")
    versions = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
    digest = hashlib.sha256()
    for script in sorted(versions.glob("*.py")):
        digest.update(script.name.encode())
        digest.update(str(script.stat().st_size).encode())
    name = f"airflow-{importlib.metadata.version('apache-airflow')}-{digest.hexdigest()[:12]}.db"
    return Path(tempfile.gettempdir()) / "devstack-cache" / name


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """``python -m devstack.airflow_stack``: a stack in the foreground until Ctrl-C/SIGTERM.

    For poking at a DAG in the UI without the demo, and used by the e2e test that proves Ctrl-C
    leaves nothing behind."""
    parser = argparse.ArgumentParser(prog="python -m devstack.airflow_stack", description=__doc__)
    parser.add_argument("--dags-folder", type=Path, default=None)
    parser.add_argument("--settings", type=Path, default=None)
    parser.add_argument("--dag-id", action="append", default=[], help="wait until parsed")
    parser.add_argument("--emulator-url", default=None)
    parser.add_argument("--emulator-ca", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    # SIGTERM (CI cancelling a job, `kill`) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # keeps it that way: restore Ctrl-C explicitly so `kill -INT` always means "stop cleanly".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = AirflowStack(
        dags_folder=args.dags_folder,
        settings=args.settings,
        dag_ids=args.dag_id,
        emulator_url=args.emulator_url,
        emulator_ca=args.emulator_ca,
        api_port=args.port,
    )
    # Printed before start-up so a supervisor (the Ctrl-C test) can find the processes by tag.
    print(f"STARTING stack_id={stack.stack_id} home={stack.home}", flush=True)
    try:
        with stack:
            print(f"READY {stack.ui_url}", flush=True)
            print(f"login: {stack.username} / {stack.password}", flush=True)
            print(f"CLI: source {stack.cli_env_path}", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
