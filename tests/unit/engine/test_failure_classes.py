"""Which errors fail a task at once and which keep Airflow's retries: one classification
(`include/dc2sf/engine/errors.py`), one Airflow boundary (`fail_fast`), and the log line of a
resumed try."""

from __future__ import annotations

import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from include.dc2sf.engine.errors import (
    ConfInvalid,
    PermanentLoadError,
    SourceUnfit,
    conf_errors_are_permanent,
    is_permanent,
)
from include.dc2sf.engine.limits import DailyAllowanceExceeded
from include.dc2sf.engine.loader import (
    CheckpointMismatch,
    LoadIntegrityError,
    TooManyFailures,
    resume_summary,
)
from include.dc2sf.engine.reconcile import ReconciliationFailed
from include.dc2sf.engine.target_fit import MappingInvalid
from include.dc2sf.hooks.datacloud import DataCloudQueryError
from include.dc2sf.operators.fail_fast import NOT_RETRIED, fail_fast

PERMANENT = [
    ConfInvalid("unknown conf key(s): 'partitons' (did you mean 'partitions'?)"),
    MappingInvalid("mapping does not fit Opportunity:\n  - Amout: no such field on Opportunity"),
    TooManyFailures("partition 1: 3 of 10 rows (30.00%) dead-lettered"),
    DailyAllowanceExceeded("the plan needs 2,000 Bulk batches; 150 remain today"),
    CheckpointMismatch("the stored checkpoint was made for another range"),
    ReconciliationFailed("9,990 of 10,000 source rows are in Salesforce"),
    SourceUnfit("60,000 rows have a NULL key"),
    DataCloudQueryError("Data Cloud query: unknown object Missing__dlm"),
]
TRANSIENT = [
    requests.ConnectionError("Connection aborted"),
    requests.HTTPError("503 Server Error"),
    LoadIntegrityError("rows unaccounted for; a retry re-checks this chunk"),
    RuntimeError("waiting for Bulk jobs failed"),
    ValueError("Expecting value: line 1 column 1 (char 0)"),  # a truncated JSON body
]


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_a_permanent_error_fails_without_retry_and_keeps_its_message(error: Exception) -> None:
    assert is_permanent(error)

    @fail_fast
    def task() -> None:
        raise error

    with pytest.raises(AirflowFailException) as failed:
        task()
    assert str(failed.value) == f"{type(error).__name__}: {error}\n{NOT_RETRIED}"
    assert failed.value.__cause__ is error


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_a_transient_error_passes_unchanged_and_keeps_its_retries(error: Exception) -> None:
    assert not is_permanent(error)

    @fail_fast
    def task() -> None:
        raise error

    with pytest.raises(type(error)) as raised:
        task()
    assert raised.value is error


def test_deferral_and_success_pass_through_the_boundary() -> None:
    @fail_fast
    def defers() -> None:
        raise TaskDeferred(trigger=object(), method_name="execute_complete")  # type: ignore[arg-type]

    with pytest.raises(TaskDeferred):
        defers()
    assert fail_fast(lambda: 42)() == 42


def test_conf_building_errors_become_conf_invalid() -> None:
    @conf_errors_are_permanent
    def build() -> None:
        raise ValueError("page_size must be 1..50000, got 0")

    with pytest.raises(ConfInvalid, match=r"page_size must be 1\.\.50000") as raised:
        build()
    assert isinstance(raised.value, PermanentLoadError) and isinstance(raised.value, ValueError)


def _checkpoint(**changes: object) -> dict:
    checkpoint = {
        "watermark": None,
        "totals": {"succeeded": 0, "dead_lettered": 0},
        "chunks_done": 0,
        "chunk": None,
    }
    checkpoint.update(changes)
    return checkpoint


def test_resume_line_says_where_it_starts_and_which_jobs_it_re_attaches() -> None:
    fresh = resume_summary(
        0,
        _checkpoint(
            chunk={
                "index": 0,
                "through": "externalOpp0040000",
                "rows": 40_000,
                "round": 1,
                "jobs": {"0": "750J0001", "1": "750J0002"},
            }
        ),
    )
    assert fresh == (
        "Resuming partition 0 from the start of the range (0 rows settled in 0 chunk(s)); "
        "chunk 0 (keys through 'externalOpp0040000', 40,000 rows) is in round 1; re-attaching "
        "2 Bulk job(s) submitted by an earlier try (polled, not re-sent): 750J0001, 750J0002"
    )
    later = resume_summary(
        3,
        _checkpoint(
            watermark="externalOpp0080000",
            totals={"succeeded": 79_990, "dead_lettered": 10},
            chunks_done=2,
        ),
    )
    assert later == (
        "Resuming partition 3 from watermark 'externalOpp0080000' (80,000 rows settled in "
        "2 chunk(s)); no Bulk job was in flight"
    )
