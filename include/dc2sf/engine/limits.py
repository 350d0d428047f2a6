"""Daily-allowance guard around a partition load: read /limits, refuse or pause with a message."""

from __future__ import annotations

import logging

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.errors import PermanentLoadError
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.limits_guard import LoadPlan, Verdict, check_allowance

log = logging.getLogger(__name__)


class DailyAllowanceExceeded(PermanentLoadError, RuntimeError):
    """The org's remaining Bulk batches or API requests cannot cover the load.

    Permanent for the `plan` task: the allowance is a rolling 24-hour window, so a retry minutes
    later meets the same shortfall. A running load does not fail on it: it pauses and re-checks.
    """


def plan_for(config: LoadConfig, rows: int, partitions: int = 1) -> LoadPlan:
    return LoadPlan(
        rows=rows,
        records_per_job=config.records_per_job,
        partitions=partitions,
        page_size=config.page_size,
        max_in_flight=config.max_in_flight,
    )


def check_daily_allowance(
    salesforce: SalesforceBulk2Hook, plan: LoadPlan, *, during_load: bool = False
) -> None:
    """Raise DailyAllowanceExceeded (with the numbers) unless the allowance covers `plan`."""
    decision = check_allowance(salesforce.limits(), plan, during_load=during_load)
    if decision.verdict is Verdict.GO:
        log.info("Daily allowance: %s", decision.message)
        return
    raise DailyAllowanceExceeded(decision.message)
