"""The DAGs' Params as a user meets them: the README tables, the Trigger form's sections and help
text, and what Airflow's trigger-time validation accepts and refuses.

Validation goes through the server's path (the DAG serialised and deserialised, then
`params.deep_merge(conf).validate()`, exactly what `create_dagrun` runs for the form, the REST
API and `airflow dags trigger`), not the SDK's ParamsDict, so a difference between the two cannot
hide here.
"""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from airflow.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization
from params_table import DAG_IDS, README, dag_params, render, stale

from include.dc2sf.engine.planning import check_known_keys

SECTIONS = {
    "datacloud_to_salesforce": [
        "Source & target",
        "Partitions & schedule",
        "Bulk tuning",
        "Safety",
    ],
    "cleanup_test_load": ["What to delete", "Safety", "Bulk tuning"],
}


@pytest.fixture(scope="module")
def params() -> dict[str, list[tuple[str, Any]]]:
    return dag_params()


@pytest.fixture(scope="module")
def load_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(README.parent / "dags")).get_dag("datacloud_to_salesforce")


@pytest.fixture(scope="module")
def served_params(load_dag: Any) -> Any:
    """The load DAG's params as the api-server holds them (serialised, then deserialised)."""
    return DagSerialization.from_dict(DagSerialization.to_dict(load_dag)).params


def _trigger(served_params: Any, conf: dict[str, Any]) -> dict[str, Any]:
    return served_params.deep_merge(conf).validate()


# --- README -------------------------------------------------------------------------------------


def test_readme_params_tables_match_the_dags(params: dict[str, list[tuple[str, Any]]]) -> None:
    assert stale(README.read_text(), params) == [], (
        "README.md's Params tables differ from the DAGs: run `make params-doc`"
    )


def test_a_drifted_readme_is_caught(params: dict[str, list[tuple[str, Any]]]) -> None:
    readme = README.read_text()
    block = render("datacloud_to_salesforce", params["datacloud_to_salesforce"])
    row = next(line for line in block.splitlines() if line.startswith("| `partitions` |"))
    drifted = {
        "changed default": readme.replace(row, row.replace("| 5 |", "| 6 |")),
        "missing param": readme.replace(row + "\n", ""),
        "missing block": readme.replace(block, ""),
    }
    for what, text in drifted.items():
        assert text != readme, what
        assert stale(text, params) == ["datacloud_to_salesforce"], what


def test_every_param_of_the_load_dag_is_documented(
    params: dict[str, list[tuple[str, Any]]],
) -> None:
    """defer_after_seconds was once missing from the hand-written table."""
    block = render("datacloud_to_salesforce", params["datacloud_to_salesforce"])
    names = [name for name, _ in params["datacloud_to_salesforce"]]
    assert "defer_after_seconds" in names
    assert all(f"| `{name}` |" in block for name in names)


# --- the Trigger form ---------------------------------------------------------------------------


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_param_has_a_section_and_help_text(
    params: dict[str, list[tuple[str, Any]]], dag_id: str
) -> None:
    seen: list[str] = []
    for name, param in params[dag_id]:
        assert (param.description or "").strip(), f"{dag_id}.{name} has no help text"
        section = param.schema.get("section")
        assert section in SECTIONS[dag_id], f"{dag_id}.{name}: section {section!r}"
        if not seen or seen[-1] != section:
            seen.append(section)
    # One contiguous block per section, in the intended order.
    assert seen == SECTIONS[dag_id]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_no_bound_is_visible_to_the_forms_clamping_number_input(
    params: dict[str, list[tuple[str, Any]]], dag_id: str
) -> None:
    """Top-level minimum/maximum make the form rewrite a typed 0 into 1 on blur."""
    clamped = [name for name, param in params[dag_id] if {"minimum", "maximum"} & set(param.schema)]
    assert clamped == []


def test_seed_pattern_total_is_not_required(params: dict[str, list[tuple[str, Any]]]) -> None:
    """The form marks every Param whose type excludes null as required."""
    schema = dict(params["datacloud_to_salesforce"])["seed_pattern_total"].schema
    assert "null" in schema["type"]


def test_deferrable_is_a_choice_not_a_nullable_toggle(
    params: dict[str, list[tuple[str, Any]]],
) -> None:
    param = dict(params["datacloud_to_salesforce"])["deferrable"]
    assert param.value == "default"
    assert param.schema["enum"] == ["default", "yes", "no"]
    assert set(param.schema["values_display"]) == {"default", "yes", "no"}
    assert "boolean" not in str(param.schema.get("type"))


@pytest.mark.parametrize(
    ("choice", "rendered", "waits_in_triggerer"),
    [("default", "None", None), ("yes", "yes", True), ("no", "no", False)],
)
def test_deferrable_choice_reaches_the_load_operator(
    load_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    choice: str,
    rendered: str,
    waits_in_triggerer: bool | None,
) -> None:
    """The DAG maps "default" to None, which the operator reads as
    `[operators] default_deferrable` (set to True here, so it cannot pass as "no"); yes/no are
    booleans the operator parses."""
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    from include.dc2sf.operators.partition_load import PartitionLoadOperator

    template = load_dag.get_task("partition.load").deferrable
    text = jinja2.Environment().from_string(template).render(params={"deferrable": choice})
    assert text == rendered
    operator = PartitionLoadOperator(
        task_id=f"probe_{choice}",
        partition=0,
        range_start=None,
        range_end=None,
        source_dmo="Opportunity_Source__dlm",
        mapping="{}",
        deferrable=text,
    )
    expected = True if waits_in_triggerer is None else waits_in_triggerer
    assert operator._deferrable() is expected


# --- trigger-time validation (the server's path) ------------------------------------------------


def test_zero_stagger_is_accepted_and_kept(served_params: Any) -> None:
    params = _trigger(served_params, {"stagger_minutes": 0, "partitions": 2})
    assert (params["stagger_minutes"], params["partitions"]) == (0, 2)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"partitions": 0}, "0 is less than the minimum of 1"),
        ({"partitions": 201}, "201 is greater than the maximum of 200"),
        ({"stagger_minutes": -1}, "-1 is less than the minimum of 0"),
        ({"failure_threshold": 1.5}, "1.5 is greater than the maximum of 1"),
        ({"deferrable": True}, "True is not one of ['default', 'yes', 'no']"),
    ],
)
def test_out_of_range_values_are_refused_at_trigger_time(
    served_params: Any, conf: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParamValidationError) as refused:
        _trigger(served_params, conf)
    (name,) = conf
    assert f"Invalid input for param {name}: {message}" in str(refused.value)


def test_an_unknown_key_passes_the_trigger_and_plan_names_the_closest_key(
    served_params: Any,
) -> None:
    """What the README states: Airflow 3.3 validates each Param alone, so a typo'd key is
    accepted at trigger time (if a later Airflow refuses it, the README must say so), and the
    plan task's known-keys check refuses it with the closest valid name."""
    params = _trigger(served_params, {"partitons": 3})
    assert params["partitons"] == 3 and params["partitions"] == 5
    with pytest.raises(ValueError, match=r"'partitons' \(did you mean 'partitions'\?\)"):
        check_known_keys(params, served_params.keys())
