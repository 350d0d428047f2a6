"""``make demo``: the whole load, end to end, on this machine, in a few minutes.

    make demo                                   # 200,000 rows, 5 partitions, 6 s stagger
    make demo DEMO_ARGS="--rows 2000000 --accounts 20000 --partitions 10 --stagger 0.5"
    make demo DEMO_ARGS="--faults light"        # or heavy, inline JSON, a file
    make demo DEMO_ARGS="--hold"                # keep Airflow up afterwards (UI, CLI)
    make demo DEMO_ARGS="--keep-home"           # keep the home (dead letters, logs) at exit

What it does: starts the Salesforce/Data Cloud emulator with seeded rows (``python -m emulator
serve``), starts a real Airflow (``devstack.AirflowStack``: scheduler, dag-processor, triggerer,
api-server, SQLite, a throwaway home) with the connections and pool of ``airflow_settings.yaml``
pointed at the emulator, triggers ``datacloud_to_salesforce`` over the REST API, draws progress in
the terminal until the run ends, and prints the reconciliation: the run's ``reconcile`` result and
the org's Opportunity count against the source rows. Ctrl-C (or SIGTERM) stops everything it
started. Every option also reads a ``DEMO_*`` environment variable (``DEMO_ROWS=...``).

Why a throwaway home and not the repo's ``.airflow``: a demo must start from an empty metadata DB
and must not mix its runs with the tests' or a developer's. The price is that a terminal's CLI
does not know where it is, so the demo prints ``source <home>/cli.env`` (written by
:class:`~devstack.airflow_stack.AirflowStack`): pasted into another terminal, it points ``airflow``
and ``python -m include.dc2sf.report`` at the demo, and the README's commands work as written. The
home (and its dead letters) is deleted when the demo ends, which it says when it starts and at
exit; ``--keep-home`` keeps it (so does a load that was not exact, for its logs).

Output: on a terminal, the progress report redrawn in place; elsewhere (CI, a pipe) one line per
change of the run's or a partition's state and a short summary at most every ``--log-every``
seconds (:mod:`devstack.progress_log`).

Exit status: 0 when the run succeeded and the org holds every row, 1 otherwise (also when a held
demo is ended with Ctrl-C: holding is its normal end), 130 on Ctrl-C before the run has ended.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from devstack.airflow_stack import AirflowStack
from devstack.emulator_process import FAULT_PROFILES, EmulatorProcess
from devstack.progress_log import ProgressLog
from devstack.rest import AirflowClient, RunTimeout
from include.dc2sf.progress_report import render_text
from include.dc2sf.report import ReportError, fetch_report

DAG_ID = "datacloud_to_salesforce"
TARGET_TABLE = "Opportunity"
SOURCE_TABLE = "Opportunity_Source__dlm"


def _env(name: str, default: Any) -> Any:
    return os.environ.get(f"DEMO_{name.upper()}", default)


def _flag(name: str) -> bool:
    return str(_env(name, "")).lower() not in ("", "0", "false", "no")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.demo",
        description="Data Cloud -> Salesforce load on a local Airflow and emulator.",
    )
    parser.add_argument("--rows", type=int, default=int(_env("rows", 200_000)))
    parser.add_argument("--accounts", type=int, default=int(_env("accounts", 2_000)))
    parser.add_argument("--partitions", type=int, default=int(_env("partitions", 5)))
    parser.add_argument(
        "--stagger",
        type=float,
        default=float(_env("stagger", 0.1)),
        help="minutes between partition starts (the DAG's stagger_minutes; production: 90)",
    )
    parser.add_argument(
        "--faults",
        default=_env("faults", "none"),
        help=f"emulator fault profile: {', '.join(FAULT_PROFILES)}, inline JSON or a file",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=float(_env("time_scale", 0.1)),
        help="emulator: real seconds per simulated second of Bulk processing (1 = org speed)",
    )
    parser.add_argument("--seed", type=int, default=int(_env("seed", 42)))
    parser.add_argument(
        "--conf",
        default=_env("conf", "{}"),
        help="extra run conf as JSON, merged over partitions/stagger_minutes",
    )
    parser.add_argument("--poll", type=float, default=float(_env("poll", 3.0)))
    parser.add_argument(
        "--log-every",
        type=float,
        default=float(_env("log_every", 15.0)),
        help="when output is not a terminal: seconds between progress summaries",
    )
    parser.add_argument(
        "--timeout", type=float, default=float(_env("timeout", 3600)), help="seconds"
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        default=_flag("hold"),
        help="keep everything running after the run until Ctrl-C (to explore the UI and the CLI)",
    )
    parser.add_argument(
        "--keep-home",
        action="store_true",
        default=_flag("keep_home"),
        help="keep the demo's Airflow home (metadata DB, task logs, dead letters) after it ends",
    )
    args = parser.parse_args(argv)
    try:
        extra = json.loads(args.conf)
    except json.JSONDecodeError as exc:
        parser.error(f"--conf is not JSON: {exc}")
    if not isinstance(extra, dict):
        parser.error("--conf must be a JSON object")
    args.run_conf = {"partitions": args.partitions, "stagger_minutes": args.stagger, **extra}
    if args.rows < 1:
        parser.error("--rows must be positive")
    if args.log_every <= 0:
        parser.error("--log-every must be positive")
    return args


def _say(text: str = "") -> None:
    print(text, flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- progress ------------------------------------------------------------------------------------


class ProgressView:
    """Shows the run's progress as the progress report (``include.dc2sf.report``) has it.

    On a terminal: the report's text, redrawn in place like ``watch``, plus a line of emulator
    counts (the ground truth of what reached the org). Elsewhere (CI, a pipe): the event and
    summary lines of :class:`~devstack.progress_log.ProgressLog`. Either way, why a task try
    failed is printed as it happens.
    """

    def __init__(
        self,
        stack: AirflowStack,
        emulator: EmulatorProcess,
        run_id: str,
        rows: int,
        *,
        log_every: float,
        out: Callable[[str], None] = _say,
    ) -> None:
        self.stack = stack
        self.client: AirflowClient = stack.client
        self.emulator = emulator
        self.run_id = run_id
        self.rows = rows
        self.out = out
        self.tty = sys.stdout.isatty()
        self.log = ProgressLog(every=log_every)
        self._http = httpx.Client(base_url=stack.api_url, timeout=30.0)
        self._reported: set[tuple[str, int, int]] = set()
        self._notes: list[str] = []
        self._report_error: str | None = None

    def close(self) -> None:
        self._http.close()

    def __call__(self, run: dict[str, Any]) -> None:
        self._report_failures()
        report = self._fetch()
        counts = self._counts_line()
        if self.tty:
            body = render_text(report, server_url=self.stack.api_url) if report else ""
            notes = "\n".join(self._notes[-3:])
            sys.stdout.write("\x1b[H\x1b[2J" + body + "\n\n" + counts + "\n")
            if notes:
                sys.stdout.write("\n" + notes + "\n")
            sys.stdout.write(f"\nUI {self.stack.ui_url}   Ctrl-C stops everything\n")
            sys.stdout.flush()
        elif report is not None:
            for line in self.log.lines(report, extra=counts):
                self.out(line)

    def _fetch(self) -> dict[str, Any] | None:
        """The run's report, or None for this poll (a dropped connection, a report error: the
        next poll tries again; a new kind of error is printed once)."""
        try:
            self._http.headers["Authorization"] = f"Bearer {self.client.token()}"
            return fetch_report(self._http, DAG_ID, self.run_id)
        except httpx.TransportError:
            return None
        except (httpx.HTTPError, ReportError, ValueError, KeyError) as exc:
            message = f"(progress report unavailable: {exc!r})"
            if message != self._report_error:
                self._report_error = message
                self.out(message)
            return None

    def _report_failures(self) -> None:
        """Print why a task try failed, once per try, as it happens: a newcomer watching the
        terminal should not have to find the task log to learn the CA or a login is wrong."""
        for ti in self.client.task_instances(DAG_ID, self.run_id):
            if ti.get("state") not in ("up_for_retry", "failed"):
                continue
            tries = int(ti.get("try_number") or 1)
            key = (ti["task_id"], ti.get("map_index", -1), tries)
            if key in self._reported:
                continue
            self._reported.add(key)
            lines = self.client.task_log(
                DAG_ID, self.run_id, ti["task_id"], tries, map_index=key[1]
            )
            errors = [line for line in lines if line.startswith(("error", "critical"))]
            shown = "\n".join((errors or lines)[-6:])
            self._notes.append(f"! {ti['task_id']}[{key[1]}] try {tries} {ti['state']}:\n{shown}")
            if not self.tty:
                self.out(f"{self.log.elapsed()} {self._notes[-1]}")

    def _counts_line(self) -> str:
        try:
            tables = self.emulator.counts()["tables"]
        except httpx.HTTPError as exc:
            return f"emulator: unreachable ({exc.__class__.__name__})"
        loaded = int(tables.get(TARGET_TABLE, 0))
        complete, failed = (tables.get(f"bulk2_jobs_{s}", 0) for s in ("JobComplete", "Failed"))
        return (
            f"org: {loaded:,} / {self.rows:,} {TARGET_TABLE} records, "
            f"Bulk jobs {complete} complete / {failed} failed"
        )


# -- the demo ------------------------------------------------------------------------------------


def reconciliation(
    client: AirflowClient, emulator: EmulatorProcess, run: dict[str, Any], rows: int
) -> tuple[str, bool]:
    """The closing text and whether the load is exact (run green and every row in the org)."""
    run_id = run["dag_run_id"]
    lines = ["", "=" * 78, f"Run {run_id}: {str(run.get('state')).upper()}"]
    summary = client.xcom(DAG_ID, run_id, "summary")
    reconcile = client.xcom(DAG_ID, run_id, "reconcile")
    if isinstance(summary, str) and summary.strip():
        lines += ["", summary.rstrip()]
    elif reconcile is not None:
        lines += ["", "reconcile:", json.dumps(reconcile, indent=2, default=str)]
    else:
        lines += ["", "(no reconcile/summary result: see the task logs in the UI)"]
    failed = [
        f"  {ti['task_id']}[{ti.get('map_index', -1)}] {ti.get('state')}"
        for ti in client.task_instances(DAG_ID, run_id)
        if ti.get("state") not in ("success", "skipped")
    ]
    if failed:
        lines += ["", "Task instances not successful:", *failed]
    tables = emulator.counts()["tables"]
    in_org = int(tables.get(TARGET_TABLE, 0))
    source = int(tables.get(SOURCE_TABLE, rows))
    exact = run.get("state") == "success" and in_org == source
    mark = "OK" if in_org == source else "MISMATCH"
    lines += [
        "",
        f"Emulator org: {in_org:,} {TARGET_TABLE} records for {source:,} source rows -> {mark}",
        f"Bulk jobs: {tables.get('bulk2_jobs_JobComplete', 0)} complete, "
        f"{tables.get('bulk2_jobs_Failed', 0)} failed",
        "=" * 78,
    ]
    return "\n".join(lines), exact


def announce(stack: AirflowStack, out: Callable[[str], None]) -> None:
    """Where the demo's Airflow is and how to reach it from a browser and from another terminal."""
    fate = (
        "kept when the demo ends (--keep-home)"
        if stack.keep_home
        else "DELETED when the demo ends; --keep-home keeps it"
    )
    out("")
    out(f"Airflow UI  {stack.ui_url}")
    out(f"Login       {stack.username} / {stack.password}")
    out(f"Home        {stack.home}  (metadata DB, task logs, dead letters): {fate}")
    out(f"Logs        {stack.log_dir}")
    out("CLI         in another terminal, paste:")
    out(f"              source {stack.cli_env_path}")
    out("            then `airflow ...` and `python -m include.dc2sf.report ...` (README) use this")
    out("            demo: it exports AIRFLOW_HOME, the demo's Airflow config and connections,")
    out("            .venv/bin on PATH, the repo on PYTHONPATH, AIRFLOW_URL/USER/PASSWORD")
    out(f"Started in  {stack.started_in:.0f}s; Ctrl-C stops everything")
    out("")


