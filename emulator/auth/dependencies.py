"""FastAPI dependencies that guard API routes. Stable interface used by every API package.

Usage in a route (bulk2, soql, limits, datacloud Connect form)::

    from fastapi import Depends
    from emulator.auth.dependencies import get_state, require_core_session
    from emulator.auth.models import Session

    @router.get("/services/data/v{version}/jobs/ingest/{job_id}")
    def job_info(job_id: str, session: Session = Depends(require_core_session),
                 state: EmulatorState = Depends(get_state)) -> dict: ...

``require_core_session(request) -> Session``:
  * reads ``Authorization: Bearer <token>`` (or Bulk 1.0's ``X-SFDC-Session``);
  * unknown, revoked, expired or Data Cloud token → raises ``InvalidSessionId``
    (401 ``[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]``);
  * then counts one API request against the rolling-24 h allocation; when it is used up raises
    ``RequestLimitExceeded`` (403 ``REQUEST_LIMIT_EXCEEDED``);
  * stores ``(used, max)`` in ``request.state.api_usage``; the app's middleware turns it into the
    ``Sforce-Limit-Info: api-usage=used/max`` response header (also on Response objects routes
    return directly, e.g. CSV).

``require_datacloud_session(request) -> Session``: the same for the tenant host (Data Cloud
token from ``/services/a360/token``); not counted against the core API allocation.

``get_state(request) -> EmulatorState``: the emulator the app was built for.

Annotated shorthands, B008-clean: ``session: CoreSession``, ``session: DataCloudSession``,
``state: StateDep``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from emulator.auth.models import Session
from emulator.exceptions import InvalidSessionId, RequestLimitExceeded
from emulator.state import EmulatorState

__all__ = [
    "CoreSession",
    "DataCloudSession",
    "StateDep",
    "bearer_token",
    "get_state",
    "require_core_session",
    "require_datacloud_session",
]


def get_state(request: Request) -> EmulatorState:
    """The ``EmulatorState`` behind this app (set by ``create_app``)."""
    return request.app.state.emulator  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    """The token a client presented: ``Authorization: Bearer``/``OAuth``, or ``X-SFDC-Session``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.headers.get("x-sfdc-session") or None


def require_core_session(request: Request) -> Session:
    """Validate a core session, count the API call, and record usage for the limit header."""
    state = get_state(request)
    session = state.sessions.validate(bearer_token(request), "core")
    if session is None:
        raise InvalidSessionId()
    try:
        used, maximum = state.usage.count_api_request()
    except RequestLimitExceeded:
        request.state.api_usage = state.usage.api_usage()
        raise
    request.state.api_usage = (used, maximum)
    return session


def require_datacloud_session(request: Request) -> Session:
    """Validate a Data Cloud (tenant) token."""
    state = get_state(request)
    session = state.sessions.validate(bearer_token(request), "datacloud")
    if session is None:
        raise InvalidSessionId()
    return session


# Annotated shorthands (ruff B008-clean): ``def route(session: CoreSession, state: StateDep)``.
StateDep = Annotated[EmulatorState, Depends(get_state)]
CoreSession = Annotated[Session, Depends(require_core_session)]
DataCloudSession = Annotated[Session, Depends(require_datacloud_session)]
