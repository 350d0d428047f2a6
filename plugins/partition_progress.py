"""Partition progress of the Data Cloud → Salesforce load, inside the Airflow UI.

A FastAPI app mounted in the api-server at ``/dc2sf`` (under ``[api] base_url`` if set):

* ``GET api/runs?dag_id=&limit=``                     latest runs of the load DAG (JSON)
* ``GET api/runs/{dag_id}/{run_id}``                  the progress report of one run (JSON)
* ``GET runs`` / ``GET runs/{dag_id}/{run_id}``         the pages that render them
* ``GET [api/]runs/{dag_id}/{run_id}/dead-letters[/…]`` a run's dead letters: list, view, download
  (:mod:`include.dc2sf.dead_letter_routes`)

Why it looks like this:

* Plugin apps get **no** auth from Airflow (their routes answer anonymous callers): every route
  requires a logged-in user (the UI's ``_token`` cookie or a Bearer token), and every route that shows a run also requires
  read access to *that* DAG through the auth manager (runs, task instances, XComs, logs), so a
  user who cannot see the DAG in Airflow cannot see it here either (403).
* The api-server has metadata-DB access, so the report reads the ``progress`` XComs, the mapped
  TIs of ``partition.wait`` / ``partition.load`` and the ``plan`` XCom directly, in four queries
  per refresh. The arithmetic lives in :mod:`include.dc2sf.progress_report` (shared with the
  terminal report), which builds on :mod:`include.dc2sf.logic.progress` (shared with the
  operator), so nothing is computed twice.
* The chart's time series is collected **in the browser** while the page is open (kept in
  ``sessionStorage``, seeded with each partition's ``started_at``): an XCom row is overwritten on
  every push, so the DB keeps no history, and an in-process buffer in the api-server would differ
  between its workers.
* Every URL in the pages is relative, so they work under an ``[api] base_url`` prefix, on Astro,
  and inside the UI's iframe (external views).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import logging
from pathlib import Path
from string import Template
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    requires_access_dag,
    requires_authenticated,
)
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.dc2sf.dag_params import run_param_default, serialized_dag
from include.dc2sf.dead_letter_routes import add_dead_letter_links
from include.dc2sf.dead_letter_routes import router as dead_letter_router
from include.dc2sf.progress_report import (
    DEFAULT_DAG_ID,
    LOAD_TASK_ID,
    NULL_KEYS_KEY,
    PLAN_TASK_ID,
    PROGRESS_KEY,
    WAIT_TASK_ID,
    RunSnapshot,
    TaskSnapshot,
    build_report,
    iso,
    parse_time,
)

log = logging.getLogger(__name__)

URL_PREFIX = "/dc2sf"
#: The page's one name: menu entry, run tab, page titles (README and alerts say the same).
PAGE_NAME = "Partition progress"
ASSETS = Path(__file__).resolve().parent / "dc2sf_progress_assets"
RUN_LIST_LIMIT = 25
_ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

#: Reading a run's progress means reading its runs, task instances and XComs.
_READ_RUN = [
    Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN)),
    Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.TASK_INSTANCE)),
    Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM)),
]


def _read_dag_from_query(request: Request, user: GetUserDep) -> None:
    """Like ``requires_access_dag`` but with the load DAG as default when no ``dag_id`` is given.

    ``requires_access_dag`` with no dag id would ask for *all* DAGs; the run list is about one.
    """
    dag_id = request.query_params.get("dag_id") or DEFAULT_DAG_ID
    requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN, param_dag_id=dag_id)(
        request, user
    )


app = FastAPI(
    title=PAGE_NAME,
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    # Plugin apps are not protected by Airflow: require a logged-in user on every route.
    dependencies=[Depends(requires_authenticated())],
)


@app.exception_handler(HTTPException)
async def _html_errors(request: Request, exc: HTTPException) -> Response:
    """Pages answer 401/403/404 with a readable page (401 sends the browser to the login page).

    JSON routes (``api/…``) and assets keep FastAPI's JSON errors for scripts and the CLI.
    """
    relative = request.url.path[len(request.scope.get("root_path", "")) :]
    if not relative.startswith("/runs") or exc.status_code not in (401, 403, 404):
        return await http_exception_handler(request, exc)
    depth = max(0, relative.count("/") - 1)
    airflow_root = "../" * (depth + 1)
    if exc.status_code == 401:
        login = _login_path()
        body = (
            "<p>You are not logged in. <a id='login' href='#'>Log in to Airflow</a>.</p>"
            "<script>const u=new URL(" + json.dumps(airflow_root + login) + ",location.href);"
            "u.searchParams.set('next',location.href);"
            "document.getElementById('login').href=u.toString();location.replace(u.toString());"
            "</script>"
        )
    elif exc.status_code == 403:
        body = f"<p>You do not have access to this DAG: {html.escape(str(exc.detail))}</p>"
    else:
        body = f"<p>{html.escape(str(exc.detail))}</p>"
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{exc.status_code}</title></head><body style='font-family:system-ui,sans-serif'>"
        f"<h1>{exc.status_code}</h1>{body}</body></html>"
    )
    return HTMLResponse(page, status_code=exc.status_code, headers=exc.headers)


def _login_path() -> str:
    """The auth manager's login page, relative to the Airflow root (no leading slash)."""
    try:
        from airflow.api_fastapi.app import API_ROOT_PATH, get_auth_manager

        url = get_auth_manager().get_url_login()
    except Exception:  # an auth manager without a login page: fall back to the UI root
        log.debug("No login URL from the auth manager", exc_info=True)
        return ""
    if urlsplit(url).scheme:
        return url  # an external identity provider
    root = API_ROOT_PATH or "/"
    return url[len(root) :] if url.startswith(root) else url.lstrip("/")


