"""What ``make bench`` runs: every (scenario, profile, contender, rows, repeats) cell.

Why a plan of cells: a full matrix takes hours, so every cell must also run alone
(``make bench-one``) and merge into the same report; the plan is the one place that says which
contender runs where, at which size and how often. Contenders are whatever
``bench.contenders.CONTENDERS`` offers; the plan only names the ones with a special role.

* **A** (client cost, ``zero_cost``): every contender once at 500,000 rows.
* **B** (org matrix, every profile in ``bench.profiles.B_PROFILES``): ``ours`` and ``ss_sorted``
  once at 2,000,000 rows and three times at 500,000 (median and range); every other contender
  once at 50,000 rows, next to ``ours`` at the same size, because the weak baselines (unsorted
  jobs, the seed's paced 500-record jobs) need hours at larger sizes. A run that exceeds its
  budget is stopped and reported as not finished.
* **C** (memory, ``zero_cost``): ``ours`` three ways (threads; one process per partition; the
  load DAG in a real Airflow, ``airflow_task``) at 1M, 2M, 5M and 10M rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.profiles import B_PROFILES, ZERO_COST

#: The contenders the headline compares (scenario B, every size).
HEADLINE = ("ours", "ss_sorted")
#: Ours with one process per partition (as Airflow runs mapped tasks): scenario C only.
PER_PROCESS = "ours_processes"
#: The load DAG in a real Airflow, one task process per partition: scenario C only.
AIRFLOW_TASK = "airflow_task"
#: Ways of running ours that only scenario C (memory) plans.
C_ONLY = (PER_PROCESS, AIRFLOW_TASK)
#: B runs in real time: see bench/README.md ("Time scale").
B_TIME_SCALE = 1.0
#: Smoke runs compress B's timeline 50× so it finishes in seconds (correctness only).
SMOKE_TIME_SCALE = 0.02


@dataclass(frozen=True)
class Sizes:
    a_rows: int
    b_headline_rows: int
    b_spread_rows: int
    b_spread_repeats: int
    b_other_rows: int
    c_rows: tuple[int, ...]


FULL = Sizes(500_000, 2_000_000, 500_000, 3, 50_000, (1_000_000, 2_000_000, 5_000_000, 10_000_000))
#: Tiny: every code path of the harness in a minute or two, nothing about speed.
SMOKE = Sizes(3_000, 2_000, 1_000, 1, 1_000, (2_000,))
#: The two profiles the smoke test runs (the control and the giant parent).
SMOKE_B_PROFILES = ("tuned", "giant_parent")


@dataclass(frozen=True)
class Cell:
    """One contender on one profile at one size, ``repeats`` times."""

    scenario: str
    profile: str
    contender: str
    rows: int
    repeats: int = 1


def matrix(contenders: Iterable[str], *, smoke: bool = False) -> list[Cell]:
    """Every cell of the full run, for the contenders the registry offers."""
    names = list(contenders)
    sizes = SMOKE if smoke else FULL
    loaders = [c for c in names if c not in C_ONLY]
    headline = [c for c in HEADLINE if c in names]
    others = [c for c in loaders if c not in HEADLINE]
    cells = [Cell("A", ZERO_COST.name, c, sizes.a_rows) for c in loaders]
    b_profiles = SMOKE_B_PROFILES if smoke else tuple(p.name for p in B_PROFILES)
    for name in b_profiles:
        cells += [Cell("B", name, c, sizes.b_headline_rows) for c in headline]
        cells += [Cell("B", name, c, sizes.b_spread_rows, sizes.b_spread_repeats) for c in headline]
        if others and "ours" in names:
            cells += [Cell("B", name, c, sizes.b_other_rows) for c in ("ours", *others)]
    c_contenders = [c for c in ("ours", *C_ONLY) if c in names]
    cells += [Cell("C", ZERO_COST.name, c, rows) for rows in sizes.c_rows for c in c_contenders]
    # Where the weak baselines' size equals another planned size, ours is planned once.
    return select(cells)


def select(
    cells: list[Cell],
    *,
    scenarios: Iterable[str] = (),
    profiles: Iterable[str] = (),
    contenders: Iterable[str] = (),
    rows: int | None = None,
    repeats: int | None = None,
) -> list[Cell]:
    """The cells a ``bench-one`` asks for; ``rows``/``repeats`` replace the planned ones.

    With ``rows`` set, cells that differed only in size collapse into one (the first one's
    repeats unless ``repeats`` is given).
    """
    wanted = [
        c
        for c in cells
        if (not scenarios or c.scenario in scenarios)
        and (not profiles or c.profile in profiles)
        and (not contenders or c.contender in contenders)
    ]
    out: list[Cell] = []
    seen: set[tuple[str, str, str, int]] = set()
    for cell in wanted:
        size = rows if rows is not None else cell.rows
        key = (cell.scenario, cell.profile, cell.contender, size)
        if key in seen:
            continue
        seen.add(key)
        out.append(Cell(cell.scenario, cell.profile, cell.contender, size, repeats or cell.repeats))
    return out


def time_scale(scenario: str, *, smoke: bool) -> float:
    """Real seconds per simulated second for a scenario (A and C have no simulated time)."""
    if scenario != "B":
        return 0.0
    return SMOKE_TIME_SCALE if smoke else B_TIME_SCALE
