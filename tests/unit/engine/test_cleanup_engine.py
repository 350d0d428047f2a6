"""Cleanup engine without servers: SOQL and refusals of CleanupSpec, and the delete runner against a
scripted fake org (lock failures, permanent errors, already-deleted rows, failed jobs, in-flight)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from include.dc2sf.engine.cleanup import (
    CleanupRefused,
    CleanupSpec,
    chunked,
    csv_of_ids,
    delete_matching,
    final_report,
    format_report,
    plan_cleanup,
)

LOCK = "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 001:--"


class FakeOrg:
    """Just enough Bulk 2.0 for the runner: jobs finish on their second poll."""

    def __init__(self, n: int, *, lock_failures: dict[str, int] | None = None) -> None:
        self.live = {f"006{i:06d}" for i in range(n)}
        self.lock_failures = dict(lock_failures or {})
        self.forbidden: set[str] = set()
        self.fail_next_jobs = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.open_now = 0
        self.max_open = 0

    # CleanupHook
    def count(self, soql: str) -> int:
        return len(self.live)

    def bulk_query_ids(self, soql: str) -> Iterator[list[str]]:
        ids = sorted(self.live)
        for start in range(0, len(ids), 700):
            yield ids[start : start + 700]

    def create_ingest_job(self, sobject: str, operation: str, external_id_field=None) -> dict:
        job_id = f"750{len(self.jobs):06d}"
        self.jobs[job_id] = {"operation": operation, "ids": [], "polls": 0, "failed": []}
        return {"id": job_id}

    def upload_job_data(self, job_id: str, csv_text: str) -> None:
        header, *ids = csv_text.splitlines()
        assert header == "Id"
        self.jobs[job_id]["ids"] = ids

    def close_job(self, job_id: str) -> dict:
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        return {"id": job_id, "state": "UploadComplete"}

    def job_info(self, job_id: str) -> dict:
        job = self.jobs[job_id]
        job["polls"] += 1
        if job["polls"] < 2:
            return {"id": job_id, "state": "InProgress"}
        if "info" not in job:
            job["info"] = self._process(job)
            self.open_now -= 1
        return job["info"]

    def job_results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        assert kind == "failedResults"
        return [{"sf__Id": i, "sf__Error": e, "Id": i} for i, e in self.jobs[job_id]["failed"]]

    def _process(self, job: dict) -> dict:
        ids = job["ids"]
        state = "JobComplete"
        if self.fail_next_jobs:
            self.fail_next_jobs -= 1
            ids, state = ids[: len(ids) // 2], "Failed"
        for record_id in ids:
            if self.lock_failures.get(record_id, 0) > 0:
                self.lock_failures[record_id] -= 1
                job["failed"].append((record_id, LOCK))
            elif record_id in self.forbidden:
                job["failed"].append(
                    (record_id, "INSUFFICIENT_ACCESS_OR_READONLY:insufficient access rights:--")
                )
            elif record_id not in self.live:
                job["failed"].append((record_id, "ENTITY_IS_DELETED:entity is deleted:--"))
            else:
                self.live.discard(record_id)
        return {
            "state": state,
            "numberRecordsProcessed": len(ids),
            "numberRecordsFailed": len(job["failed"]),
        }


def _spec(**overrides: Any) -> CleanupSpec:
    values: dict[str, Any] = {
        "marker": "Test8",
        "ids_per_job": 500,
        "max_in_flight": 3,
        "poll_interval_seconds": 0.01,
        "backoff_base_seconds": 0.01,
    }
    values.update(overrides)
    return CleanupSpec(**values)


def _run(org: FakeOrg, spec: CleanupSpec) -> tuple[dict[str, Any], list[float]]:
    sleeps: list[float] = []
    return delete_matching(spec, org, sleep=sleeps.append, rng=random.Random(1)), sleeps


# -- spec -----------------------------------------------------------------------------------------


def test_soql_for_marker_and_range_uses_escaped_literals() -> None:
    spec = CleanupSpec(marker="O'Brien \\ test", range_start="k1", range_end="k9")
    assert spec.count_soql == (
        "SELECT COUNT() FROM Opportunity WHERE StageName = 'O\\'Brien \\\\ test' "
        "AND ExternalId__c > 'k1' AND ExternalId__c <= 'k9'"
    )
    assert spec.ids_soql.startswith("SELECT Id FROM Opportunity WHERE StageName = ")
    assert CleanupSpec(range_end="k9").count_soql.endswith("WHERE ExternalId__c <= 'k9'")


def test_no_filter_is_refused_with_what_to_do() -> None:
    with pytest.raises(CleanupRefused) as refused:
        CleanupSpec()
    message = str(refused.value)
    assert "no filter given" in message
    assert "'marker'" in message and "'range_start'/'range_end'" in message
    assert "'confirm_all': true" in message
    with pytest.raises(CleanupRefused):
        CleanupSpec.from_params({"marker": "", "range_start": "", "range_end": None})


def test_confirm_all_selects_everything() -> None:
    spec = CleanupSpec(confirm_all=True, target_object="Invoice__c")
    assert spec.count_soql == "SELECT COUNT() FROM Invoice__c"
    assert spec.describe() == "ALL Invoice__c records (confirm_all)"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"ids_per_job": 10_001}, "ids_per_job"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"target_object": "Opportunity; DELETE"}, "sObject name"),
        ({"marker_field": "Stage Name"}, "field name"),
        ({"range_start": "k9", "range_end": "k1"}, "must be below end"),
        ({"marker": "a\x00b"}, "NUL"),
    ],
)
def test_invalid_specs_are_refused_before_any_call(overrides: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        _spec(**overrides)


def test_from_params_ignores_unknown_keys_and_round_trips() -> None:
    spec = CleanupSpec.from_params({"marker": "Test8", "stagger_minutes": 5, "max_delete": None})
    assert CleanupSpec(**spec.to_dict()) == spec
    assert spec.operation == "delete"
    assert CleanupSpec(marker="x", hard_delete=True).operation == "hardDelete"


def test_plan_applies_max_delete_but_not_to_a_dry_run() -> None:
    org = FakeOrg(10)
    assert plan_cleanup(_spec(max_delete=10), org)["matched"] == 10
    with pytest.raises(CleanupRefused, match="more than max_delete=9"):
        plan_cleanup(_spec(max_delete=9), org)
    assert plan_cleanup(_spec(max_delete=9, dry_run=True), org)["matched"] == 10


# -- delete runner ------------------------------------------------------------------------------


def test_chunked_recuts_pages_and_csv_has_an_id_header() -> None:
    pages = [["a", "b", "c"], ["d"], [], ["e", "f"]]
    assert list(chunked(pages, 4)) == [["a", "b", "c", "d"], ["e", "f"]]
    assert csv_of_ids(["a", "b"]) == "Id\na\nb\n"


def test_deletes_everything_in_jobs_of_bounded_size_and_in_flight() -> None:
    org = FakeOrg(2_300)
    result, _ = _run(org, _spec())
    assert org.live == set()
    assert (result["deleted"], result["failed"], result["remaining_after_delete"]) == (2_300, 0, 0)
    assert [job["ids"] for job in result["jobs"]] == [500, 500, 500, 500, 300]
    assert org.max_open == 3
    assert result["passes"] == 1


def test_lock_failures_are_retried_with_backoff() -> None:
    locked = {f"006{i:06d}": 2 for i in range(0, 1_000, 10)}  # 100 Ids fail twice
    org = FakeOrg(1_000, lock_failures=locked)
    result, sleeps = _run(org, _spec())
    assert org.live == set()
    assert result["deleted"] == 1_000
    assert result["retried"] == 200  # 100 Ids, two retries each
    assert result["lock_failed_final"] == 0
    assert sum(job["lock_failed"] for job in result["jobs"]) == 200
    assert [job["attempt"] for job in result["jobs"]][-2:] == [1, 2]
    backoffs = [s for s in sleeps if s != 0.01]
    assert len(backoffs) == 2 and all(0 <= s <= 60 for s in backoffs)


def test_serial_sweep_after_the_retry_budget() -> None:
    org = FakeOrg(600, lock_failures={"006000001": 2, "006000002": 2})
    result, _ = _run(org, _spec(lock_retries=1))
    assert org.live == set()
    sweep = result["jobs"][-1]
    assert (sweep["attempt"], sweep["ids"], sweep["deleted"]) == (2, 2, 2)
    assert result["lock_failed_final"] == 0


def test_permanent_errors_are_counted_and_the_run_stops_when_a_pass_makes_no_progress() -> None:
    org = FakeOrg(400)
    org.forbidden = {"006000003", "006000007"}
    result, _ = _run(org, _spec())
    assert org.live == {"006000003", "006000007"}
    assert result["failed"] == 4  # two passes: the second deletes nothing, so the run stops
    assert result["passes"] == 2
    assert result["errors"] == {"INSUFFICIENT_ACCESS_OR_READONLY": 4}
    assert result["error_samples"][0]["id"] == "006000003"
    report = final_report(_spec(), {"matched": 400}, result, remaining=2)
    assert report["ok"] is False
    assert "Some records remain" in format_report(report)


def test_a_failed_job_leaves_ids_for_the_next_pass() -> None:
    org = FakeOrg(1_000)
    org.fail_next_jobs = 1
    result, _ = _run(org, _spec())
    assert org.live == set()
    assert result["passes"] == 2
    assert result["jobs"][0]["state"] == "Failed"
    assert result["jobs"][0]["unprocessed"] == 250
    assert result["deleted"] == 1_000


def test_already_deleted_ids_count_as_gone_not_failed() -> None:
    org = FakeOrg(10)
    spec = _spec()

    class Stale(FakeOrg):
        def bulk_query_ids(self, soql: str) -> Iterator[list[str]]:
            yield [*sorted(self.live), "006999999"]  # deleted since the query ran

    stale = Stale(10)
    result, _ = _run(stale, spec)
    assert (result["deleted"], result["already_gone"], result["failed"]) == (10, 1, 0)
    assert org.count("") == 10  # untouched


def test_dry_run_deletes_nothing() -> None:
    org = FakeOrg(50)
    result, _ = _run(org, _spec(dry_run=True))
    assert result == {"dry_run": True, "deleted": 0, "jobs": [], "passes": 0}
    assert len(org.live) == 50 and org.jobs == {}
    report = final_report(_spec(dry_run=True), {"matched": 50}, result, remaining=50)
    assert report["ok"] is True
    assert "A real run would delete 50 records." in format_report(report)
