"""Dry run and up-front validation: describe the target, check the mapping, read one page, write
nothing; a bad mapping is refused with every problem named before any write."""

from __future__ import annotations

import json

import pytest

from include.dc2sf import defaults
from include.dc2sf.engine.dry_run import dry_run_report
from include.dc2sf.engine.planning import config_from_params
from include.dc2sf.engine.target_fit import MappingInvalid, validate_against_org
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.operators.partition_load import PartitionLoadOperator
from tests.support.loading import FAST_RETRY, make_config, make_loader, salesforce_rows

pytestmark = pytest.mark.integration


def _hooks() -> tuple[SalesforceBulk2Hook, DataCloudHook]:
    salesforce = SalesforceBulk2Hook(retry_policy=FAST_RETRY)
    return salesforce, DataCloudHook(salesforce_hook=salesforce, retry_policy=FAST_RETRY)


def test_dry_run_reads_one_page_and_writes_nothing(emulator_factory) -> None:
    emu = emulator_factory(rows=1_500, accounts=15)
    salesforce, datacloud = _hooks()
    jobs_before = emu.admin.get("/jobs").json()["jobs"]
    report = dry_run_report(config_from_params({}), salesforce=salesforce, datacloud=datacloud)
    assert report["ok"] is True and report["mapping_problems"] == []
    assert report["sample_rows_read"] == 1_000 and report["sample_rows_mapped"] == 1_000
    assert report["written"] == 0
    assert emu.admin.get("/jobs").json()["jobs"] == jobs_before
    assert salesforce_rows(emu) == {}


def test_bad_mapping_is_refused_with_every_problem(emulator_factory) -> None:
    emulator_factory(rows=10, accounts=1)
    salesforce, _ = _hooks()
    mapping = {
        "key_column": "ExternalId__c",
        "fields": {
            "ExternalId__c": "ExternalId__c",
            "Name": "Name__c",
            "NoSuchField__c": "StageName__c",
            "Nope__r.ExternalId__c": "Description__c",
        },
    }
    config = config_from_params({"mapping": mapping})
    with pytest.raises(MappingInvalid) as refused:
        validate_against_org(config, salesforce)
    message = str(refused.value)
    assert "NoSuchField__c: no such field on Opportunity" in message
    assert "has no relationship 'Nope__r'" in message


def test_a_load_checks_the_mapping_again_before_its_first_row(emulator_factory, tmp_path) -> None:
    """A field deleted (or made read-only) after plan fails the load's first step, permanently,
    before any row is read or any Bulk job created; and the text limits come from describe."""
    emu = emulator_factory(rows=100, accounts=1)
    mapping = json.loads(json.dumps(defaults.OPPORTUNITY_MAPPING))
    mapping["fields"]["Gone__c"] = "Description__c"
    loader = make_loader(make_config(tmp_path, mapping=mapping))
    with pytest.raises(MappingInvalid, match="Gone__c: no such field on Opportunity"):
        loader.step()
    assert emu.admin.get("/jobs").json()["jobs"] == []

    fitting = make_loader(make_config(tmp_path))
    fitting.step()
    limits = {m.target: m.max_length for m in fitting.config.mapping.fields}
    assert (limits["Name"], limits["ExternalId__c"], limits["Description"]) == (120, 255, 32_000)


def test_external_id_must_be_an_external_id_field(emulator_factory) -> None:
    emulator_factory(rows=10, accounts=1)
    salesforce, _ = _hooks()
    mapping = dict(defaults.OPPORTUNITY_MAPPING)
    config = config_from_params({"mapping": mapping, "external_id_field": "Name"})
    with pytest.raises(MappingInvalid, match="Name: not an External ID field on Opportunity"):
        validate_against_org(config, salesforce)


def test_operator_renders_templated_strings_into_a_valid_config() -> None:
    operator = PartitionLoadOperator(
        task_id="load",
        partition="2",
        range_start="externalOpp0000100",
        range_end="externalOpp0000200",
        start_inclusive="False",
        source_dmo=defaults.SOURCE_DMO,
        mapping='{"key_column": "ExternalId__c", "fields": {"ExternalId__c": "ExternalId__c"}}',
        records_per_job="500",
        max_in_flight="3",
        failure_threshold="0.01",
        dry_run="True",
        estimated_rows="None",
        dead_letter_root="",
    )
    config = operator.load_config()
    assert (config.partition, config.records_per_job, config.max_in_flight) == (2, 500, 3)
    assert config.key_range.describe() == "(externalOpp0000100, externalOpp0000200]"
    assert config.expected_rows is None
    assert config.dead_letter_root.startswith("file://")
    with pytest.raises(ValueError, match="max_in_flight must be an integer"):
        PartitionLoadOperator(
            task_id="bad",
            partition=0,
            range_start=None,
            range_end=None,
            source_dmo=defaults.SOURCE_DMO,
            mapping=defaults.OPPORTUNITY_MAPPING,
            max_in_flight="many",
        ).load_config()
