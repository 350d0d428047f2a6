"""Terminal progress report of a load run, through Airflow's REST API.

    python -m include.dc2sf.report --url http://localhost:8080 --user admin --password ... \\
        [--dag-id datacloud_to_salesforce] [--run-id ID | --latest] [--watch SECONDS] [--json]

Prints what the seed's ``check_test8_progress`` printed: the partitions still waiting with their
fire times, per-partition counts, totals, the success rate and the projection.

Why two data paths: the report first asks the progress plugin's JSON endpoint
(``/dc2sf/api/runs/{dag}/{run}``), so the terminal and the page show the same numbers by
construction. If the plugin is not installed on that deployment, it reads the public REST API
(run, mapped task instances, ``plan`` and ``progress`` XComs) and builds the report with the very
same :func:`include.dc2sf.progress_report.build_report`. Either way the text is rendered from the
JSON report alone (:func:`render_text`).

Server and credentials: ``--url`` (or ``$AIRFLOW_URL``), then a JWT from ``POST /auth/token``
(``--user`` or ``$AIRFLOW_USER``, the password from ``$AIRFLOW_PASSWORD`` or ``--password``), or a
ready Bearer token (``--token`` / ``$AIRFLOW_API_TOKEN``, e.g. an Astro Deployment API token).
Neither is ever printed.

Exit status, so a script or a monitor can tell "fix the command" from "try again later":

* 0: the report was printed (whatever the run's own state);
* 2: the command needs fixing: missing or rejected credentials, no access to the DAG, unknown DAG
  or run, a server that does not answer like Airflow, bad options (argparse's usage errors are 2
  too);
* 3: the server could not be reached (refused, DNS, TLS, timeout) or answered with a server error;
* 130: interrupted (Ctrl-C).

A reader that goes away (``| head``) ends the report quietly with 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from include.dc2sf.progress_report import (
    DEFAULT_DAG_ID,
    LOAD_TASK_ID,
    PLAN_TASK_ID,
    PROGRESS_KEY,
    WAIT_TASK_ID,
    RunSnapshot,
    TaskSnapshot,
    build_report,
    parse_time,
    render_text,
)

PLUGIN_PREFIX = "/dc2sf"
PAGE_SIZE = 100
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


class ReportError(RuntimeError):
    """A problem the user fixes in the command: credentials, access, DAG or run id, URL."""

    exit_code = EXIT_USAGE


class ServerUnavailable(ReportError):
    """The server answered with a 5xx: nothing to fix in the command, try again later."""

    exit_code = EXIT_UNAVAILABLE


def _q(value: str) -> str:
    return quote(value, safe="")


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code == 401:
        raise ReportError(f"{what}: not authenticated (401); check --user/--password or --token")
    if response.status_code == 403:
        raise ReportError(f"{what}: this user has no access to the DAG (403)")
    if response.status_code >= 500:
        raise ServerUnavailable(f"{what}: the server answered {response.status_code}; try again")
    if response.status_code >= 400:
        detail = response.text[:300]
        raise ReportError(f"{what}: HTTP {response.status_code}: {detail}")
    return response


def _json(response: httpx.Response, what: str) -> Any:
    """The body of a checked response; a page that is not JSON means ``--url`` is not Airflow's
    api-server (or misses its ``[api] base_url`` path)."""
    try:
        return _check(response, what).json()
    except ValueError:
        raise ReportError(
            f"{what}: {response.url} did not answer with JSON; is --url the Airflow api-server "
            "(including any [api] base_url path)?"
        ) from None


def authenticate(
    client: httpx.Client, *, user: str | None, password: str | None, token: str | None
) -> None:
    """Sets the client's Bearer token: the given one, or a JWT from ``POST /auth/token``."""
    if not token:
        if not user or password is None:
            raise ReportError(
                "no credentials: give --user (or $AIRFLOW_USER) with $AIRFLOW_PASSWORD "
                "(or --password), or --token (or $AIRFLOW_API_TOKEN)"
            )
        response = client.post("/auth/token", json={"username": user, "password": password})
        if response.status_code in (400, 401):
            raise ReportError(
                f"login as {user!r} failed ({response.status_code}): wrong user or password"
            )
        token = _json(response, "login").get("access_token")
        if not token:
            raise ReportError(f"login at {response.url} answered without an access token")
    client.headers["Authorization"] = f"Bearer {token}"


