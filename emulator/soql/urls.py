"""REST ``query``/``queryAll`` routes, with ``nextRecordsUrl`` paging (``/query/<locator>``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from emulator.auth.dependencies import CoreSession, StateDep
from emulator.soql.models import attach

router = APIRouter()
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def _batch_size(request: Request) -> int | None:
    """``Sforce-Query-Options: batchSize=N`` (200..2000; the emulator clamps into range)."""
    match = _BATCH.search(request.headers.get("sforce-query-options", ""))
    return int(match.group(1)) if match else None


def _run(
    request: Request, state: Any, version: str, q: str | None, deleted: bool
) -> dict[str, Any]:
    return attach(state).query(
        q or "", include_deleted=deleted, version=version, batch_size=_batch_size(request)
    )


@router.get("/services/data/v{version}/query")
@router.get("/services/data/v{version}/query/")
def query(
    version: str, request: Request, session: CoreSession, state: StateDep, q: str | None = None
) -> dict[str, Any]:
    return _run(request, state, version, q, False)


@router.get("/services/data/v{version}/queryAll")
@router.get("/services/data/v{version}/queryAll/")
def query_all(
    version: str, request: Request, session: CoreSession, state: StateDep, q: str | None = None
) -> dict[str, Any]:
    return _run(request, state, version, q, True)


@router.get("/services/data/v{version}/query/{locator}")
@router.get("/services/data/v{version}/queryAll/{locator}")
def query_more(
    version: str, locator: str, request: Request, session: CoreSession, state: StateDep
) -> dict[str, Any]:
    return attach(state).more(locator, version=version, batch_size=_batch_size(request))