def home_fate(stack: AirflowStack) -> str:
    """What became of the home, said at exit: it holds the dead letters a user may want."""
    if stack.home.exists():
        return (
            f"Kept the demo's Airflow home {stack.home} (metadata DB, task logs, dead letters); "
            f"remove it with: rm -rf {stack.home}"
        )
    return (
        f"Deleted the demo's Airflow home {stack.home} (metadata DB, task logs, dead letters); "
        "--keep-home keeps it."
    )


def run_demo(args: argparse.Namespace, out: Callable[[str], None] = _say) -> int:
    """The demo; 0 when the load is exact, 1 otherwise. Ctrl-C while holding ends it with that
    status (holding is its normal end); Ctrl-C before raises KeyboardInterrupt."""
    began = time.monotonic()
    out(
        f"Seeding the emulator: {args.rows:,} rows, {args.accounts:,} accounts "
        f"(faults: {args.faults}, time scale {args.time_scale})"
    )
    with EmulatorProcess(
        rows=args.rows,
        accounts=args.accounts,
        time_scale=args.time_scale,
        faults=args.faults,
        seed=args.seed,
    ) as emulator:
        out(f"Emulator on {emulator.base_url} (pid={emulator.pid}, log {emulator.log_path})")
        out("Starting Airflow (scheduler, dag-processor, triggerer, api-server)...")
        stack = AirflowStack(
            emulator_url=emulator.base_url,
            emulator_ca=emulator.ca_bundle,
            dag_ids=[DAG_ID],
            keep_home=True if args.keep_home else None,
        )
        try:
            with stack:
                exact = _load(args, stack, emulator, out, began)
                if args.hold:
                    out(f"Holding: UI at {stack.ui_url} until Ctrl-C.")
                    try:
                        while True:
                            time.sleep(3600)
                    except KeyboardInterrupt:
                        out("\nCtrl-C: stopping the demo.")
        finally:
            out(home_fate(stack))
    return 0 if exact else 1


