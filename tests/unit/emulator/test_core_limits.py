"""Daily API allocation, the Sforce-Limit-Info header, /limits, and rolling Bulk quotas."""

from __future__ import annotations

from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.limits.models import RollingCounter, UsageCounters
from emulator.testing import core_login, in_process


def test_limit_header_counts_up_and_403_when_exhausted() -> None:
    with in_process(EmulatorConfig(time_scale=0, api_daily_request_max=3)) as (state, client):
        auth = {"Authorization": f"Bearer {core_login(client)}"}
        seen = [client.get("/services/data/v59.0/limits", headers=auth) for _ in range(3)]
        assert [r.headers["sforce-limit-info"] for r in seen] == [
            "api-usage=1/3",
            "api-usage=2/3",
            "api-usage=3/3",
        ]
        assert seen[-1].json()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}
        r = client.get("/services/data/v59.0/limits", headers=auth)
        assert r.status_code == 403
        assert r.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert r.headers["sforce-limit-info"] == "api-usage=3/3"
        # rolling 24 h: a day later the allocation is back
        state.clock.advance(86_400 + 61)
        auth = {"Authorization": f"Bearer {core_login(client)}"}  # the old session timed out
        assert client.get("/services/data/v59.0/limits", headers=auth).status_code == 200


def test_limits_resource_shape() -> None:
    with in_process() as (state, client):
        auth = {"Authorization": f"Bearer {core_login(client)}"}
        state.count_bulk_batches(7)
        body = client.get("/services/data/v59.0/limits/", headers=auth).json()
        for key in (
            "DailyApiRequests",
            "DailyBulkApiBatches",
            "DailyBulkV2QueryJobs",
            "DailyBulkV2QueryFileStorageMB",
        ):
            assert set(body[key]) == {"Max", "Remaining"}
        assert body["DailyBulkApiBatches"] == {"Max": 15000, "Remaining": 14993}
        assert body["DailyBulkV2QueryJobs"]["Max"] == 10000
        assert body["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}


def test_bulk_quotas_grant_only_what_is_left_and_roll() -> None:
    clock = Clock(0)
    config = EmulatorConfig(bulk_daily_record_max=1000, bulk_daily_batch_max=2)
    usage = UsageCounters(clock, config)
    assert usage.count_bulk_records(600) == 600
    assert usage.count_bulk_records(600) == 400
    assert usage.count_bulk_records(1) == 0
    assert usage.count_bulk_batches(3) == 2
    clock.advance(3600)
    assert usage.count_bulk_records(1) == 0
    clock.advance(86_400)
    assert usage.count_bulk_records(10) == 10
    assert usage.count_bulk_batches(1) == 1
    usage.reset()
    assert usage.snapshot()["DailyBulkApiBatches"] == (2, 2)


def test_rolling_counter_forgets_old_buckets_only() -> None:
    clock = Clock(0)
    counter = RollingCounter(clock)
    counter.add(5)
    clock.advance(43_200)
    counter.add(3)
    assert counter.value() == 8
    clock.advance(43_200 + 60)
    assert counter.value() == 3


def test_versions_and_unknown_paths_render_salesforce_errors() -> None:
    with in_process() as (_, client):
        r = client.get("/services/data/v59.0/nothing-here")
        assert r.status_code == 404
        assert r.json() == [
            {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
        ]
        r = client.delete("/services/oauth2/token")
        assert r.status_code == 405 and r.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
