"""``make demo``: the whole load, end to end, on this machine, in a few minutes.

    make demo                                   # 200,000 rows, 5 partitions, 6 s stagger
    make demo DEMO_ARGS="--rows 2000000 --accounts 20000 --partitions 10 --stagger 0.5"
    make demo DEMO_ARGS="--faults light"        # or heavy, inline JSON, a file
    make demo DEMO_ARGS="--hold"                # keep Airflow up afterwards to explore the UI

What it does: starts the Salesforce/Data Cloud emulator with seeded rows (``python -m emulator
serve``), starts a real Airflow (``devstack.AirflowStack``: scheduler, dag-processor, triggerer,
api-server, SQLite, a throwaway home) with the connections and pool of ``airflow_settings.yaml``
pointed at the emulator, triggers ``datacloud_to_salesforce`` over the REST API, draws progress in
the terminal until the run ends, and prints the reconciliation: the run's ``reconcile`` result and
the org's Opportunity count against the source rows. Ctrl-C (or SIGTERM) stops everything it
started. Every option also reads a ``DEMO_*`` environment variable (``DEMO_ROWS=...``).

Exit status: 0 when the run succeeded and the org holds every row, 1 otherwise, 130 on Ctrl-C.
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
from devstack.rest import AirflowClient, RunTimeout

DAG_ID = "datacloud_to_salesforce"
LOAD_TASK = "partition.load"
WAIT_TASK = "partition.wait"
TARGET_TABLE = "Opportunity"
SOURCE_TABLE = "Opportunity_Source__dlm"


def _env(name: str, default: Any) -> Any:
    return os.environ.get(f"DEMO_{name.upper()}", default)


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
        "--timeout", type=float, default=float(_env("timeout", 3600)), help="seconds"
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        default=_env("hold", "") not in ("", "0", "false"),
        help="keep everything running after the run until Ctrl-C (to explore the UI)",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the Airflow home")
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
    return args


def _say(text: str = "") -> None:
    print(text, flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- progress ------------------------------------------------------------------------------------


class ProgressView:
    """Draws the run's progress: the team's report (``include.dc2sf.report``) when it is there and
    answers, else a compact table of our own from the ``progress`` XComs. Either way one line of
    emulator counts follows, since that is the ground truth of what reached the org."""

    def __init__(
        self, stack: AirflowStack, emulator: EmulatorProcess, run_id: str, rows: int
    ) -> None:
        self.stack = stack
        self.client: AirflowClient = stack.client
        self.emulator = emulator
        self.run_id = run_id
        self.rows = rows
        self.tty = sys.stdout.isatty()
        self._last_line = ""
        self._last_print = 0.0
        self._report = _import_report()
        self._report_http: httpx.Client | None = None
        self._reported: set[tuple[str, int, int]] = set()
        self._notes: list[str] = []
        self.started = time.monotonic()

    def close(self) -> None:
        if self._report_http is not None:
            self._report_http.close()

    def __call__(self, run: dict[str, Any]) -> None:
        self._report_failures()
        body = self._team_report() or self._own_table()
        counts = self._counts_line()
        if self.tty:
            # Redraw in place: home + clear, like `watch`.
            notes = "\n".join(self._notes[-3:])
            sys.stdout.write("\x1b[H\x1b[2J" + body + "\n\n" + counts + "\n")
            if notes:
                sys.stdout.write("\n" + notes + "\n")
            sys.stdout.write(f"\nUI {self.stack.ui_url}   Ctrl-C stops everything\n")
            sys.stdout.flush()
            return
        # Logs (CI, a pipe): a line when something changed, at most every 15 s.
        line = f"{self._elapsed()} run {run.get('state')}  {self._states()}  {counts}"
        now = time.monotonic()
        if line != self._last_line and now - self._last_print >= 15:
            _say(line)
            self._last_line, self._last_print = line, now

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
                _say(self._notes[-1])

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"[{seconds // 60:02d}:{seconds % 60:02d}]"

    def _team_report(self) -> str | None:
        if self._report is None:
            return None
        try:
            if self._report_http is None:
                self._report_http = httpx.Client(base_url=self.stack.api_url, timeout=30.0)
            self._report_http.headers["Authorization"] = f"Bearer {self.client.token()}"
            report = self._report.fetch_report(self._report_http, DAG_ID, self.run_id)
            return str(self._report.render_text(report, server_url=self.stack.api_url))
        except httpx.TransportError:
            return None  # a dropped keep-alive connection: the next poll tries again
        except Exception as exc:  # a newer/older report module must not end the demo
            self._report = None
            _say(f"(include.dc2sf.report failed: {exc!r}; using the built-in table)")
            return None

    def _states(self) -> str:
        """``plan success, wait 3 deferred, load 2 running ...``: the run at a glance."""
        tally: dict[str, dict[str, int]] = {}
        for ti in self.client.task_instances(DAG_ID, self.run_id):
            name = ti["task_id"].rsplit(".", 1)[-1]
            state = ti.get("state") or "none"
            tally.setdefault(name, {}).setdefault(state, 0)
            tally[name][state] += 1
        return ", ".join(
            f"{name} " + "/".join(f"{n} {state}" for state, n in states.items())
            for name, states in tally.items()
        )

    def _own_table(self) -> str:
        waits = {
            ti["map_index"]: ti
            for ti in self.client.mapped_task_instances(DAG_ID, self.run_id, WAIT_TASK)
        }
        loads = self.client.mapped_task_instances(DAG_ID, self.run_id, LOAD_TASK)
        header = f"{'partition':<34} {'state':<11} {'processed':>10} {'loaded':>10} {'dead':>6} {'retried':>8} {'jobs':>5} {'rows/s':>8}"
        lines = [f"{DAG_ID}  run {self.run_id}  {self._elapsed()}", header]
        for ti in loads:
            index = ti["map_index"]
            progress = (
                self.client.xcom(DAG_ID, self.run_id, LOAD_TASK, "progress", map_index=index) or {}
            )
            state = ti.get("state") or (waits.get(index) or {}).get("state") or "waiting"
            if state in ("scheduled", "queued", None) and (waits.get(index) or {}).get("state") in (
                "deferred",
                "running",
                "scheduled",
            ):
                state = "waiting"
            label = (ti.get("rendered_map_index") or f"p{index}")[:34]
            lines.append(
                f"{label:<34} {state:<11} "
                f"{_n(progress.get('processed')):>10} {_n(progress.get('succeeded')):>10} "
                f"{_n(progress.get('dead_lettered')):>6} {_n(progress.get('retried')):>8} "
                f"{_n(progress.get('jobs_total', progress.get('jobs'))):>5} "
                f"{_n(progress.get('rate_per_second')):>8}"
            )
        if not loads:
            lines.append("(planning partitions...)")
        return "\n".join(lines)

    def _counts_line(self) -> str:
        try:
            tables = self.emulator.counts()["tables"]
        except httpx.HTTPError as exc:
            return f"emulator: unreachable ({exc.__class__.__name__})"
        loaded = tables.get(TARGET_TABLE, 0)
        running = tables.get("bulk2_jobs_InProgress", 0) + tables.get(
            "bulk2_jobs_UploadComplete", 0
        )
        percent = 100.0 * loaded / self.rows if self.rows else 0.0
        return (
            f"org: {loaded:,} / {self.rows:,} Opportunities ({percent:.1f}%), "
            f"Bulk jobs running {running}, complete {tables.get('bulk2_jobs_JobComplete', 0)}, "
            f"failed {tables.get('bulk2_jobs_Failed', 0)}"
        )


def _n(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _import_report() -> Any:
    """``include.dc2sf.report`` if this checkout has it (it arrived with a later issue)."""
    try:
        from include.dc2sf import report
    except Exception:
        return None
    if not all(hasattr(report, name) for name in ("fetch_report", "render_text")):
        return None
    return report


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


def run_demo(args: argparse.Namespace, out: Callable[[str], None] = _say) -> int:
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
        with stack:
            out("")
            out(f"Airflow UI  {stack.ui_url}")
            out(f"Login       {stack.username} / {stack.password}")
            out(f"Logs        {stack.log_dir}  (task logs under {stack.home / 'logs'})")
            out(f"Started in  {stack.started_in:.0f}s; Ctrl-C stops everything")
            out("")
            client = stack.client
            run = client.trigger(DAG_ID, args.run_conf, note="make demo")
            run_id = run["dag_run_id"]
            out(f"Triggered {DAG_ID} run {run_id} with conf {json.dumps(args.run_conf)}")
            view = ProgressView(stack, emulator, run_id, args.rows)
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
                out(f"Kept {stack.home} (task logs) for a look at what went wrong.")
            took = dt.timedelta(seconds=int(time.monotonic() - began))
            out(f"Demo finished in {took} ({'exact' if exact else 'NOT exact'}).")
            if args.hold:
                out(f"Holding: UI at {stack.ui_url} until Ctrl-C.")
                while True:
                    time.sleep(3600)
    return 0 if exact else 1


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
