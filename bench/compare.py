"""Ours vs the other contenders on one emulator per org profile: the benchmark harness.

    make bench                                          # the whole matrix (hours)
    make bench-one SCENARIO=B PROFILE=offset_split CONTENDER=ours BENCH_ARGS="--rows 200000"
    .venv/bin/python -m bench.compare --smoke           # every cell at tiny size (minutes)

The cells (scenario × profile × contender × rows × repeats) come from ``bench.matrix``; the org
profiles from ``bench.profiles``; the contenders from ``bench.contenders.CONTENDERS``. For every
(scenario, profile) the emulator runs in its own process (``bench.emulator_process``) with that
profile's org model. Every run gets a freshly reset emulator seeded with the same rows (same
seed → same data), the same five partitions (planned with the product's planner) and runs in a
child process of its own (``bench.contenders``), so CPU and RSS are the client's alone. After
each run the harness asks the org what it counted (API requests, Bulk batches, logins, token
exchanges, Data Cloud queries), measures the largest parent in the seeded rows (the bound) and
checks the emulator's SQLite file for lost and duplicated rows. Results merge into
``results.json``: a run replaces only earlier runs of the same cell.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.contenders import CONTENDERS, Partition  # noqa: E402
from bench.emulator_process import DataSpec, EmulatorProcess, OrgModel  # noqa: E402
from bench.matrix import Cell, matrix, select, time_scale  # noqa: E402
from bench.profiles import PROFILES, OrgProfile, profile  # noqa: E402
from bench.runs import Run, derive  # noqa: E402

PARTITIONS = 5
#: A run may take this many times its profile's bound (real seconds) before it is stopped and
#: reported as not finished; never less than MIN_BUDGET_SECONDS (start-up, reading, polls).
BUDGET_FACTOR = 30.0
MIN_BUDGET_SECONDS = 900.0


def connection_env(emulator: EmulatorProcess) -> dict[str, str]:
    """The product's two Airflow connections, pointed at the emulator (as tests/conftest.py)."""
    salesforce = {
        "conn_type": "salesforce",
        "login": "loader@example.com",
        "password": "emulator-password",
        "extra": {
            "security_token": "emulator-token",
            "login_url": emulator.base_url,
            "ca_bundle": emulator.ca_bundle,
        },
    }
    datacloud = {
        "conn_type": "http",
        "extra": {"salesforce_conn_id": "salesforce_default", "ca_bundle": emulator.ca_bundle},
    }
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce),
        "AIRFLOW_CONN_DATACLOUD_DEFAULT": json.dumps(datacloud),
    }


def plan(emulator: EmulatorProcess) -> list[Partition]:
    """Five key ranges from the source's real quantiles: the DAG's `plan` task, minus the checks."""
    os.environ.update(connection_env(emulator))
    from include.dc2sf.engine.planning import config_from_params, partitions_for
    from include.dc2sf.hooks.datacloud import DataCloudHook
    from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook

    params = {"partitions": PARTITIONS}
    datacloud = DataCloudHook(salesforce_hook=SalesforceBulk2Hook())
    planned = partitions_for(params, datacloud, config_from_params(params))
    return [
        Partition(p.index, p.key_range.start, p.key_range.end, p.key_range.start_inclusive)
        for p in planned
    ]


