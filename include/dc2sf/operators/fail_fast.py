"""The Airflow boundary of failure classification: permanent errors fail the task without retries.

`include/dc2sf/engine/errors.py` decides what is permanent; this decorator, on the load operator's
`execute`/`execute_complete` and on the DAG's `plan` and `reconcile` tasks, is the only place that
turns such an error into `AirflowFailException` (Airflow then marks the task failed at once, runs
its `on_failure_callback` once, and schedules no retry). Every other exception passes unchanged
and keeps the task's retries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from include.dc2sf.engine.errors import is_permanent

P = ParamSpec("P")
T = TypeVar("T")

NOT_RETRIED = "Not retried: another try would fail the same way."


def permanent_message(error: BaseException) -> str:
    """The task's failure text: the original error class and message, and why it is not retried."""
    return f"{type(error).__name__}: {error}\n{NOT_RETRIED}"


def fail_fast(function: Callable[P, T]) -> Callable[P, T]:
    """Run `function`; a permanent error leaves it as AirflowFailException (cause kept)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if not is_permanent(error):
                raise
            raise AirflowFailException(permanent_message(error)) from error

    return wrapper
