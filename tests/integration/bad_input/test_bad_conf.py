"""Invalid trigger conf is refused before any write, with a message that says what to fix.

Two gates, as at trigger time: the DAG's Param schema (what Airflow validates when a run is
triggered: wrong types, out-of-range numbers) and the plan task (`plan_partitions`: unknown keys,
boundaries, the DMO, the target object and the mapping checked against the org's describe). After
each refusal the org is checked: no Bulk job was created and no record written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.param import ParamValidationError

from include.dc2sf import defaults
from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.errors import is_permanent
from include.dc2sf.engine.planning import plan_partitions
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.retry import CallCounter
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.mapping import MappingSpec
from tests.conftest import REPO_ROOT
from tests.support.loading import FAST_RETRY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dag() -> Any:
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag("datacloud_to_salesforce")


def _validate(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """What Airflow does with a trigger's conf: merge it into the DAG's params and validate."""
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"partitions": "five"}, "partitions: 'five' is not of type 'integer'"),
        ({"partitions": 0}, "partitions: 0 is less than the minimum of 1"),
        ({"stagger_minutes": -1}, "stagger_minutes: -1 is less than the minimum of 0"),
        ({"records_per_job": 1.5}, "records_per_job: 1.5 is not of type 'integer'"),
        ({"failure_threshold": 2}, "failure_threshold: 2 is greater than the maximum of 1"),
        ({"boundary_mode": "random"}, "boundary_mode: 'random' is not one of"),
        ({"boundaries": ["only-one"]}, "boundaries: ['only-one'] is too short"),
        ({"boundaries": ["a", ""]}, "boundaries: '' should be non-empty"),
        ({"mapping": {"fields": {}}}, "mapping: 'key_column' is a required property"),
        (
            {"target_object": "Opportunity WHERE"},
            "target_object: 'Opportunity WHERE' does not match",
        ),
        ({"deferrable": True}, "deferrable: True is not one of ['default', 'yes', 'no']"),
        ({"partitions": 300}, "partitions: 300 is greater than the maximum of 200"),
        ({"seed_pattern_total": 0}, "seed_pattern_total: 0 is less than the minimum of 1"),
    ],
)
def test_param_schema_refuses_at_trigger_time(dag: Any, conf: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamValidationError) as raised:
        _validate(dag, conf)
    text = " ".join(str(raised.value).split())
    param, _, detail = message.partition(": ")
    assert f"param {param}" in text and detail in text, text


def test_valid_conf_passes_the_schema(dag: Any) -> None:
    params = _validate(
        dag,
        {"partitions": 3, "stagger_minutes": 0, "boundaries": None, "seed_pattern_total": None},
    )
    assert (params["partitions"], params["stagger_minutes"]) == (3, 0)
    assert params["seed_pattern_total"] is None  # nullable: not required outside seed_pattern


# --- the plan task: checks that need the org or cross-field rules -------------------------------


def _hooks() -> tuple[SalesforceBulk2Hook, DataCloudHook]:
    counter = CallCounter()
    sf = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=counter)
    return sf, DataCloudHook(salesforce_hook=sf, retry_policy=FAST_RETRY, counter=counter)


def _mapping(**changes: Any) -> dict[str, Any]:
    mapping = copy.deepcopy(defaults.OPPORTUNITY_MAPPING)
    mapping["fields"].update(changes)
    return mapping


CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown key",
        {"partitons": 3},
        "unknown conf key(s): 'partitons' (did you mean 'partitions'?)",
    ),
    (
        "unordered boundaries",
        {"boundaries": ["externalOpp0000900", "externalOpp0000100"]},
        "must be sorted ascending",
    ),
    (
        "repeated boundary",
        {"boundaries": ["externalOpp0000100", "externalOpp0000100", "externalOpp0000200"]},
        "boundaries must be unique",
    ),
    ("unknown DMO", {"source_dmo": "Missing_Source__dlm"}, "Missing_Source__dlm"),
    ("DMO name without suffix", {"source_dmo": "Opportunity_Source"}, "must end in '__dlm'"),
    ("unknown target object", {"target_object": "Opportunty"}, "Opportunty"),
    (
        "field that does not exist",
        {"mapping": _mapping(Amout={"source": "Amount__c", "type": "number"})},
        "Amout: no such field on Opportunity",
    ),
    (
        "external id that is not one",
        {"external_id_field": "Name", "mapping": _mapping()},
        "Name: not an External ID field on Opportunity",
    ),
    (
        "external id not mapped",
        {"external_id_field": "Other__c"},
        "upsert by 'Other__c' needs that field in the mapping",
    ),
    (
        "bad date format",
        {
            "mapping": _mapping(
                CloseDate={"source": "CloseDate__c", "type": "date", "input_format": "dd/mm"}
            )
        },
        "has no % directive",
    ),
    (
        "unknown mapping option",
        {"mapping": _mapping(Name={"source": "Name__c", "lenght": 5})},
        "unknown option(s) ['lenght']",
    ),
]


@pytest.mark.parametrize(("conf", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_refuses_before_any_write(
    emulator_factory, dag: Any, conf: dict[str, Any], message: str
) -> None:
    emu = emulator_factory(rows=1_000, accounts=10)
    params = {**_validate(dag, {}), **conf, "dead_letter_root": "file:///tmp/unused"}
    sf, dc = _hooks()
    with pytest.raises(Exception) as raised:
        plan_partitions(params, salesforce=sf, datacloud=dc, known_keys=dag.params.keys())
    assert message in str(raised.value), str(raised.value)
    # Every refusal is permanent: the plan task fails at once, without Airflow's retries.
    assert is_permanent(raised.value), type(raised.value)
    assert emu.admin.get("/jobs").json()["jobs"] == []  # no Bulk job was even created
    with emu.state.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sobject_opportunity").fetchone()[0] == 0


def test_a_valid_conf_plans(emulator_factory, dag: Any) -> None:
    emulator_factory(rows=1_000, accounts=10)
    params = {**_validate(dag, {"partitions": 4}), "dead_letter_root": "file:///tmp/unused"}
    sf, dc = _hooks()
    plan = plan_partitions(params, salesforce=sf, datacloud=dc, known_keys=dag.params.keys())
    assert [p["partition"] for p in plan] == [0, 1, 2, 3]
    assert sum(p["estimated_rows"] for p in plan) == 1_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source_dmo": 'X__dlm" WHERE 1=1 --'}, "Data Cloud object name"),
        ({"page_size": 0}, "page_size must be 1..50000"),
        ({"max_in_flight": 0}, "max_in_flight must be >= 1"),
        ({"failure_threshold": -0.1}, "failure_threshold is a fraction 0..1"),
        ({"dead_letter_root": ""}, "dead_letter_root is required"),
        ({"operation": "merge"}, "operation must be one of"),
    ],
)
def test_load_config_refuses(changes: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "partition": 0,
        "key_range": KeyRange(),
        "source_dmo": defaults.SOURCE_DMO,
        "mapping": MappingSpec.from_dict(defaults.OPPORTUNITY_MAPPING),
        "target_object": defaults.TARGET_OBJECT,
        "external_id_field": defaults.EXTERNAL_ID_FIELD,
        "dead_letter_root": "file:///tmp/x",
    }
    settings.update(changes)
    with pytest.raises(ValueError, match=None) as raised:
        LoadConfig(**settings)
    assert message in str(raised.value)


def test_given_boundaries_are_used_without_naming_the_mode(emulator_factory, dag: Any) -> None:
    """The Param default boundary_mode=quantiles used to make given boundaries silently ignored."""
    emulator_factory(rows=1_000, accounts=10)
    bounds = ["externalOpp0000001", "externalOpp0000400", "externalOpp0001000"]
    params = {**_validate(dag, {"boundaries": bounds}), "dead_letter_root": "file:///tmp/unused"}
    sf, dc = _hooks()
    plan = plan_partitions(params, salesforce=sf, datacloud=dc, known_keys=dag.params.keys())
    assert [(p["range_start"], p["range_end"], p["start_inclusive"]) for p in plan] == [
        (bounds[0], bounds[1], True),
        (bounds[1], bounds[2], False),
    ]


def test_an_emptied_seed_pattern_total_splits_the_seeds_keys(emulator_factory, dag: Any) -> None:
    """seed_pattern_total is nullable so the form does not mark it required in the other modes;
    emptied in seed_pattern mode it means the seed's key count, not a crash on int(None)."""
    emulator_factory(rows=1_000, accounts=10)
    conf = {"boundary_mode": "seed_pattern", "seed_pattern_total": None, "partitions": 4}
    params = {**_validate(dag, conf), "dead_letter_root": "file:///tmp/unused"}
    sf, dc = _hooks()
    plan = plan_partitions(params, salesforce=sf, datacloud=dc, known_keys=dag.params.keys())
    assert len(plan) == 4
    assert sum(p["estimated_rows"] for p in plan) == defaults.SEED_PATTERN_TOTAL, plan
