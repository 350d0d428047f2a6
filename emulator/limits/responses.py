"""``GET /services/data/vXX.X/limits``: ``{name: {"Max": n, "Remaining": n}}`` (REST API Developer Guide, "Limits")."""

from __future__ import annotations

from fastapi import APIRouter

from emulator.auth.dependencies import CoreSession, StateDep

router = APIRouter()

# Limits the emulator does not meter; reported as untouched so clients that read them work.
_STATIC = {
    "ConcurrentAsyncGetReportInstances": 200,
    "DailyAsyncApexExecutions": 250_000,
    "DataStorageMB": 1024,
    "FileStorageMB": 1024,
    "HourlyPublishedPlatformEvents": 50_000,
    "SingleEmailMessages": 5000,
}


@router.get("/services/data/v{version}/limits")
@router.get("/services/data/v{version}/limits/")
def limits(version: str, session: CoreSession, state: StateDep) -> dict[str, dict[str, int]]:
    body = {name: {"Max": mx, "Remaining": mx} for name, mx in _STATIC.items()}
    for name, (mx, remaining) in state.usage.snapshot().items():
        body[name] = {"Max": mx, "Remaining": remaining}
    return dict(sorted(body.items()))
