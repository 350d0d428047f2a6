"""Which load failures are permanent: another try would fail the same way, so none is made.

Airflow retries a failed task (this DAG: 3 retries, 2, 4 and 8 minutes apart). That is right for
what can pass on a later try: an HTTP error that outlasted the hook's own retries, a lost
connection, a killed worker; the retry resumes from the checkpoint. It is wrong for a failure the
same input gives every time (a conf key that does not exist, a mapping the target object cannot
take, a partition over its failure threshold): retries only delay the failure and its alert by
~14 minutes and hold the next run behind `max_active_runs=1`.

This module is the one place that says which is which. Every engine error that no retry can fix
derives from :class:`PermanentLoadError`; :func:`is_permanent` also knows the hooks' own
"refused, not retried" errors. The Airflow boundary (`include/dc2sf/operators/fail_fast.py`) turns
a permanent error into `AirflowFailException`, which Airflow fails without retrying. Everything
else keeps Airflow's retries. `docs/failure-modes.md` lists each error with its class.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from include.dc2sf.hooks.datacloud import DataCloudQueryError

P = ParamSpec("P")
T = TypeVar("T")


class PermanentLoadError(Exception):
    """A failure no retry can fix: its message says what to change before the next run."""


class ConfInvalid(PermanentLoadError, ValueError):
    """The run's conf (Params) or the operator's arguments are invalid: fix the conf."""


class SourceUnfit(PermanentLoadError, ValueError):
    """The source data cannot be loaded as configured (e.g. too many NULL keys): fix the source."""


#: Errors of the hooks that mean "the request itself was refused" (not retried by the hook):
#: a Data Cloud query naming an unknown object or column gives the same 400 on every try.
PERMANENT_HOOK_ERRORS: tuple[type[Exception], ...] = (DataCloudQueryError,)


def is_permanent(error: BaseException) -> bool:
    """True when another try of the same task would fail the same way."""
    return isinstance(error, (PermanentLoadError, *PERMANENT_HOOK_ERRORS))


def conf_errors_are_permanent(build: Callable[P, T]) -> Callable[P, T]:
    """Decorate a function that only builds configuration: its ValueError becomes ConfInvalid.

    The pure validators (mapping, identifiers, LoadConfig, boundaries) raise ValueError with a
    message naming the fix. Only functions that do no I/O may be decorated: a ValueError from an
    HTTP response (e.g. a truncated JSON body) is transient and must keep its retries.
    """

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return build(*args, **kwargs)
        except PermanentLoadError:
            raise
        except ValueError as error:
            raise ConfInvalid(str(error)) from error

    return wrapper
