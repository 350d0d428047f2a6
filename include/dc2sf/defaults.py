"""Defaults shared by the DAGs, the demo and the tests: the Opportunity load of the seed."""

from __future__ import annotations

from typing import Any

SOURCE_DMO = "Opportunity_Source__dlm"
KEY_COLUMN = "ExternalId__c"
TARGET_OBJECT = "Opportunity"
EXTERNAL_ID_FIELD = "ExternalId__c"
SALESFORCE_CONN_ID = "salesforce_default"
DATACLOUD_CONN_ID = "datacloud_default"
POOL = "salesforce_bulk"
#: Keys the seed_pattern boundary mode splits when no total is given: the seed's 2M rows.
SEED_PATTERN_TOTAL = 2_000_000

#: Records per Bulk job: four 10,000-record internal batches, each parent-disjoint
#: (``logic/packing.pack_jobs``). Measured in ``make bench`` scenario B: a quarter of the
#: create/upload/close/status calls of one-batch jobs at the same Bulk batch count.
RECORDS_PER_JOB = 40_000
#: Jobs in flight per partition: with ``RECORDS_PER_JOB`` that is 8 internal batches queued per
#: partition, enough that five partitions keep an org's worker pool busy across their chunk
#: barriers (scenario B) while each partition's chunk stays 80,000 rows.
MAX_IN_FLIGHT = 2

#: Data Cloud column → Opportunity field, with the transforms the DMO's types need.
OPPORTUNITY_MAPPING: dict[str, Any] = {
    "key_column": KEY_COLUMN,
    "parent_field": "AccountId",
    "fields": {
        "ExternalId__c": "ExternalId__c",
        "Name": "Name__c",
        "StageName": "StageName__c",
        "Amount": {"source": "Amount__c", "type": "number"},
        "CloseDate": {"source": "CloseDate__c", "type": "date"},
        "AccountId": "AccountId__c",
        "Probability": {"source": "Probability__c", "type": "number"},
        "Description": "Description__c",
        "IsPrivate": {"source": "IsPrivate__c", "type": "boolean"},
    },
}

#: Shortest time between a task deferring and its trigger firing. On Airflow 3.3 a trigger that
#: fires before the scheduler has processed the deferring run's exit event (same executor key:
#: same try number) gets the resumed run killed ("Task Instance not found", the try goes to
#: TaskInstanceHistory and waits for a retry). The exit event took up to 5.6 s on 2 busy cores;
#: this is about three times that. See include/dc2sf/operators/stagger_wait.py.
RESUME_RACE_GUARD_SECONDS = 15.0
