"""The demo's progress for a log reader (CI, a pipe, ``| tee demo.log``), where redrawing a table
in place is impossible and a full report every few seconds buries what happened.

What a reader of such a log wants to find by scrolling or ``grep``: *when* each partition changed
state (waiting until its start time, running, retrying after a failed try, done or failed, with
its counts), and every so often how far the load is: each active partition's loaded/total, rate and
ETA, and one total line. So :class:`ProgressLog` prints

* an event line for every change of the run's state and of each partition's state, as it is seen;
* while something moves, a short summary at most every ``every`` seconds (only when a count has
  changed since the last one), and the final one as soon as the run has ended; when nothing moves for a long time (partitions waiting out a
  90-minute stagger), a heartbeat every ``quiet_every`` seconds that says what it waits for.

It reads nothing but the progress report's JSON (:func:`include.dc2sf.progress_report.build_report`,
the same data the progress page and ``python -m include.dc2sf.report`` show) and its ``display``
strings, so the numbers and their formatting are the report's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

Report = Mapping[str, Any]

#: Partition states after which a partition does not change any more (the report's words).
FINAL_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
#: Partition states in which counts move.
ACTIVE_STATES = frozenset({"running", "retrying"})


def partition_name(partition: Mapping[str, Any]) -> str:
    """``p2 (externalOpp0080000, externalOpp0120000]``: the same text from plan to end (the load
    task's rendered label only exists once it has started)."""
    name = f"p{partition.get('partition', partition.get('map_index'))}"
    return f"{name} {partition['range']}" if partition.get("range") else name


def _state_text(partition: Mapping[str, Any]) -> str:
    """The report's state label, with the outcome's counts once the partition is done."""
    show = partition["display"]
    text = str(partition.get("state_label") or partition["state"])
    if partition["state"] in FINAL_STATES:
        text += (
            f": {show['succeeded']} / {show['source_count']} loaded, "
            f"{show['dead_lettered']} dead-lettered"
        )
    return text


def _progress_text(counts: Mapping[str, Any]) -> str:
    """``12,000 / 40,000 loaded (30.0% settled), rate 2,400/s, ETA 11s`` of a partition or the
    totals; dead letters only when there are some."""
    show = counts["display"]
    dead = f", {show['dead_lettered']} dead-lettered" if counts.get("dead_lettered") else ""
    return (
        f"{show['succeeded']} / {show['source_count']} loaded ({show['percent_complete']} "
        f"settled){dead}, rate {show['rate']}, ETA {show['eta']}"
    )


class ProgressLog:
    """Successive reports of one run in, the lines worth printing out (see the module doc)."""

    def __init__(
        self,
        *,
        every: float = 15.0,
        quiet_every: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every = every
        self.quiet_every = quiet_every
        self.clock = clock
        self.started = clock()
        self._run_state: str | None = None
        self._states: dict[int, str] = {}
        self._last_counts: tuple[Any, ...] | None = None
        self._last_summary: float | None = None  # the first report gets a summary at once
        self._last_line = self.started

    def elapsed(self) -> str:
        seconds = int(self.clock() - self.started)
        return f"[{seconds // 60:02d}:{seconds % 60:02d}]"

    def lines(self, report: Report, extra: str | None = None) -> list[str]:
        """What to print for this report; ``extra`` is appended to the total line (the demo's
        count of records in the org)."""
        now = self.clock()
        stamp = self.elapsed()
        ended = report["run"]["state"] != self._run_state and not report["run"]["active"]
        out = [f"{stamp} {line}" for line in self._events(report)]
        counts = self._counts(report)
        moved = counts != self._last_counts
        due = self._last_summary is None or now - self._last_summary >= self.every
        quiet = now - self._last_line >= self.quiet_every
        if report["partitions"] and ((moved and (due or ended)) or quiet):
            out += [f"{stamp} {line}" for line in self._summary(report, extra)]
            self._last_summary = now
            self._last_counts = counts
        if out:
            self._last_line = now
        return out

    def _events(self, report: Report) -> list[str]:
        events: list[str] = []
        run = report["run"]
        if run["state"] != self._run_state:
            events.append(f"run {run['run_id']}: {run['state']}")
            self._run_state = run["state"]
        partitions = report["partitions"]
        if partitions and not self._states:
            total = report["totals"]["display"]["source_count"]
            events.append(f"planned {len(partitions)} partitions, {total} source rows")
        for partition in partitions:
            index = int(partition["map_index"])
            state = str(partition["state"])
            if self._states.get(index) != state:
                events.append(f"{partition_name(partition)}: {_state_text(partition)}")
                self._states[index] = state
        return events

    @staticmethod
    def _counts(report: Report) -> tuple[Any, ...]:
        totals = report["totals"]
        return (totals.get("settled"), totals.get("retried"), totals.get("jobs_in_flight"))

    @staticmethod
    def _summary(report: Report, extra: str | None) -> list[str]:
        partitions = report["partitions"]
        lines = [
            f"  {partition_name(p)}: {_progress_text(p)}"
            for p in partitions
            if p["state"] in ACTIVE_STATES
        ]
        totals = report["totals"]
        states = ", ".join(f"{n} {state}" for state, n in sorted(totals["states"].items()))
        total = f"total: {_progress_text(totals)}; partitions {states}"
        waiting = [p for p in partitions if p["state"] == "waiting"]
        if waiting and not lines:
            total += f"; next start {waiting[0]['display']['waiting_until']}"
        return [*lines, total + (f"; {extra}" if extra else "")]
