"""Schema pieces the DAGs' Params share: API-name fields and number ranges for the Trigger form.

Why: the Trigger form (Airflow 3.3) hands a number Param's top-level `minimum`/`maximum` to its
number input, which clamps the typed value on blur: `0` typed into a field with `minimum: 1`
becomes `1` with no message, and `300` into `maximum: 200` becomes `200`. The run then starts
with a value nobody typed. The same bounds placed inside `allOf` are enforced by the same JSON
Schema validation when the run is triggered (form, REST API and `airflow dags trigger` alike),
but the form leaves what was typed alone, so an out-of-range value is refused with the schema's
message ("0 is less than the minimum of 1") instead of being changed.
"""

from __future__ import annotations

from typing import Any

from include.dc2sf.logic.identifiers import MAX_API_NAME_LENGTH

#: A Salesforce API name, coarsely: refused at trigger time when it cannot be one (spaces, quotes,
#: SQL); the strict checks of include/dc2sf/logic/identifiers.py run in plan and the tasks.
API_NAME_PATTERN = rf"^[A-Za-z][A-Za-z0-9_]{{0,{MAX_API_NAME_LENGTH - 1}}}$"


def bounded(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
) -> dict[str, Any]:
    """Schema keywords for `Param(..., **bounded(minimum=1, maximum=200))`.

    Only the bounds given are set; at least one is required (an unbounded number needs nothing).
    """
    limits = {
        keyword: value
        for keyword, value in (
            ("minimum", minimum),
            ("maximum", maximum),
            ("exclusiveMinimum", exclusive_minimum),
        )
        if value is not None
    }
    if not limits:
        raise ValueError("bounded() needs at least one bound")
    return {"allOf": [limits]}
