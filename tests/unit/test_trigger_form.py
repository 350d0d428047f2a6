"""`bounded()`: number ranges the JSON Schema enforces but the Trigger form's input cannot see."""

from __future__ import annotations

import jsonschema
import pytest

from include.dc2sf.trigger_form import bounded


def test_bounds_live_inside_allof_only() -> None:
    schema = {"type": "integer", **bounded(minimum=1, maximum=200)}
    assert "minimum" not in schema and "maximum" not in schema
    assert schema["allOf"] == [{"minimum": 1, "maximum": 200}]


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "0 is less than the minimum of 1"), (201, "201 is greater than the maximum of 200")],
)
def test_the_schema_still_refuses_out_of_range_values(value: int, message: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate(value, {"type": "integer", **bounded(minimum=1, maximum=200)})
    assert refused.value.message == message


def test_exclusive_minimum_and_a_null_value() -> None:
    schema = {"type": ["null", "number"], **bounded(exclusive_minimum=0)}
    jsonschema.validate(None, schema)
    jsonschema.validate(0.5, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(0, schema)


def test_no_bound_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="at least one bound"):
        bounded()
