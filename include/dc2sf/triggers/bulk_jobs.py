"""BulkJobsTrigger: waits in the triggerer until one of a set of Bulk 2.0 jobs is terminal.

The partition loader defers here when its in-flight jobs are full and nothing can be done but wait
for Salesforce, so a long load holds a worker slot only while it works. The trigger only waits:
it holds job ids and timing, never records or checkpoints (those live in the task state store).
Job info calls run in a thread because the hook is synchronous (requests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook, ended_in_submission_order


class BulkJobsTrigger(BaseTrigger):
    """Fires with the infos of the finished jobs once any of `job_ids` is terminal.

    With no job ids it fires at `not_before` (a backoff before a retry round).
    """

    def __init__(
        self,
        *,
        salesforce_conn_id: str,
        job_ids: list[str],
        poll_interval: float = 5.0,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.salesforce_conn_id = salesforce_conn_id
        self.job_ids = list(job_ids)
        self.poll_interval = poll_interval
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "salesforce_conn_id": self.salesforce_conn_id,
                "job_ids": self.job_ids,
                "poll_interval": self.poll_interval,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.not_before is not None:
            delay = self.not_before - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        if not self.job_ids:
            yield TriggerEvent({"status": "ready", "infos": []})
            return
        hook = SalesforceBulk2Hook(self.salesforce_conn_id)
        try:
            while True:
                # Job ids come in submission order: the oldest is watched, ended ones asked once.
                finished = await asyncio.to_thread(
                    ended_in_submission_order, self.job_ids, hook.job_info
                )
                if finished:
                    yield TriggerEvent(
                        {"status": "ready", "infos": finished, "api_calls": hook.counter.calls}
                    )
                    return
                await asyncio.sleep(self.poll_interval)
        except Exception as exc:  # reported to the task, which fails with the message
            yield TriggerEvent(
                {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000]}
            )
