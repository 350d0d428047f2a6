"""sObject describe routes: ``/sobjects/`` and ``/sobjects/{Object}/describe`` (real shapes).

The loader's dry run checks its field mapping against the describe body; the Airflow hook's
``test_connection`` describes Account.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from emulator.auth.dependencies import CoreSession
from emulator.exceptions import NotFound
from emulator.org.models import describe_global, describe_sobject
from emulator.org.schema import sobject

router = APIRouter()
_BASE = "/services/data/v{version}/sobjects"


@router.get(_BASE)
@router.get(_BASE + "/")
def global_describe(version: str, session: CoreSession) -> dict[str, Any]:
    return describe_global(version)


@router.get(_BASE + "/{name}/describe")
@router.get(_BASE + "/{name}/describe/")
def object_describe(version: str, name: str, session: CoreSession) -> dict[str, Any]:
    obj = sobject(name)
    if obj is None:
        raise NotFound()
    return describe_sobject(obj, version)


@router.get(_BASE + "/{name}")
@router.get(_BASE + "/{name}/")
def object_info(version: str, name: str, session: CoreSession) -> dict[str, Any]:
    """Basic information: the object's flags and no recent items."""
    obj = sobject(name)
    if obj is None:
        raise NotFound()
    body = describe_sobject(obj, version)
    for key in ("fields", "childRelationships", "recordTypeInfos"):
        body.pop(key)
    return {"objectDescribe": body, "recentItems": []}