# --- data ----------------------------------------------------------------------------------------


def _xcom_value(row: Any) -> Any:
    from airflow.models.xcom import XComModel

    return XComModel.deserialize_value(row)


def _stagger_minutes(dag_run: Any) -> float | None:
    conf = dag_run.conf or {}
    if isinstance(conf, dict) and conf.get("stagger_minutes") is not None:
        try:
            return float(conf["stagger_minutes"])
        except (TypeError, ValueError):
            return None
    value = run_param_default(dag_run, "stagger_minutes")
    return float(value) if value is not None else None


def _fire_times(session: Session, dag_id: str, run_id: str, waits: list[Any]) -> dict[int, Any]:
    """Sensor fire times: the deferred trigger's ``moment``, else the rendered ``target_time``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.trigger import Trigger

    times: dict[int, Any] = {}
    trigger_ids = {row.trigger_id: row.map_index for row in waits if row.trigger_id is not None}
    if trigger_ids:
        for trigger in session.scalars(select(Trigger).where(Trigger.id.in_(trigger_ids))):
            try:
                kwargs = trigger.kwargs
            except Exception:  # e.g. a rotated Fernet key: the rendered field still works
                log.debug("Cannot decrypt trigger %s", trigger.id, exc_info=True)
                continue
            moment = kwargs.get("moment") or kwargs.get("target_time")
            if moment:
                times[trigger_ids[trigger.id]] = parse_time(moment)
    missing = [row.map_index for row in waits if row.map_index not in times]
    if missing:
        stmt = select(RTIF.map_index, RTIF.rendered_fields).where(
            RTIF.dag_id == dag_id,
            RTIF.run_id == run_id,
            RTIF.task_id == WAIT_TASK_ID,
            RTIF.map_index.in_(missing),
        )
        for map_index, fields in session.execute(stmt):
            target = (fields or {}).get("target_time")
            if target:
                try:
                    times[map_index] = parse_time(target)
                except ValueError:
                    continue
    return times


def _retry_times(session: Session, dag_run: Any, map_indexes: list[int]) -> dict[int, dt.datetime]:
    """When Airflow starts the next try of each ``up_for_retry`` load TI.

    Asked of Airflow itself (``TaskInstance.next_retry_datetime()``: end of the failed try plus
    ``retry_delay``, grown by ``retry_exponential_backoff`` with Airflow's per-TI jitter, capped by
    ``max_retry_delay``, or a retry policy's override), the rule the scheduler applies, so the page
    cannot drift from it. Needs the task's definition from the run's DAG version.
    """
    from airflow.models.taskinstance import TaskInstance as TI

    if not map_indexes:
        return {}
    version = getattr(dag_run, "created_dag_version_id", None)
    dag = serialized_dag(dag_run.dag_id, str(version) if version else None)
    if dag is None or not dag.has_task(LOAD_TASK_ID):
        return {}
    task = dag.get_task(LOAD_TASK_ID)
    times: dict[int, dt.datetime] = {}
    tis = session.scalars(
        select(TI).where(
            TI.dag_id == dag_run.dag_id,
            TI.run_id == dag_run.run_id,
            TI.task_id == LOAD_TASK_ID,
            TI.map_index.in_(map_indexes),
        )
    ).all()
    for ti in tis:
        if ti.end_date is None:
            continue
        try:
            ti.task = task
            times[ti.map_index] = ti.next_retry_datetime()
        except Exception:  # an odd task definition: show "up for retry" without the time
            log.debug("No retry time for map index %s", ti.map_index, exc_info=True)
        finally:
            session.expunge(ti)  # read-only: never flush anything back
    return times


def _state(value: Any) -> str | None:
    """A TI or run state (enum or text) as text; None when it has none."""
    return str(value.value if hasattr(value, "value") else value) if value else None


def load_snapshot(session: Session, dag_id: str, run_id: str) -> RunSnapshot:
    """Everything about one run, read from the metadata DB (404 if the run does not exist)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.xcom import XComModel

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise HTTPException(status_code=404, detail=f"DAG run {dag_id} / {run_id} not found")
    rows = session.execute(
        select(
            TI.task_id,
            TI.map_index,
            TI.state,
            TI.try_number,
            TI.max_tries,
            TI.start_date,
            TI.end_date,
            TI._rendered_map_index,
            TI.trigger_id,
        ).where(
            TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id.in_([WAIT_TASK_ID, LOAD_TASK_ID])
        )
    ).all()
    fire_at = _fire_times(
        session, dag_id, run_id, [r for r in rows if r.task_id == WAIT_TASK_ID and r.map_index >= 0]
    )
    retry_at = _retry_times(
        session,
        dag_run,
        [
            r.map_index
            for r in rows
            if r.task_id == LOAD_TASK_ID and _state(r.state) == "up_for_retry"
        ],
    )
    tasks = [
        TaskSnapshot(
            task_id=r.task_id,
            map_index=r.map_index,
            state=_state(r.state),
            try_number=r.try_number or 0,
            max_tries=r.max_tries,
            start_date=r.start_date,
            end_date=r.end_date,
            rendered_map_index=r._rendered_map_index,
            fire_at=fire_at.get(r.map_index) if r.task_id == WAIT_TASK_ID else None,
            retry_at=retry_at.get(r.map_index) if r.task_id == LOAD_TASK_ID else None,
        )
        for r in rows
    ]
    xcoms = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            (
                (XComModel.task_id == LOAD_TASK_ID) & (XComModel.key == PROGRESS_KEY)
                | (XComModel.task_id == PLAN_TASK_ID)
                & XComModel.key.in_(["return_value", NULL_KEYS_KEY])
            ),
        )
    ).all()
    progress: dict[int, dict[str, Any]] = {}
    plan: list[dict[str, Any]] | None = None
    null_keys: dict[str, Any] | None = None
    for row in xcoms:
        value = _xcom_value(row)
        if row.task_id == PLAN_TASK_ID and row.key == NULL_KEYS_KEY:
            null_keys = dict(value) if isinstance(value, dict) else None
        elif row.task_id == PLAN_TASK_ID:
            plan = [dict(item) for item in value] if isinstance(value, list) else None
        elif isinstance(value, dict) and row.map_index >= 0:
            progress[row.map_index] = value
    return RunSnapshot(
        dag_id=dag_id,
        run_id=run_id,
        state=_state(dag_run.state),
        start_date=dag_run.start_date,
        end_date=dag_run.end_date,
        now=dt.datetime.now(dt.UTC),
        plan=plan,
        tasks=tasks,
        progress=progress,
        null_keys=null_keys,
        stagger_minutes=_stagger_minutes(dag_run),
        source="plugin",
    )


