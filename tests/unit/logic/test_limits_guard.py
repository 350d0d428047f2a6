"""Daily-allowance guard: estimates and go / pause / refuse decisions with clear messages."""

from __future__ import annotations

import pytest

from include.dc2sf.logic.limits_guard import LoadPlan, Verdict, check_allowance, read_allowance


def limits(
    batches_remaining: int,
    requests_remaining: int,
    batches_max: int = 15_000,
    requests_max: int = 100_000,
) -> dict[str, object]:
    return {
        "DailyBulkApiBatches": {"Max": batches_max, "Remaining": batches_remaining},
        "DailyApiRequests": {
            "Max": requests_max,
            "Remaining": requests_remaining,
            "App": {"Max": 1, "Remaining": 1},
        },
        "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
    }


def test_plan_estimates() -> None:
    plan = LoadPlan(
        rows=2_000_000, records_per_job=10_000, partitions=5, packing_slack=1.0, retry_fraction=0.0
    )
    assert plan.jobs == 200
    assert plan.bulk_batches == 200
    assert plan.api_requests == 200 * 8
    seed_like = LoadPlan(
        rows=2_000_000, records_per_job=500, partitions=5, packing_slack=1.0, retry_fraction=0.0
    )
    assert seed_like.jobs == 4_000, "the seed's 500-record jobs cost 20x the batches"
    big_jobs = LoadPlan(rows=100_000, records_per_job=25_000, packing_slack=1.0, retry_fraction=0.0)
    assert big_jobs.bulk_batches == 4 * 3
    with_pages = LoadPlan(
        rows=100_000, page_size=5_000, api_calls_per_page=2, packing_slack=1.0, retry_fraction=0.0
    )
    assert with_pages.api_requests == 10 * 8 + 20 * 2
    assert LoadPlan(rows=0).jobs == 0


def test_go_when_the_plan_fits() -> None:
    decision = check_allowance(limits(14_000, 90_000), LoadPlan(rows=2_000_000, partitions=5))
    assert decision.verdict is Verdict.GO
    assert "covers the plan (2,000,000 rows" in decision.message
    assert decision.needed["DailyBulkApiBatches"] == 242
    assert decision.usable["DailyBulkApiBatches"] == 14_000 - 1_500


def test_refuse_before_start_when_remaining_is_short_but_a_full_day_would_do() -> None:
    decision = check_allowance(limits(1_600, 90_000), LoadPlan(rows=2_000_000, partitions=5))
    assert decision.verdict is Verdict.REFUSE
    assert (
        "Bulk batches: needs ~242, 100 usable (1,600 remaining of 15,000, 1,500 kept in reserve)"
        in decision.message
    )
    assert "start later" in decision.message


def test_refuse_with_split_advice_when_even_a_full_day_is_too_little() -> None:
    plan = LoadPlan(rows=10_000_000, records_per_job=500, partitions=5)
    decision = check_allowance(limits(15_000, 100_000), plan)
    assert decision.verdict is Verdict.REFUSE
    assert "split the load" in decision.message and "raise records_per_job" in decision.message


def test_pause_during_load_when_the_next_window_does_not_fit() -> None:
    plan = LoadPlan(rows=500_000, partitions=5, max_in_flight=3)
    assert check_allowance(limits(1_600, 90_000), plan, during_load=True).verdict is Verdict.GO
    decision = check_allowance(limits(1_515, 90_000), plan, during_load=True)
    assert decision.verdict is Verdict.PAUSE
    assert "rolling 24 h window" in decision.message
    api_short = check_allowance(limits(15_000, 10_100), plan, during_load=True)
    assert api_short.verdict is Verdict.PAUSE and "API requests" in api_short.message


def test_missing_limits_are_reported_not_guessed() -> None:
    decision = check_allowance(
        {"DailyApiRequests": {"Max": 100_000, "Remaining": 99_000}}, LoadPlan(rows=1_000)
    )
    assert decision.verdict is Verdict.GO
    assert "DailyBulkApiBatches not reported" in decision.message
    assert decision.to_dict()["verdict"] == "go"


def test_validation() -> None:
    with pytest.raises(ValueError, match="integer Max and Remaining"):
        read_allowance({"DailyApiRequests": {"Max": "x", "Remaining": 1}}, "DailyApiRequests")
    assert (
        read_allowance(
            {"DailyApiRequests": {"Max": 5, "Remaining": -3}}, "DailyApiRequests"
        ).remaining
        == 0
    )  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="reserve_fraction"):
        check_allowance({}, LoadPlan(rows=1), reserve_fraction=1.0)
    with pytest.raises(ValueError, match="plan"):
        LoadPlan(rows=-1)
    with pytest.raises(ValueError, match="packing_slack"):
        LoadPlan(rows=1, packing_slack=0.5)