def run_contender(
    emulator: EmulatorProcess,
    contender: str,
    partitions: list[Partition],
    workdir: Path,
    ours: dict[str, Any] | None = None,
    budget: float | None = None,
) -> dict[str, Any]:
    """One child process; its result JSON, or ``completed: False`` when it ran out of budget."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{contender}-spec.json"
    result_path = workdir / f"{contender}-result.json"
    result_path.unlink(missing_ok=True)
    spec = {
        "contender": contender,
        "base_url": emulator.base_url,
        "ca_bundle": emulator.ca_bundle,
        "partitions": [asdict(p) for p in partitions],
        "time_scale": emulator.model.time_scale,
        "workdir": str(workdir),
        "ours": ours or {},
    }
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    log_path = workdir / f"{contender}.log"
    started, started_epoch = time.perf_counter(), time.time()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.contenders", str(spec_path), str(result_path)],
            cwd=ROOT,
            env={**os.environ, **connection_env(emulator), "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            # Out of budget: stop the client, keep what the org has done so far.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return {
                "contender": contender,
                "completed": False,
                "wall_seconds": time.perf_counter() - started,
                "started_epoch": started_epoch,
            }
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"{contender} failed (exit {proc.returncode}):\n{tail}")
    return {"completed": True, **json.loads(result_path.read_text(encoding="utf-8"))}


def budget_for(prof: OrgProfile, rows: int, largest_parent: int, scale: float) -> float | None:
    """Real seconds a run may take before it is stopped (None: no limit, a zero-cost org)."""
    bound = prof.bound_seconds(rows, largest_parent)
    if bound is None or scale <= 0:
        return None
    return max(BUDGET_FACTOR * bound * scale, MIN_BUDGET_SECONDS)


def run_cells(
    cells: list[Cell],
    workdir: Path,
    *,
    smoke: bool,
    budget: float | None = None,
    say: Any = print,
) -> list[Run]:
    """Every cell, one emulator per (scenario, profile), a fresh reset and seed per run."""
    runs: list[Run] = []
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.scenario, cell.profile), []).append(cell)
    for (scenario, name), group in groups.items():
        prof = profile(name)
        model = OrgModel.of(prof, time_scale(scenario, smoke=smoke))
        with EmulatorProcess(model, workdir / f"emulator-{scenario}-{name}") as emulator:
            for rows in dict.fromkeys(c.rows for c in group):
                same_size = [c for c in group if c.rows == rows]
                data = DataSpec(rows, prof.accounts, skew=prof.skew)
                partitions: list[Partition] | None = None
                largest = 0
                for repeat in range(max(c.repeats for c in same_size)):
                    for cell in (c for c in same_size if repeat < c.repeats):
                        seed_seconds = emulator.reset_and_seed(data)
                        if partitions is None:
                            # Same seed, same rows: planned and measured once per size.
                            partitions, largest = plan(emulator), emulator.largest_parent()
                        run = _run_one(
                            emulator,
                            cell,
                            repeat,
                            partitions,
                            workdir,
                            (seed_seconds, largest),
                            budget,
                            say,
                        )
                        runs.append(run)
    return runs


def _run_one(
    emulator: EmulatorProcess,
    cell: Cell,
    repeat: int,
    partitions: list[Partition],
    workdir: Path,
    seeded: tuple[float, int],
    budget: float | None,
    say: Any,
) -> Run:
    """One run on a freshly seeded org; ``seeded`` = (seconds the seeding took, largest parent)."""
    prof = profile(cell.profile)
    seed_seconds, largest = seeded
    limit = budget or budget_for(prof, cell.rows, largest, emulator.model.time_scale)
    label = f"[{cell.scenario}/{cell.profile}] {cell.contender} on {cell.rows:,} rows"
    say(f"{label} (repeat {repeat + 1}/{cell.repeats}) …")
    folder = workdir / f"{cell.scenario}-{cell.profile}-{cell.rows}-{cell.contender}-{repeat}"
    before = emulator.counters()
    started = time.perf_counter()
    client = run_contender(
        emulator,
        cell.contender,
        partitions,
        folder,
        ours=_ours_overrides() if cell.contender == "ours" else None,
        budget=limit,
    )
    org = emulator.org_usage(since=before)
    # Every job's info, for timelines (worker use over time) after the run.
    (folder / "jobs.json").write_text(json.dumps(emulator.jobs()), encoding="utf-8")
    run = Run(
        cell.scenario,
        cell.profile,
        cell.contender,
        cell.rows,
        repeat,
        client,
        org,
        emulator.landed(),
        seed_seconds,
        largest,
        emulator.model.time_scale,
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    run.derived = derive(run, prof)
    if run.derived["completed"]:
        say(
            f"    wall {client['wall_seconds']:.1f}s, wall÷bound "
            f"{_num(run.derived.get('wall_over_bound'))}, cpu {_num(client.get('cpu_seconds'))}s, "
            f"peak RSS {_num(client.get('peak_rss_mb'))} MB, landed "
            f"{run.landed['opportunities']:,}/{run.landed['source_rows']:,}, lost "
            f"{run.landed['lost']:,}, dup {run.landed['duplicated']} "
            f"({time.perf_counter() - started:.0f}s)"
        )
    else:
        say(
            f"    NOT FINISHED: stopped at its {limit:.0f}s budget with "
            f"{run.derived['share_processed']:.1%} of the rows processed by the org"
        )
    return run


def _ours_overrides() -> dict[str, Any]:
    """Loader settings to try instead of the operator's defaults (``BENCH_OURS='{"max_in_flight": 8}'``).

    For experiments only: a published table is always made with the defaults, and the run's
    settings are recorded next to its numbers either way.
    """
    text = os.environ.get("BENCH_OURS", "").strip()
    return json.loads(text) if text else {}


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def default_out(*, smoke: bool) -> Path:
    """Where results go: ``bench/results``, or for a smoke run a git-ignored scratch folder, so
    tiny sizes never replace the committed results."""
    results = ROOT / "bench" / "results"
    return results / "tmp" / "smoke" if smoke else results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=("A", "B", "C", "all"))
    parser.add_argument("--profile", action="append", choices=sorted(PROFILES))
    parser.add_argument("--contender", action="append", choices=sorted(CONTENDERS))
    parser.add_argument("--rows", type=int, default=None, help="replace the planned sizes")
    parser.add_argument("--repeats", type=int, default=None, help="replace the planned repeats")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (correctness only)")
    parser.add_argument("--budget", type=float, default=None, help="real seconds per run")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default bench/results; smoke runs: bench/results/tmp/smoke, "
        "so they never replace the committed results)",
    )
    parser.add_argument("--list", action="store_true", help="print the cells and exit")
    parser.add_argument(
        "--fresh", action="store_true", help="start results.json afresh instead of merging"
    )
    args = parser.parse_args(argv)
    args.out = args.out or default_out(smoke=args.smoke)
    chosen = [s for s in (args.scenario or ["all"]) if s != "all"]
    cells = select(
        matrix(CONTENDERS, smoke=args.smoke),
        scenarios=chosen,
        profiles=args.profile or (),
        contenders=args.contender or (),
        rows=args.rows,
        repeats=args.repeats,
    )
    if not cells:
        parser.error("no cell of the matrix matches (see --list without filters)")
    if args.list:
        for cell in cells:
            print(f"{cell.scenario} {cell.profile} {cell.contender} {cell.rows:,} ×{cell.repeats}")
        return 0
    from bench.report import write_results

    started = time.perf_counter()
    runs: list[Run] = []
    for scenario in dict.fromkeys(c.scenario for c in cells):
        mine = [c for c in cells if c.scenario == scenario]
        runs += run_cells(mine, args.out / "tmp", smoke=args.smoke, budget=args.budget)
        # Written after every scenario, so a later failure does not lose the earlier ones.
        summary = write_results(runs, args.out, smoke=args.smoke, fresh=args.fresh)
    print(summary)
    print(f"total {time.perf_counter() - started:.0f}s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