# --- JSON API ------------------------------------------------------------------------------------


@app.get("/api/runs", dependencies=[Depends(_read_dag_from_query)])
def list_runs(
    session: SessionDep,
    dag_id: str = Query(default=DEFAULT_DAG_ID, max_length=250),
    limit: int = Query(default=RUN_LIST_LIMIT, ge=1, le=200),
) -> dict[str, Any]:
    """Latest runs of a DAG, newest first, with their partition totals.

    Schema: ``{"dag_id", "runs": [{"run_id", "state", "run_type", "run_after", "start_date",
    "end_date", "partitions", "processed", "succeeded", "dead_lettered", "success_rate",
    "url"}]}``; ``url`` is the run page, relative to the plugin root.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel

    runs = session.scalars(
        select(DagRun)
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.run_after.desc(), DagRun.id.desc())
        .limit(limit)
    ).all()
    sums: dict[str, dict[str, int]] = {}
    if runs:
        for row in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id.in_([r.run_id for r in runs]),
                XComModel.task_id == LOAD_TASK_ID,
                XComModel.key == PROGRESS_KEY,
            )
        ):
            value = _xcom_value(row)
            if not isinstance(value, dict):
                continue
            acc = sums.setdefault(
                row.run_id, {"partitions": 0, "processed": 0, "succeeded": 0, "dead_lettered": 0}
            )
            acc["partitions"] += 1
            for name in ("processed", "succeeded", "dead_lettered"):
                number = value.get(name)
                acc[name] += number if isinstance(number, int) else 0
    items = []
    for r in runs:
        acc = sums.get(
            r.run_id, {"partitions": 0, "processed": 0, "succeeded": 0, "dead_lettered": 0}
        )
        settled = acc["succeeded"] + acc["dead_lettered"]
        state = r.state.value if hasattr(r.state, "value") else r.state
        items.append(
            {
                "run_id": r.run_id,
                "state": state,
                "run_type": str(r.run_type.value if hasattr(r.run_type, "value") else r.run_type),
                "run_after": iso(r.run_after),
                "start_date": iso(r.start_date),
                "end_date": iso(r.end_date),
                **acc,
                "success_rate": round(acc["succeeded"] / settled, 6) if settled else None,
                "url": f"runs/{quote(dag_id, safe='')}/{quote(r.run_id, safe='')}",
            }
        )
    return {"dag_id": dag_id, "runs": items}


@app.get("/api/runs/{dag_id}/{run_id}", dependencies=_READ_RUN)
def run_report(dag_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
    """The progress report of one run: see :func:`include.dc2sf.progress_report.build_report`."""
    return add_dead_letter_links(build_report(load_snapshot(session, dag_id, run_id)))


# --- pages ---------------------------------------------------------------------------------------


@functools.cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _page(name: str, depth: int, **values: str) -> HTMLResponse:
    """Fills a page template; ``depth`` = path segments below ``runs`` (for relative roots)."""
    plugin_root = "../" * depth if depth else "./"
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    body = Template(_asset(name)).substitute(
        plugin_root=plugin_root,
        airflow_root="../" * (depth + 1),
        page_name=html.escape(PAGE_NAME),
        **escaped,
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@app.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    """``/dc2sf/`` → the run list (relative, so a path prefix survives)."""
    return RedirectResponse("runs", status_code=307)


@app.get("/runs", response_class=HTMLResponse, dependencies=[Depends(_read_dag_from_query)])
def runs_page(dag_id: str = Query(default=DEFAULT_DAG_ID, max_length=250)) -> HTMLResponse:
    """Latest runs of the load DAG (the top-level navigation entry)."""
    return _page("runs.html", 0, dag_id=dag_id, dag_q=quote(dag_id, safe=""))


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=_READ_RUN)
def run_page(dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
    """One run: table, progress bars, chart, links (the tab on the DAG-run page)."""
    from airflow.models.dagrun import DagRun

    if (
        session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        is None
    ):
        raise HTTPException(status_code=404, detail=f"DAG run {dag_id} / {run_id} not found")
    return _page(
        "run.html",
        2,
        dag_id=dag_id,
        run_id=run_id,
        dag_q=quote(dag_id, safe=""),
        run_q=quote(run_id, safe=""),
    )


@app.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    """CSS and JS of the pages (served by the app: the machine and many deployments are offline)."""
    suffix = Path(name).suffix
    if "/" in name or suffix not in _ASSET_TYPES or not (ASSETS / name).is_file():
        raise HTTPException(status_code=404, detail="Not found")
    return Response(
        _asset(name), media_type=_ASSET_TYPES[suffix], headers={"Cache-Control": "max-age=300"}
    )


# --- dead letters --------------------------------------------------------------------------------

# List, view and download them: include/dc2sf/dead_letter_routes.py, under the same read access.
app.include_router(dead_letter_router, dependencies=_READ_RUN)


class PartitionProgressPlugin(AirflowPlugin):
    """Registers the app and two external views: a top-level nav entry and a DAG-run tab."""

    name = "dc2sf_partition_progress"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": PAGE_NAME}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": PAGE_NAME,
            "href": "dc2sf/runs",  # no leading slash: relative to the UI root ([api] base_url)
            "destination": "nav",
            "nav_top_level": True,
            "url_route": "dc2sf_runs",
        },
        {
            "name": PAGE_NAME,
            "href": "dc2sf/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "dc2sf_run_progress",
        },
    ]
