"""A call whose response is lost after Salesforce carried it out must be safe to send again.

Why: with a client timeout (connection extra `timeout`), a slow response makes the hook retry a
call the server may already have executed. For the Bulk upload (PUT) and close (PATCH) the retry
is refused by Salesforce ("Found multipe contents for job", "Invalid state transition"); the hook
must recognise that as done, or one slow response would fail a whole partition.
"""

from __future__ import annotations

import pytest

from include.dc2sf.hooks.retry import CallCounter
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from tests.support.loading import FAST_RETRY

pytestmark = pytest.mark.integration

CSV = "ExternalId__c,Name,StageName,CloseDate\nrepeat-1,One,Prospecting,2024-01-01\n"


def test_repeated_upload_and_close_count_as_done(emulator_factory) -> None:
    emu = emulator_factory()
    hook = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=CallCounter())
    job_id = str(hook.create_ingest_job("Opportunity", "upsert", "ExternalId__c")["id"])
    hook.upload_job_data(job_id, CSV)
    hook.upload_job_data(job_id, CSV)  # the "retry" of a PUT that already landed
    first = hook.close_job(job_id)
    again = hook.close_job(job_id)  # the "retry" of a PATCH that already landed
    assert first["state"] == "UploadComplete"
    assert again["state"] in ("UploadComplete", "InProgress", "JobComplete")
    while hook.job_info(job_id)["state"] not in ("JobComplete", "Failed"):
        pass
    info = hook.job_info(job_id)
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        1,
        0,
    )
    with emu.state.connect() as conn:
        rows = conn.execute(
            "SELECT Name FROM sobject_opportunity WHERE ExternalId__c = 'repeat-1'"
        ).fetchall()
    assert rows == [("One",)]


def test_a_real_refusal_is_still_raised(emulator_factory) -> None:
    """Closing an aborted job is a genuine error, not an earlier attempt's success."""
    emulator_factory()
    hook = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=CallCounter())
    job_id = str(hook.create_ingest_job("Opportunity", "upsert", "ExternalId__c")["id"])
    hook.upload_job_data(job_id, CSV)
    hook.abort_job(job_id)
    with pytest.raises(Exception, match=r"Invalid state transition|InvalidJobState"):
        hook.close_job(job_id)
    assert hook.job_info(job_id)["state"] == "Aborted"
