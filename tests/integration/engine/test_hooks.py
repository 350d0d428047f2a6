"""The hooks against the emulator: login URL + CA bundle, Bulk 2.0 calls, Data Cloud paging,
retries of transient failures, re-login on expired sessions, and the 204 job delete."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from emulator.config import EmulatorConfig
from emulator.faults import FaultProfile, FaultSpec
from include.dc2sf.hooks.datacloud import DataCloudHook, DataCloudQueryError
from include.dc2sf.hooks.retry import RetryPolicy
from include.dc2sf.hooks.salesforce import TERMINAL_JOB_STATES, SalesforceBulk2Hook

pytestmark = pytest.mark.integration

FAST = RetryPolicy(
    max_attempts=8, initial_wait_seconds=0.01, max_wait_seconds=0.05, limit_wait_seconds=0.05
)
DMO = "Opportunity_Source__dlm"


def _wait_terminal(hook: SalesforceBulk2Hook, job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = hook.job_info(job_id)
        if info["state"] in TERMINAL_JOB_STATES:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_login_url_and_ca_bundle_reach_the_emulator(emulator_factory) -> None:
    emulator_factory(rows=10, accounts=2)
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    limits = hook.limits()
    assert limits["DailyApiRequests"]["Max"] > 0
    assert hook.instance_url.startswith("https://127.0.0.1:")
    fields = {f["name"] for f in hook.describe("Opportunity")["fields"]}
    assert {"Name", "StageName", "CloseDate", "AccountId", "ExternalId__c"} <= fields
    assert hook.counter.calls == 2


def test_bulk_job_lifecycle_and_204_delete(emulator_factory) -> None:
    emu = emulator_factory(rows=1, accounts=1)
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    account = hook.query_records("SELECT Id FROM Account")
    account_id = next(iter(account))["Id"]
    job = hook.create_ingest_job("Opportunity", "upsert", "ExternalId__c")
    assert job["state"] == "Open"
    hook.upload_job_data(
        job["id"],
        "ExternalId__c,Name,StageName,CloseDate,AccountId\n"
        f"k1,One,Prospecting,2026-01-01,{account_id}\n"
        f"k2,,Prospecting,2026-01-01,{account_id}\n",
    )
    assert hook.close_job(job["id"])["state"] == "UploadComplete"
    info = _wait_terminal(hook, job["id"])
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        2,
        1,
    )
    (failed,) = hook.job_results(job["id"], "failedResults/")
    assert failed["ExternalId__c"] == "k2"
    assert failed["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    hook.delete_job(job["id"])  # 204 with an empty body must not raise
    assert job["id"] not in {j["id"] for j in emu.admin.get("/jobs").json()["jobs"]}
    assert hook.count("SELECT COUNT() FROM Opportunity WHERE ExternalId__c = 'k1'") == 1


def test_datacloud_pages_follow_next_batch_and_decode_types(emulator_factory) -> None:
    emulator_factory(EmulatorConfig(time_scale=0.0, query_batch_max_rows=7), rows=50, accounts=5)
    hook = DataCloudHook(retry_policy=FAST)
    batches = list(
        hook.query(f'SELECT "ExternalId__c", "Amount__c" FROM "{DMO}" ORDER BY "ExternalId__c"')
    )
    assert len(batches) >= 8
    rows = [row for batch in batches for row in batch.rows]
    assert len(rows) == 50
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert all(isinstance(row[1], Decimal) for row in rows)
    assert batches[0].column_names == ("ExternalId__c", "Amount__c")


def test_datacloud_sql_error_is_not_retried(emulator_factory) -> None:
    emulator_factory(rows=5, accounts=1)
    hook = DataCloudHook(retry_policy=FAST)
    with pytest.raises(DataCloudQueryError, match=r"NoSuchColumn|no such column|column"):
        hook.query_all(f'SELECT "NoSuchColumn" FROM "{DMO}"')
    assert hook.counter.retries == 0


def test_transient_5xx_and_resets_are_retried_and_counted(emulator_factory) -> None:
    faults = FaultProfile(seed=7, groups={"bulk2": FaultSpec(error_5xx_rate=0.3, reset_rate=0.2)})
    emulator_factory(EmulatorConfig(time_scale=0.0, faults=faults), rows=0)
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    ids = [hook.create_ingest_job("Opportunity", "insert")["id"] for _ in range(10)]
    assert len(set(ids)) == 10
    assert hook.counter.retries > 0
    assert hook.counter.calls == 10 + hook.counter.retries


def test_expired_session_logs_in_again(emulator_factory) -> None:
    emu = emulator_factory(rows=0)
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    hook.limits()
    first_token = hook.session_token
    emu.state.clock.advance(emu.config.session_lifetime_seconds + 1)
    # Bulk calls go through simple-salesforce's util.call_salesforce, which never logs in again
    # by itself (REST calls do): the hook must.
    assert hook.create_ingest_job("Opportunity", "insert")["state"] == "Open"
    assert hook.counter.relogins == 1
    assert hook.session_token != first_token


def test_certificate_errors_fail_at_once(emulator_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import os

    emulator_factory(rows=0)
    conn = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    del conn["extra"]["ca_bundle"]  # the system CAs do not know the emulator's throwaway CA
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(conn))
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        hook.limits()
    assert hook.counter.retries == 0


def test_request_limit_exceeded_waits_then_fails_when_it_persists(emulator_factory) -> None:
    faults = FaultProfile(
        seed=3, groups={"limits": FaultSpec(limit_burst_rate=1.0, limit_burst_length=2)}
    )
    emulator_factory(EmulatorConfig(time_scale=0.0, faults=faults), rows=0)
    hook = SalesforceBulk2Hook(retry_policy=FAST)
    # Every request of the group starts a burst, so this keeps failing until attempts run out.
    with pytest.raises(Exception, match=r"REQUEST_LIMIT_EXCEEDED|TotalRequests"):
        hook.limits()
    assert hook.counter.retries == FAST.max_attempts + FAST.max_relogins - 1