def _plugin_json(response: httpx.Response) -> dict[str, Any] | None:
    """The plugin's JSON, or None when the path is not the plugin (e.g. the UI's HTML fallback)."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def latest_run_id(client: httpx.Client, dag_id: str) -> str:
    """Newest run of the DAG (plugin list first, then ``/api/v2/dags/{id}/dagRuns``)."""
    response = client.get(f"{PLUGIN_PREFIX}/api/runs", params={"dag_id": dag_id, "limit": 1})
    body = _plugin_json(response) if response.status_code == 200 else None
    if body is not None and "runs" in body:
        runs = body["runs"]
    else:
        response = client.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns", params={"order_by": "-run_after", "limit": 1}
        )
        if response.status_code == 404:
            raise ReportError(f"DAG {dag_id} not found (see --dag-id)")
        runs = _json(response, f"runs of {dag_id}").get("dag_runs", [])
        runs = [{"run_id": r["dag_run_id"]} for r in runs]
    if not runs:
        if client.get(f"/api/v2/dags/{_q(dag_id)}").status_code == 404:
            raise ReportError(f"DAG {dag_id} not found (see --dag-id)")
        raise ReportError(f"DAG {dag_id} has no runs yet")
    return str(runs[0]["run_id"])


def fetch_report(
    client: httpx.Client, dag_id: str, run_id: str, *, source: str = "auto"
) -> dict[str, Any]:
    """The JSON report of a run: from the plugin, or built from the public REST API."""
    if source in ("auto", "plugin"):
        response = client.get(f"{PLUGIN_PREFIX}/api/runs/{_q(dag_id)}/{_q(run_id)}")
        body = _plugin_json(response)
        if body is not None and "schema_version" in body:
            return body
        if response.status_code in (401, 403):
            _check(response, f"run {run_id}")
        detail = str((body or {}).get("detail", ""))
        if response.status_code == 404 and detail.startswith("DAG run "):
            raise ReportError(detail)
        if source == "plugin":
            raise ReportError(
                f"the progress plugin did not answer at {PLUGIN_PREFIX} (HTTP {response.status_code})"
            )
    return build_report(rest_snapshot(client, dag_id, run_id))


def _paged(client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        response = client.get(path, params={"limit": PAGE_SIZE, "offset": len(items)})
        if response.status_code == 404:
            return items
        page = _json(response, path)
        items += page.get(key, [])
        if not page.get(key) or len(items) >= int(page.get("total_entries", 0)):
            return items


def _xcom(client: httpx.Client, base: str, task_id: str, key: str, map_index: int) -> Any:
    response = client.get(
        f"{base}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}", params={"map_index": map_index}
    )
    if response.status_code == 404:
        return None
    value = _json(response, f"XCom {task_id}[{map_index}] {key}").get("value")
    if isinstance(value, str):  # stored serialised by the Task SDK: decode like XComModel does
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def rest_snapshot(client: httpx.Client, dag_id: str, run_id: str) -> RunSnapshot:
    """The same facts the plugin reads from the DB, read through the public REST API instead."""
    base = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}"
    response = client.get(base)
    if response.status_code == 404:
        raise ReportError(f"DAG run {dag_id} / {run_id} not found")
    run = _json(response, f"run {run_id}")
    tasks: list[TaskSnapshot] = []
    for task_id in (WAIT_TASK_ID, LOAD_TASK_ID):
        for ti in _paged(
            client, f"{base}/taskInstances/{_q(task_id)}/listMapped", "task_instances"
        ):
            fire_at = None
            if task_id == WAIT_TASK_ID:
                target = (ti.get("rendered_fields") or {}).get("target_time")
                try:
                    fire_at = parse_time(target) if target else None
                except ValueError:
                    fire_at = None
            tasks.append(
                TaskSnapshot(
                    task_id=task_id,
                    map_index=int(ti["map_index"]),
                    state=ti.get("state"),
                    try_number=int(ti.get("try_number") or 0),
                    max_tries=ti.get("max_tries"),
                    start_date=parse_time(ti.get("start_date")),
                    end_date=parse_time(ti.get("end_date")),
                    rendered_map_index=ti.get("rendered_map_index"),
                    fire_at=fire_at,
                )
            )
    plan = _xcom(client, base, PLAN_TASK_ID, "return_value", -1)
    progress: dict[int, dict[str, Any]] = {}
    for ti in tasks:
        if ti.task_id == LOAD_TASK_ID and ti.map_index >= 0:
            value = _xcom(client, base, LOAD_TASK_ID, PROGRESS_KEY, ti.map_index)
            if isinstance(value, dict):
                progress[ti.map_index] = value
    return RunSnapshot(
        dag_id=dag_id,
        run_id=run_id,
        state=run.get("state"),
        start_date=parse_time(run.get("start_date")),
        end_date=parse_time(run.get("end_date")),
        now=dt.datetime.now(dt.UTC),
        plan=[dict(item) for item in plan] if isinstance(plan, list) else None,
        tasks=tasks,
        progress=progress,
        stagger_minutes=_rest_stagger(client, dag_id, run.get("conf") or {}),
        source="rest",
    )


def _rest_stagger(client: httpx.Client, dag_id: str, conf: dict[str, Any]) -> float | None:
    """``stagger_minutes`` of the run: its conf, else the DAG's Param default."""
    if conf.get("stagger_minutes") is not None:
        return float(conf["stagger_minutes"])
    response = client.get(f"/api/v2/dags/{_q(dag_id)}/details")
    if response.status_code != 200:
        return None
    param = (response.json().get("params") or {}).get("stagger_minutes")
    value = param.get("value") if isinstance(param, dict) else param
    return float(value) if isinstance(value, int | float) else None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m include.dc2sf.report",
        description="Progress of a Data Cloud → Salesforce load run, as the seed's monitor printed it.",
        epilog="Exit status: 0 printed; 2 fix the command (credentials, access, DAG or run id, "
        "URL, options); 3 server unreachable or failing, try again; 130 interrupted.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("AIRFLOW_URL", "http://localhost:8080"),
        help="Airflow api-server URL, including any [api] base_url path",
    )
    parser.add_argument("--user", default=os.environ.get("AIRFLOW_USER"))
    parser.add_argument(
        "--password",
        default=None,
        help="prefer $AIRFLOW_PASSWORD: arguments show up in process lists",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="a Bearer token instead of user/password (also $AIRFLOW_API_TOKEN)",
    )
    parser.add_argument("--dag-id", default=DEFAULT_DAG_ID)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run-id")
    which.add_argument("--latest", action="store_true", help="the newest run (the default)")
    parser.add_argument(
        "--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until the run ends"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report instead")
    parser.add_argument(
        "--source",
        choices=("auto", "plugin", "rest"),
        default="auto",
        help="auto: the plugin if installed, else the public REST API",
    )
    parser.add_argument(
        "--ca-bundle", default=None, help="CA file for HTTPS (or $REQUESTS_CA_BUNDLE)"
    )
    args = parser.parse_args(argv)
    args.password = (
        args.password if args.password is not None else os.environ.get("AIRFLOW_PASSWORD")
    )
    args.token = args.token or os.environ.get("AIRFLOW_API_TOKEN")
    if args.watch is not None and args.watch <= 0:
        parser.error("--watch needs a positive number of seconds")
    if urlsplit(args.url).scheme not in ("http", "https") or not urlsplit(args.url).netloc:
        parser.error(
            f"--url must be an http(s) URL such as http://localhost:8080, not {args.url!r}"
        )
    return args


def run(
    args: argparse.Namespace,
    client: httpx.Client,
    *,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """One report (or a watch loop) with an already configured client; returns the last report."""
    authenticate(client, user=args.user, password=args.password, token=args.token)
    run_id = args.run_id or latest_run_id(client, args.dag_id)
    clear = args.watch is not None and sys.stdout.isatty()
    while True:
        report = fetch_report(client, args.dag_id, run_id, source=args.source)
        text = (
            json.dumps(report, indent=2) if args.json else render_text(report, server_url=args.url)
        )
        out(("\x1b[H\x1b[2J" if clear else "") + text)
        if args.watch is None or not report["run"]["active"]:
            return report
        sleep(args.watch)


def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """The command line; ``transport`` replaces the network (tests, or a proxy of the caller's)."""
    args = parse_args(argv)
    ca_bundle = args.ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE")
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    )
    try:
        with httpx.Client(
            base_url=args.url.rstrip("/"), timeout=30.0, verify=verify, transport=transport
        ) as client:
            # Flushed per report: `--watch` into a pipe or a log shows each refresh as it comes,
            # and a reader that went away surfaces here, not at interpreter exit.
            run(args, client, out=lambda text: print(text, flush=True))
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except httpx.HTTPError as exc:
        print(
            f"error: cannot reach {args.url} ({exc.__class__.__name__}: {exc}); "
            "is the api-server up, and is --url (or $AIRFLOW_URL) right?",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of the report. Python would print a
        # traceback flushing stdout at exit; point stdout at /dev/null instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
