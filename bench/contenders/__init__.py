"""The benchmark's contenders, each run in a child process of its own so its CPU and memory are
its own: ``python -m bench.contenders SPEC.json RESULT.json``.

The child runs one contender against a running emulator and writes what the client itself can
know: wall time, CPU seconds (user + sys of this process, from just before the first partition
starts to the end: interpreter start-up and imports are not the load's cost), peak RSS
(``VmHWM``, see ``measure.peak_rss_mb``) and the counts the client saw. The harness adds what
the org saw (API requests, Bulk batches, rows landed).

:data:`CONTENDERS` is the registry the harness iterates: name → :class:`Contender` (a one-line
description and the run function). Each contender is described line by line in
``bench/README.md``. Every contender finishes: none has a time budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.contenders.airflow_task import run_airflow_task
from bench.contenders.common import ContenderSpec, Partition, scaled
from bench.contenders.ours import run_ours, run_ours_processes
from bench.contenders.seed import run_seed
from bench.contenders.simple_sf import run_ss_naive, run_ss_sorted
from bench.contenders.user_stack import run_user_stack


@dataclass(frozen=True)
class Contender:
    name: str
    description: str
    run: Callable[[ContenderSpec], dict[str, Any]]
    #: Modules imported before the clock starts (their import is not the load's cost).
    imports: tuple[str, ...] = ()
    #: False for a way of running another contender (not a row of its own in a comparison).
    compared: bool = True


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("ours", "this project's PartitionLoader, the operator's defaults", run_ours),
        Contender(
            "ss_sorted",
            "simple-salesforce bulk2 upsert, rows sorted by parent, one job per partition",
            run_ss_sorted,
            imports=("simple_salesforce",),
        ),
        Contender(
            "ss_naive",
            "simple-salesforce bulk2 upsert, rows in key order, 10,000-record jobs",
            run_ss_naive,
            imports=("simple_salesforce",),
        ),
        Contender(
            "user_stack",
            "CDP connector (pandas) read, pandas mapping, ss_sorted upload",
            run_user_stack,
            imports=("simple_salesforce", "pandas", "pyarrow", "salesforcecdpconnector.connection"),
        ),
        Contender(
            "seed",
            "the Apex seed ported: 500-record jobs, never polled, chained 20-30 s apart",
            run_seed,
        ),
        Contender(
            "ours_processes",
            "ours with one process per partition, as Airflow runs mapped tasks",
            run_ours_processes,
            compared=False,
        ),
        Contender(
            "airflow_task",
            "ours as the load DAG in a real Airflow, one task process per partition",
            run_airflow_task,
            compared=False,
        ),
    )
}

#: Names an earlier harness used, still accepted by the child process.
ALIASES: dict[str, str] = {"simple_salesforce": "ss_naive"}


def contender(name: str) -> Contender:
    """The contender called ``name`` (or an alias of it)."""
    return CONTENDERS[ALIASES.get(name, name)]


__all__ = [
    "ALIASES",
    "CONTENDERS",
    "Contender",
    "ContenderSpec",
    "Partition",
    "contender",
    "scaled",
]
