"""Admin API: counts, jobs, reset, faults, config, seeding, clock, refresh tokens.

No authentication: the emulator is a local development tool. Paths live under
``/__emulator__/`` so they can never shadow a Salesforce route, and faults never apply to them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from emulator.auth.dependencies import StateDep
from emulator.config import SeedConfig
from emulator.datacloud.seed import seed_from
from emulator.exceptions import BadRequest, NotFound
from emulator.faults import FaultProfile

router = APIRouter(prefix="/__emulator__")


class SeedRequest(BaseModel):
    rows: int = Field(ge=0)
    accounts: int = Field(default=100, ge=1)
    skew: float = Field(default=0.0, ge=0)
    seed: int = 42
    hostile: bool = False
    giant_share: float = Field(default=0.0, ge=0, lt=1)


class BulkSettings(BaseModel):
    """The org model's Bulk processing knobs a benchmark or test may change on a running emulator
    (``BulkProcessingConfig``; omitted fields keep their value)."""

    model_config = ConfigDict(extra="forbid")

    workers: int | None = Field(default=None, ge=1)
    records_per_second_per_worker: float | None = Field(default=None, ge=0)
    lock_wait_seconds: float | None = Field(default=None, ge=0)
    transaction_size: int | None = Field(default=None, ge=1)
    internal_batch_size: int | None = Field(default=None, ge=1)
    batch_split: str | None = None
    split_seed: int | None = None
    internal_batch_max_chars: int | None = Field(default=None, ge=1)


class AdvanceRequest(BaseModel):
    seconds: float = Field(gt=0)


class RefreshTokenRequest(BaseModel):
    username: str
    client_id: str | None = None


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/counts")
def counts(state: StateDep) -> dict[str, Any]:
    tables: dict[str, int] = {}
    for service in state.services.values():
        counter = getattr(service, "counts", None)
        if counter is not None:
            tables.update(counter())
    used, maximum = state.usage.api_usage()
    return {
        "tables": tables,
        "sessions": state.sessions.count(),
        "api_usage": {"used": used, "max": maximum},
        "events": state.usage.events(),
        "limits": {k: {"Max": m, "Remaining": r} for k, (m, r) in state.usage.snapshot().items()},
        "faults_injected": dict(state.faults.injected),
    }


@router.get("/jobs")
def jobs(state: StateDep) -> dict[str, Any]:
    bulk = state.services.get("bulk2")
    lister = getattr(bulk, "list_jobs", None)
    if lister is None:
        raise NotFound("The Bulk API 2.0 service is not loaded.")
    return {"jobs": lister()}


@router.post("/reset", status_code=204)
def reset(state: StateDep) -> Response:
    state.reset()
    return Response(status_code=204)


@router.get("/faults")
def get_faults(state: StateDep) -> dict[str, Any]:
    return state.faults.profile.to_dict()


@router.put("/faults")
def set_faults(body: dict[str, Any], state: StateDep) -> dict[str, Any]:
    try:
        profile = FaultProfile.from_dict(body)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from exc
    state.faults.set_profile(profile)
    return profile.to_dict()


@router.delete("/faults", status_code=204)
def clear_faults(state: StateDep) -> Response:
    state.faults.set_profile(FaultProfile())
    return Response(status_code=204)


@router.get("/config")
def config(state: StateDep) -> dict[str, Any]:
    return state.config.to_dict()


@router.get("/bulk")
def get_bulk(state: StateDep) -> dict[str, Any]:
    return asdict(state.config.bulk)


@router.patch("/bulk")
def set_bulk(body: BulkSettings, state: StateDep) -> dict[str, Any]:
    """Change the Bulk processing model of the running org (jobs already split keep their cuts)."""
    engine = getattr(state.services.get("bulk2"), "engine", None)
    if engine is None:
        raise NotFound("The Bulk API 2.0 service is not loaded.")
    try:
        config = engine.reconfigure(**body.model_dump(exclude_none=True))
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from exc
    return asdict(config)


@router.post("/seed")
async def seed(body: SeedRequest, state: StateDep) -> dict[str, Any]:
    result = await run_in_threadpool(seed_from, state, SeedConfig(**body.model_dump()))
    return {"rows": result.rows, "accounts": result.accounts, "seconds": round(result.seconds, 3)}


@router.post("/clock/advance")
def advance_clock(body: AdvanceRequest, state: StateDep) -> dict[str, float]:
    state.clock.advance(body.seconds)
    return {"time": state.clock.time()}


@router.post("/refresh-tokens")
def refresh_token(body: RefreshTokenRequest, state: StateDep) -> dict[str, str]:
    """A refresh token as the web-server OAuth flow would give one (it has no emulated UI)."""
    return {"refresh_token": state.sessions.issue_refresh_token(body.username, body.client_id)}
