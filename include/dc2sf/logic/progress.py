"""Progress arithmetic shared by the operator (the ``progress`` XCom), the UI plugin and reports.

One definition of every figure, so the view, the reconcile task and the terminal report agree:

* ``processed``: distinct source records read and sent at least once;
* ``succeeded``: records loaded; ``dead_lettered``: records given up on (with their error);
  settled = succeeded + dead_lettered;
* ``failed``: failed attempts seen in job results (a record retried twice and then loaded counts
  2 here and 1 in ``succeeded``); ``retried``: records re-queued for another attempt;
* success rate = succeeded / settled (records still in flight do not count against it);
* rate = settled / elapsed seconds (``started_at`` → ``updated_at``); ETA needs the source count.

One time model for every timestamp here, in the progress view and in the terminal report: an aware
UTC ``datetime.datetime`` (the stdlib class, never a subclass), made by :func:`parse_time` from
whatever form a timestamp arrives in and written back by :func:`iso` as ISO 8601 with ``Z``.
Airflow hands out times in several forms (aware ``pendulum.DateTime`` from trigger kwargs, naive or
aware ISO text from rendered templates and the REST API, epoch seconds from ``time.time()``), and
mixing them is how ``can't compare offset-naive and offset-aware datetimes`` happens: pendulum's
subtraction refuses a stdlib UTC datetime even when both are aware. Naive values mean UTC, which is
how Airflow stores every timestamp.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from include.dc2sf.logic.key_range import KeyRange


class LoadState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DEFERRED = "deferred"
    PAUSED = "paused"
    SUCCESS = "success"
    FAILED = "failed"


_ACTIVE_STATES = frozenset(
    {LoadState.RUNNING, LoadState.RETRYING, LoadState.DEFERRED, LoadState.PAUSED}
)
COUNTER_FIELDS: tuple[str, ...] = (
    "processed",
    "succeeded",
    "failed",
    "retried",
    "dead_lettered",
    "api_calls",
    "jobs_total",
    "jobs_in_flight",
)
"""The integer counters of :class:`Progress`, in display order (for views and reports)."""


def parse_time(value: dt.datetime | str | float | None) -> dt.datetime | None:
    """Any timestamp form → aware UTC stdlib ``datetime`` (the one time model); None stays None.

    Accepts ``datetime`` objects of any class and zone (naive = UTC), ISO 8601 text with or without
    an offset or ``Z``, and epoch seconds. Anything else is a ``ValueError`` naming the value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    elif isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    # Rebuilt as the stdlib class: a pendulum.DateTime stays one through astimezone().
    return dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=dt.UTC,
    )


