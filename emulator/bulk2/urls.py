"""Bulk API 2.0 routes (reference §3.1): HTTP in and out only; behaviour lives in ``models``."""

from __future__ import annotations

import gzip
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from emulator.auth.dependencies import CoreSession, StateDep
from emulator.bulk2.models import BulkService, attach
from emulator.exceptions import JsonParserError
from emulator.state import EmulatorState

router = APIRouter()
_INGEST = "/services/data/v{version}/jobs/ingest"


def _service(state: EmulatorState) -> BulkService:
    return attach(state)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError as error:
        raise JsonParserError(f"Unexpected character in request body: {error}") from error


def csv_response(request: Request, text: str, headers: dict[str, str] | None = None) -> Response:
    """A CSV body, gzip-compressed when the client asks for it (reference §3.5)."""
    body = text.encode("utf-8")
    out_headers = dict(headers or {})
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body = gzip.compress(body, compresslevel=5)
        out_headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/csv; charset=UTF-8", headers=out_headers)


@router.post(_INGEST)
@router.post(_INGEST + "/")
async def create_job(version: str, request: Request, session: CoreSession, state: StateDep) -> Any:
    body = await _json(request)
    job = _service(state).create_job(body, version)
    return JSONResponse(job.create_view())


@router.get(_INGEST)
@router.get(_INGEST + "/")
def list_jobs(
    version: str,
    session: CoreSession,
    state: StateDep,
    queryLocator: str | None = None,
    jobType: str | None = None,
) -> dict[str, Any]:
    return _service(state).page_jobs(version, queryLocator, jobType)


@router.get(_INGEST + "/{job_id}")
@router.get(_INGEST + "/{job_id}/")
def job_info(version: str, job_id: str, session: CoreSession, state: StateDep) -> dict[str, Any]:
    return _service(state).get(job_id).info_view()


@router.patch(_INGEST + "/{job_id}")
@router.patch(_INGEST + "/{job_id}/")
async def patch_job(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Any:
    body = await _json(request)
    view = await run_in_threadpool(_service(state).set_state, job_id, body)
    return JSONResponse(view)


@router.delete(_INGEST + "/{job_id}")
@router.delete(_INGEST + "/{job_id}/")
def delete_job(version: str, job_id: str, session: CoreSession, state: StateDep) -> Response:
    _service(state).delete(job_id)
    return Response(status_code=204)


@router.put(_INGEST + "/{job_id}/batches")
@router.put(_INGEST + "/{job_id}/batches/")
async def upload(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    data = await request.body()
    content_type = request.headers.get("content-type")
    await run_in_threadpool(_service(state).upload, job_id, data, content_type)
    return Response(status_code=201)


def _results(request: Request, state: EmulatorState, job_id: str, kind: str) -> Response:
    return csv_response(request, _service(state).results(job_id, kind))


@router.get(_INGEST + "/{job_id}/successfulResults")
@router.get(_INGEST + "/{job_id}/successfulResults/")
def successful(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    return _results(request, state, job_id, "successful")


@router.get(_INGEST + "/{job_id}/failedResults")
@router.get(_INGEST + "/{job_id}/failedResults/")
def failed(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    return _results(request, state, job_id, "failed")


@router.get(_INGEST + "/{job_id}/unprocessedrecords")
@router.get(_INGEST + "/{job_id}/unprocessedrecords/")
@router.get(_INGEST + "/{job_id}/unprocessedRecords")
@router.get(_INGEST + "/{job_id}/unprocessedRecords/")
def unprocessed(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    return _results(request, state, job_id, "unprocessed")


_QUERY = "/services/data/v{version}/jobs/query"


@router.post(_QUERY)
@router.post(_QUERY + "/")
async def create_query_job(
    version: str, request: Request, session: CoreSession, state: StateDep
) -> Any:
    body = await _json(request)
    view = await run_in_threadpool(_service(state).queries.create, body, version)
    return JSONResponse(view)


@router.get(_QUERY)
@router.get(_QUERY + "/")
def list_query_jobs(
    version: str, session: CoreSession, state: StateDep, queryLocator: str | None = None
) -> dict[str, Any]:
    return _service(state).queries.page(version, queryLocator)


@router.get(_QUERY + "/{job_id}")
@router.get(_QUERY + "/{job_id}/")
def query_job_info(
    version: str, job_id: str, session: CoreSession, state: StateDep
) -> dict[str, Any]:
    return _service(state).queries.get(job_id).info_view()


@router.patch(_QUERY + "/{job_id}")
@router.patch(_QUERY + "/{job_id}/")
async def abort_query_job(
    version: str, job_id: str, request: Request, session: CoreSession, state: StateDep
) -> Any:
    body = await _json(request)
    return JSONResponse(_service(state).queries.abort(job_id, body))


@router.delete(_QUERY + "/{job_id}")
@router.delete(_QUERY + "/{job_id}/")
def delete_query_job(version: str, job_id: str, session: CoreSession, state: StateDep) -> Response:
    _service(state).queries.delete(job_id)
    return Response(status_code=204)


@router.get(_QUERY + "/{job_id}/results")
@router.get(_QUERY + "/{job_id}/results/")
def query_results(
    version: str,
    job_id: str,
    request: Request,
    session: CoreSession,
    state: StateDep,
    locator: str | None = None,
    maxRecords: int | None = None,
) -> Response:
    text, nxt, count = _service(state).queries.results(job_id, locator, maxRecords)
    return csv_response(
        request, text, {"Sforce-Locator": nxt, "Sforce-NumberOfRecords": str(count)}
    )