def _load(
    args: argparse.Namespace,
    stack: AirflowStack,
    emulator: EmulatorProcess,
    out: Callable[[str], None],
    began: float,
) -> bool:
    """Trigger the load, show its progress, print the reconciliation; True when exact."""
    announce(stack, out)
    client = stack.client
    run = client.trigger(DAG_ID, args.run_conf, note="make demo")
    run_id = run["dag_run_id"]
    out(f"Triggered {DAG_ID} run {run_id} with conf {json.dumps(args.run_conf)}")
    view = ProgressView(stack, emulator, run_id, args.rows, log_every=args.log_every, out=out)
    try:
        finished = client.wait_for_run(
            DAG_ID, run_id, timeout=args.timeout, poll=args.poll, on_poll=view
        )
    except RunTimeout as exc:
        out(f"Gave up waiting: {exc}")
        finished = client.get_run(DAG_ID, run_id)
    finally:
        view.close()
    text, exact = reconciliation(client, emulator, finished, args.rows)
    out(text)
    if not exact and stack.keep_home is None:
        stack.keep_home = True
    took = dt.timedelta(seconds=int(time.monotonic() - began))
    out(f"Demo finished in {took} ({'exact' if exact else 'NOT exact'}).")
    return exact


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # `kill`, a CI cancel or closing the terminal take the same clean-up path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    # Started in the background by a shell without job control, SIGINT arrives ignored and
    # Python keeps it ignored: restore it so Ctrl-C / `kill -INT` always stop the demo cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_demo(args)
    except KeyboardInterrupt:
        _say("\nInterrupted: everything the demo started has been stopped.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