def iso(moment: dt.datetime | str | float | None) -> str | None:
    """A timestamp (any form :func:`parse_time` reads) → ISO 8601 UTC with ``Z``, seconds precision."""
    parsed = parse_time(moment)
    return None if parsed is None else parsed.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Progress:
    """Progress of one partition at ``updated_at``."""

    partition: int
    range_start: str | None
    range_end: str | None
    #: Any form :func:`parse_time` reads; stored as aware UTC ``datetime``.
    started_at: dt.datetime | str | float
    updated_at: dt.datetime | str | float
    watermark: str | None = None
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    api_calls: int = 0
    jobs_total: int = 0
    jobs_in_flight: int = 0
    state: LoadState = LoadState.RUNNING
    source_count: int | None = None

    def __post_init__(self) -> None:
        for name in COUNTER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"progress.{name} must be a non-negative integer, got {value!r}")
        if self.source_count is not None and self.source_count < 0:
            raise ValueError("progress.source_count must be non-negative")
        for name in ("started_at", "updated_at"):
            moment = parse_time(getattr(self, name))
            if moment is None:
                raise ValueError(f"progress.{name} is required")
            object.__setattr__(self, name, moment)
        if self.updated_at < self.started_at:
            raise ValueError("progress.updated_at is before started_at")
        object.__setattr__(self, "state", LoadState(self.state))

    @classmethod
    def start(
        cls,
        *,
        partition: int,
        key_range: KeyRange,
        now: dt.datetime,
        source_count: int | None = None,
    ) -> Progress:
        return cls(
            partition=partition,
            range_start=key_range.start,
            range_end=key_range.end,
            started_at=now,
            updated_at=now,
            source_count=source_count,
        )

    def updated(self, *, now: dt.datetime, **changes: Any) -> Progress:
        """A copy with new figures and ``updated_at=now`` (progress objects are immutable)."""
        return replace(self, updated_at=now, **changes)

    @property
    def settled(self) -> int:
        return self.succeeded + self.dead_lettered

    @property
    def unsettled(self) -> int:
        """Records read and sent (or about to be) whose outcome the loader has not seen yet.

        After a crash these may already be in Salesforce: the next try re-attaches their jobs.
        """
        return max(0, self.processed - self.settled)

    @property
    def elapsed_seconds(self) -> float:
        return (self.updated_at - self.started_at).total_seconds()

    @property
    def rate_per_second(self) -> float | None:
        """Settled records per second, or ``None`` before any time has passed."""
        elapsed = self.elapsed_seconds
        return self.settled / elapsed if elapsed > 0 else None

    @property
    def success_rate(self) -> float | None:
        """Share of settled records that loaded (``None`` before the first settle)."""
        return self.succeeded / self.settled if self.settled else None

    @property
    def remaining(self) -> int | None:
        if self.source_count is None:
            return None
        return max(0, self.source_count - self.settled)

    @property
    def percent_complete(self) -> float | None:
        if self.source_count is None:
            return None
        if self.source_count == 0:
            return 100.0
        return min(100.0, 100.0 * self.settled / self.source_count)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds to settle the rest at the rate so far (``None`` when unknown)."""
        remaining, rate = self.remaining, self.rate_per_second
        if remaining is None:
            return None
        if remaining == 0:
            return 0.0
        if not rate:
            return None
        return remaining / rate

    @property
    def projected_finish(self) -> dt.datetime | None:
        eta = self.eta_seconds
        return None if eta is None else self.updated_at + dt.timedelta(seconds=eta)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for the ``progress`` XCom: the raw figures plus the derived ones."""
        data: dict[str, Any] = {name: getattr(self, name) for name in COUNTER_FIELDS}
        data.update(
            partition=self.partition,
            range_start=self.range_start,
            range_end=self.range_end,
            watermark=self.watermark,
            state=self.state.value,
            started_at=iso(self.started_at),
            updated_at=iso(self.updated_at),
            source_count=self.source_count,
            settled=self.settled,
            elapsed_seconds=round(self.elapsed_seconds, 3),
            rate_per_second=_round(self.rate_per_second),
            success_rate=_round(self.success_rate, 6),
            percent_complete=_round(self.percent_complete),
            eta_seconds=_round(self.eta_seconds),
            projected_finish=iso(self.projected_finish),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Progress:
        """Read a ``progress`` XCom back (derived figures are ignored: they are recomputed)."""
        names = {f.name for f in fields(cls)}
        values = {name: data[name] for name in names if name in data}
        missing = {"partition", "range_start", "range_end", "started_at", "updated_at"} - set(
            values
        )
        if missing:
            raise ValueError(f"progress is missing {sorted(missing)}")
        return cls(**values)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


@dataclass(frozen=True, slots=True)
class ProgressTotals:
    """Sum over partitions, for the view's header line and the final report."""

    partitions: int
    states: dict[str, int]
    counters: dict[str, int]
    source_count: int | None
    started_at: dt.datetime | None
    updated_at: dt.datetime | None

    @property
    def settled(self) -> int:
        return self.counters["succeeded"] + self.counters["dead_lettered"]

    @property
    def state(self) -> LoadState:
        """Failed if any failed; active while any is active; success only when all succeeded."""
        if self.states.get(LoadState.FAILED, 0):
            return LoadState.FAILED
        if any(self.states.get(state, 0) for state in _ACTIVE_STATES):
            return LoadState.RUNNING
        if self.partitions and self.states.get(LoadState.SUCCESS, 0) == self.partitions:
            return LoadState.SUCCESS
        return LoadState.QUEUED

    @property
    def rate_per_second(self) -> float | None:
        """Overall throughput: all settled records over the wall-clock span of the load."""
        if self.started_at is None or self.updated_at is None:
            return None
        elapsed = (self.updated_at - self.started_at).total_seconds()
        return self.settled / elapsed if elapsed > 0 else None

    @property
    def success_rate(self) -> float | None:
        return self.counters["succeeded"] / self.settled if self.settled else None

    @property
    def eta_seconds(self) -> float | None:
        if self.source_count is None:
            return None
        remaining = max(0, self.source_count - self.settled)
        if remaining == 0:
            return 0.0
        rate = self.rate_per_second
        return remaining / rate if rate else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions,
            "state": self.state.value,
            "states": dict(self.states),
            **self.counters,
            "settled": self.settled,
            "source_count": self.source_count,
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "rate_per_second": _round(self.rate_per_second),
            "success_rate": _round(self.success_rate, 6),
            "eta_seconds": _round(self.eta_seconds),
        }


def total_progress(partitions: Iterable[Progress]) -> ProgressTotals:
    """Totals over partitions; the source count is known only if every partition knows its own."""
    items = list(partitions)
    counters = {name: sum(getattr(p, name) for p in items) for name in COUNTER_FIELDS}
    states: dict[str, int] = {}
    for item in items:
        states[item.state.value] = states.get(item.state.value, 0) + 1
    known = [p.source_count for p in items]
    source_count = sum(c for c in known if c is not None) if items and None not in known else None
    return ProgressTotals(
        partitions=len(items),
        states=states,
        counters=counters,
        source_count=source_count,
        started_at=min((p.started_at for p in items), default=None),
        updated_at=max((p.updated_at for p in items), default=None),
    )


# --- formatting ---------------------------------------------------------------------------------


def format_count(value: int | None) -> str:
    """``1234567`` → ``1,234,567`` (``–`` when unknown)."""
    return "–" if value is None else f"{value:,}"


def format_duration(seconds: float | None) -> str:
    """``3725`` → ``1h 02m 05s``; ``59.4`` → ``59s``; days for long loads (``–`` when unknown)."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "–"
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_rate(per_second: float | None) -> str:
    """Records per second, switching to per minute below 1/s: ``1,234/s``, ``12/min``."""
    if per_second is None:
        return "–"
    if per_second >= 1:
        return f"{per_second:,.0f}/s"
    return f"{per_second * 60:,.1f}/min"


def format_percent(ratio: float | None, digits: int = 1) -> str:
    """``0.9016`` → ``90.2%`` (``–`` when unknown)."""
    return "–" if ratio is None else f"{ratio * 100:.{digits}f}%"
