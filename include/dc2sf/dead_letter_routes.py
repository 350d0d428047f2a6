"""Dead-letter routes of the progress plugin: list a run's files, show one as a table, download it.

Mounted by ``plugins/partition_progress.py`` with the plugin's auth (a logged-in user with read
access to the DAG's runs, task instances and XComs) on every route::

    GET api/runs/{dag_id}/{run_id}/dead-letters                     every source, files, row counts
    GET runs/{dag_id}/{run_id}/dead-letters                         the same as a page
    GET runs/{dag_id}/{run_id}/dead-letters/{source}                one source (``plan`` or a map index)
    GET runs/{dag_id}/{run_id}/dead-letters/{source}/{name}         one file as a table (?offset=&limit=)
    GET runs/{dag_id}/{run_id}/dead-letters/{source}/{name}/download   the file itself (CSV)

Sources are what the run recorded: each ``partition.load`` ``progress`` XCom names its folder,
and ``plan``'s ``null_keys`` XCom names the file of rows whose key is NULL (they belong to no
partition). How a recorded location is checked before anything is read is explained in
:mod:`include.dc2sf.dead_letter_view`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.common.db.common import SessionDep
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.dc2sf.dag_params import run_param_default
from include.dc2sf.dead_letter_html import (
    MAX_CELL_CHARS,
    SourceView,
    document,
    render_page,
    render_sources,
)
from include.dc2sf.dead_letter_view import (
    FileInfo,
    UntrustedLocation,
    find_file,
    iter_bytes,
    list_files,
    read_page,
    trusted_folder,
)
from include.dc2sf.engine.dead_letters import (
    PLAN_FOLDER,
    default_dead_letter_root,
    partition_folder_name,
    safe_run_id,
)
from include.dc2sf.progress_report import (
    LOAD_TASK_ID,
    NULL_KEYS_KEY,
    PLAN_TASK_ID,
    PROGRESS_KEY,
)

log = logging.getLogger(__name__)

ROOT_PARAM = "dead_letter_root"
PAGE_ROWS = 100
MAX_PAGE_ROWS = 1000
#: Served pages may not run scripts or load anything but the plugin's own stylesheets.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Source:
    """Dead letters the run recorded in one place: the plan's or one partition's."""

    key: str  # "plan" or the map index, as it appears in URLs
    title: str
    note: str
    folder_name: str
    recorded_folder: str | None
    recorded_rows: int | None


# --- what the run recorded -----------------------------------------------------------------------


def run_roots(dag_run: Any) -> list[str]:
    """Roots the run may have written to: its conf, the DAG's Param default, the built-in default.

    The same precedence the DAG applies (``params.dead_letter_root or`` the default root).
    """
    roots = []
    conf = dag_run.conf if isinstance(dag_run.conf, dict) else {}
    if conf.get(ROOT_PARAM):
        roots.append(str(conf[ROOT_PARAM]))
    default = run_param_default(dag_run, ROOT_PARAM)
    if default:
        roots.append(str(default))
    roots.append(default_dead_letter_root())
    return roots


def has_dead_letters(progress: Mapping[str, Any]) -> bool:
    """A partition's progress (XCom or report entry) that counts or lists dead letters."""
    return bool(progress.get("dead_lettered") or progress.get("dead_letter_files"))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def recorded_sources(session: Session, dag_id: str, run_id: str) -> tuple[Any, list[Source]]:
    """The run (404 if unknown) and every source of dead letters its XComs name, plan first."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise HTTPException(status_code=404, detail=f"DAG run {dag_id} / {run_id} not found")
    rows = session.scalars(
        select(XComModel)
        .where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            (
                (XComModel.task_id == LOAD_TASK_ID) & (XComModel.key == PROGRESS_KEY)
                | (XComModel.task_id == PLAN_TASK_ID) & (XComModel.key == NULL_KEYS_KEY)
            ),
        )
        .order_by(XComModel.map_index)
    ).all()
    plan: list[Source] = []
    partitions: list[Source] = []
    for row in rows:
        value = XComModel.deserialize_value(row)
        if not isinstance(value, dict):
            continue
        if row.task_id == PLAN_TASK_ID:
            file = value.get("file")
            plan.append(
                Source(
                    key=PLAN_FOLDER,
                    title="Plan: rows with a NULL key",
                    note="Found by the plan task before any partition started; a row without a "
                    "key cannot be read by key range nor upserted, so it is in no partition.",
                    folder_name=PLAN_FOLDER,
                    recorded_folder=str(file).rpartition("/")[0] if file else None,
                    recorded_rows=_int_or_none(value.get("rows")),
                )
            )
        elif row.map_index >= 0 and has_dead_letters(value):
            partition = _int_or_none(value.get("partition"))
            partitions.append(
                Source(
                    key=str(row.map_index),
                    title=f"Partition {row.map_index}",
                    note=f"Rows given up on by partition.load [{row.map_index}], with their "
                    "Salesforce or pre-load error.",
                    folder_name=partition_folder_name(
                        row.map_index if partition is None else partition
                    ),
                    recorded_folder=value.get("dead_letter_folder") or None,
                    recorded_rows=_int_or_none(value.get("dead_lettered")),
                )
            )
    return dag_run, plan + partitions


def _source(sources: Sequence[Source], key: str) -> Source:
    for source in sources:
        if source.key == key:
            return source
    raise HTTPException(status_code=404, detail=f"No dead letters recorded for {key!r}")


def _folder(dag_run: Any, source: Source) -> Any:
    """The trusted folder of ``source`` (403 if the recorded one is not the run's, 404 if none)."""
    if not source.recorded_folder:
        raise HTTPException(status_code=404, detail="No dead-letter folder recorded yet")
    try:
        return trusted_folder(
            source.recorded_folder, run_roots(dag_run), dag_run.run_id, source.folder_name
        )
    except UntrustedLocation as exc:
        log.warning("Refused a recorded dead-letter folder: %s", exc)
        raise HTTPException(
            status_code=403, detail="The recorded folder is outside this run's dead-letter root"
        ) from None


def _storage_error(exc: Exception) -> str:
    """What a page says when storage fails; the exception type only (no URLs with credentials)."""
    return (
        f"Cannot read the dead-letter storage ({type(exc).__name__}); check the connection of "
        "dead_letter_root. A file:// root is readable here only if the api-server shares the "
        "workers' disk."
    )


# --- URLs ----------------------------------------------------------------------------------------


def _run_path(dag_id: str, run_id: str) -> str:
    """``runs/<dag>/<run>``, the run's progress page, relative to the plugin root."""
    return f"runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def _base(dag_id: str, run_id: str) -> str:
    """``runs/<dag>/<run>/dead-letters`` relative to the plugin root (every URL is relative)."""
    return f"{_run_path(dag_id, run_id)}/dead-letters"


def _file_urls(source_url: str, name: str) -> tuple[str, str]:
    """(view, download) of file ``name`` of the source at ``source_url``."""
    view = f"{source_url}/{quote(name)}"
    return view, f"{view}/download"


def add_dead_letter_links(report: dict[str, Any]) -> dict[str, Any]:
    """Adds to a progress report the dead-letter URLs (relative to the plugin root).

    ``dead_letters_url`` for the whole run (the plan's NULL-key rows are its ``/plan``), and
    ``dead_letter_url`` per partition that has dead letters.
    """
    run = report["run"]
    base = _base(run["dag_id"], run["run_id"])
    report["dead_letters_url"] = base
    for item in report["partitions"]:
        item["dead_letter_url"] = f"{base}/{item['map_index']}" if has_dead_letters(item) else None
    return report


# --- listing -------------------------------------------------------------------------------------


def _listing(dag_run: Any, source: Source) -> tuple[str | None, list[FileInfo], str | None]:
    """Folder, files and the error to show instead (a page lists what it can, never a 500)."""
    try:
        folder = _folder(dag_run, source)
    except HTTPException as exc:
        return source.recorded_folder, [], str(exc.detail)
    try:
        return str(folder), list_files(folder), None
    except Exception as exc:
        log.warning("Listing %s failed", folder, exc_info=True)
        return str(folder), [], _storage_error(exc)


@router.get("/api/runs/{dag_id}/{run_id}/dead-letters")
def dead_letters_json(dag_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
    """Every source of the run with its files and row counts.

    Schema: ``{"dag_id", "run_id", "sources": [{"key", "title", "recorded_rows", "folder",
    "error", "url", "files": [{"name", "rows", "size", "view_url", "download_url"}]}]}``; URLs
    are relative to the plugin root.
    """
    dag_run, sources = recorded_sources(session, dag_id, run_id)
    base = _base(dag_id, run_id)
    items = []
    for source in sources:
        folder, files, error = _listing(dag_run, source)
        url = f"{base}/{source.key}"
        items.append(
            {
                "key": source.key,
                "title": source.title,
                "recorded_rows": source.recorded_rows,
                "folder": folder,
                "error": error,
                "url": url,
                "files": [
                    {
                        "name": f.name,
                        "rows": f.rows,
                        "size": f.size,
                        **dict(
                            zip(("view_url", "download_url"), _file_urls(url, f.name), strict=True)
                        ),
                    }
                    for f in files
                ],
            }
        )
    return {"dag_id": dag_id, "run_id": run_id, "sources": items}


def _sources_page(dag_run: Any, sources: Sequence[Source], title: str, depth: int) -> HTMLResponse:
    """``depth``: path segments below ``runs/<dag>/<run>`` (1 for the run's list, 2 for one source)."""
    plugin_root = "../" * (depth + 2)
    base = plugin_root + _base(dag_run.dag_id, dag_run.run_id)
    views = []
    for source in sources:
        folder, files, error = _listing(dag_run, source)
        url = f"{base}/{source.key}"
        views.append(
            SourceView(
                anchor=f"source-{source.key}",
                title=source.title,
                note=source.note,
                url=url,
                folder=folder,
                files=files,
                error=error,
                file_url={f.name: _file_urls(url, f.name) for f in files},
            )
        )
    run_page = plugin_root + _run_path(dag_run.dag_id, dag_run.run_id)
    body = (
        f"<p class='sub'>{html.escape(dag_run.dag_id)} / {html.escape(dag_run.run_id)}</p>"
        + render_sources(views)
    )
    return HTMLResponse(
        document(title, plugin_root, (run_page, "Back to the run"), body), headers=PAGE_HEADERS
    )


@router.get("/runs/{dag_id}/{run_id}/dead-letters", response_class=HTMLResponse)
def dead_letters_page(dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
    """Every source of the run: the plan's NULL-key rows and each partition's files."""
    dag_run, sources = recorded_sources(session, dag_id, run_id)
    return _sources_page(dag_run, sources, "Dead letters", 1)


@router.get("/runs/{dag_id}/{run_id}/dead-letters/{source}", response_class=HTMLResponse)
def source_page(dag_id: str, run_id: str, source: str, session: SessionDep) -> HTMLResponse:
    """One source's files (where a partition's dead-letter count links to).

    Unlike the run's page, which lists what it can, a refused folder is the whole answer: 403.
    """
    dag_run, sources = recorded_sources(session, dag_id, run_id)
    chosen = _source(sources, source)
    if chosen.recorded_folder:
        _folder(dag_run, chosen)
    return _sources_page(dag_run, [chosen], f"Dead letters · {chosen.title}", 2)


# --- one file ------------------------------------------------------------------------------------


def _file(session: Session, dag_id: str, run_id: str, source: str, name: str) -> tuple[Any, Any]:
    dag_run, sources = recorded_sources(session, dag_id, run_id)
    chosen = _source(sources, source)
    folder = _folder(dag_run, chosen)
    try:
        return chosen, find_file(folder, name)
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="No such dead-letter file") from None
    except Exception as exc:
        log.warning("Listing %s failed", folder, exc_info=True)
        raise HTTPException(status_code=502, detail=_storage_error(exc)) from None


@router.get("/runs/{dag_id}/{run_id}/dead-letters/{source}/{name}", response_class=HTMLResponse)
def file_page(
    dag_id: str,
    run_id: str,
    source: str,
    name: str,
    session: SessionDep,
    offset: int = Query(default=0, ge=0),
    limit: int = Query(default=PAGE_ROWS, ge=1, le=MAX_PAGE_ROWS),
) -> HTMLResponse:
    """One file as a table, ``limit`` rows from ``offset``; every value escaped."""
    chosen, path = _file(session, dag_id, run_id, source, name)
    try:
        page = read_page(path, offset=offset, limit=limit, max_chars=MAX_CELL_CHARS)
    except Exception as exc:
        log.warning("Reading %s failed", path, exc_info=True)
        raise HTTPException(status_code=502, detail=_storage_error(exc)) from None
    plugin_root = "../" * 5
    source_url = plugin_root + f"{_base(dag_id, run_id)}/{chosen.key}"
    page_url, download_url = _file_urls(source_url, path.name)
    body = (
        f"<p class='sub'>{html.escape(dag_id)} / {html.escape(run_id)} · {html.escape(chosen.title)}</p>"
        + render_page(page, download_url=download_url, page_url=page_url, limit=limit)
    )
    return HTMLResponse(
        document(path.name, plugin_root, (source_url, chosen.title), body), headers=PAGE_HEADERS
    )


@router.get("/runs/{dag_id}/{run_id}/dead-letters/{source}/{name}/download")
def download(
    dag_id: str, run_id: str, source: str, name: str, session: SessionDep
) -> StreamingResponse:
    """The file as written (raw CSV, streamed), as an attachment named after run and source."""
    chosen, path = _file(session, dag_id, run_id, source, name)
    filename = f"dead-letters_{safe_run_id(run_id)}_{chosen.folder_name}_{path.name}"
    return StreamingResponse(
        iter_bytes(path),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
        },
    )
