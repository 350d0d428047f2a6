"""Query V2 routes: tenant host (``/api/v2/query``) and Connect form (``.../ssot/queryv2``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.auth.dependencies import CoreSession, DataCloudSession, StateDep
from emulator.datacloud.arrow import to_arrow_json, wants_arrow
from emulator.datacloud.exceptions import MissingSql
from emulator.datacloud.models import Batch, service_of

router = APIRouter()


async def _sql_of(request: Request) -> str:
    try:
        body: Any = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise MissingSql() from exc
    sql = body.get("sql") if isinstance(body, dict) else None
    if not isinstance(sql, str) or not sql.strip():
        raise MissingSql()
    return sql


async def _respond(fetch: Callable[[], Batch], request: Request) -> Response:
    """The V2 body: rows as JSON ``data``, or as ``arrowStream`` when the client asked for Arrow.

    SQLite blocks and Arrow encoding is CPU: both run in a worker thread, not on the event loop.
    """
    arrow = wants_arrow(request.headers)

    def render() -> str:
        batch = fetch()
        return to_arrow_json(batch) if arrow else batch.to_json()

    return Response(await run_in_threadpool(render), media_type="application/json")


@router.post("/api/v2/query")
async def tenant_query(request: Request, session: DataCloudSession, state: StateDep) -> Response:
    sql = await _sql_of(request)
    return await _respond(lambda: service_of(state).submit(sql), request)


@router.get("/api/v2/query/{batch_id}")
async def tenant_next_batch(
    batch_id: str, request: Request, session: DataCloudSession, state: StateDep
) -> Response:
    return await _respond(lambda: service_of(state).next_batch(batch_id), request)


@router.post("/services/data/v{version}/ssot/queryv2")
async def connect_query(
    version: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    sql = await _sql_of(request)
    return await _respond(lambda: service_of(state).submit(sql), request)


@router.get("/services/data/v{version}/ssot/queryv2/{batch_id}")
async def connect_next_batch(
    version: str, batch_id: str, request: Request, session: CoreSession, state: StateDep
) -> Response:
    return await _respond(lambda: service_of(state).next_batch(batch_id), request)
