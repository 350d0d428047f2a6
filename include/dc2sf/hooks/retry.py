"""The retry policy for single HTTP calls, shared by the Salesforce and Data Cloud hooks.

Why our own policy object on top of tenacity: the two hooks must agree on what is transient
(5xx, connection resets, timeouts, 429, 403 REQUEST_LIMIT_EXCEEDED) and on the long wait the
daily-limit refusal needs, and the operator reports how many retries happened. tenacity does the
waiting; this module decides and counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import requests
import tenacity

from include.dc2sf.logic.classification import HttpAction, classify_http_failure, parse_error_body

log = logging.getLogger(__name__)

T = TypeVar("T")


class SessionExpired(Exception):
    """The server said the session is invalid: the caller must log in again, then retry."""


@dataclass
class CallCounter:
    """Counts API calls and retries made by one hook; thread-safe because jobs are polled in parallel."""

    calls: int = 0
    retries: int = 0
    relogins: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_call(self) -> None:
        with self._lock:
            self.calls += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_relogin(self) -> None:
        with self._lock:
            self.relogins += 1


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying a single call.

    `limit_wait_seconds` is the pause after 403 REQUEST_LIMIT_EXCEEDED: the daily allowance is a
    rolling 24 h window, so hammering it is pointless; a long wait lets other calls age out.
    """

    max_attempts: int = 6
    initial_wait_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    limit_wait_seconds: float = 300.0
    max_relogins: int = 3

    def to_dict(self) -> dict[str, float]:
        return {
            "max_attempts": self.max_attempts,
            "initial_wait_seconds": self.initial_wait_seconds,
            "max_wait_seconds": self.max_wait_seconds,
            "limit_wait_seconds": self.limit_wait_seconds,
            "max_relogins": self.max_relogins,
        }


def action_for(exc: BaseException) -> HttpAction:
    """Map an exception raised by a call to what the policy should do about it."""
    if isinstance(exc, SessionExpired):
        return HttpAction.RELOGIN
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return HttpAction.FAIL  # a certificate problem does not heal by waiting; a TLS EOF does
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    ):
        return classify_http_failure(None, connection_error=True).action
    status = getattr(exc, "status", None)
    response = getattr(exc, "response", None)
    if status is None and response is not None:
        status = response.status_code
    if status is None:
        return HttpAction.FAIL
    return classify_http_failure(int(status), error_code_of(exc)).action


def error_code_of(exc: BaseException) -> str | None:
    """Salesforce's errorCode from the error body of a failed call, if there is one."""
    content = getattr(exc, "content", None)
    response = getattr(exc, "response", None)
    if content is None and response is not None:
        content = response.content
    pairs = parse_error_body(content)
    return pairs[0][0] or None if pairs else None


def call_with_retry(
    func: Callable[[], T],
    *,
    policy: RetryPolicy,
    counter: CallCounter,
    relogin: Callable[[], None],
    describe: str,
) -> T:
    """Run one API call under the policy: back off on transients, log in again on expiry."""
    relogins = 0

    def _wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and action_for(exc) is HttpAction.RETRY_AFTER_LONG_WAIT:
            return policy.limit_wait_seconds
        if exc is not None and action_for(exc) is HttpAction.RELOGIN:
            return 0.0
        return tenacity.wait_exponential_jitter(
            initial=policy.initial_wait_seconds, max=policy.max_wait_seconds
        )(state)

    def _should_retry(exc: BaseException) -> bool:
        nonlocal relogins
        action = action_for(exc)
        if action is HttpAction.RELOGIN:
            if relogins >= policy.max_relogins:
                return False
            relogins += 1
            counter.add_relogin()
            relogin()
            return True
        return action in (HttpAction.RETRY, HttpAction.RETRY_AFTER_LONG_WAIT)

    def _before_sleep(state: tenacity.RetryCallState) -> None:
        counter.add_retry()
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed (%s: %s); retry %d in %.1fs",
            describe,
            type(exc).__name__,
            _short(exc),
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
        )

    def _counted() -> T:
        counter.add_call()
        return func()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts + policy.max_relogins),
        wait=_wait,
        retry=tenacity.retry_if_exception(_should_retry),
        before_sleep=_before_sleep,
        reraise=True,
    )
    return retrying(_counted)


def _short(exc: BaseException | None, limit: int = 300) -> str:
    text = str(exc) if exc is not None else ""
    return text if len(text) <= limit else text[:limit] + "…"
