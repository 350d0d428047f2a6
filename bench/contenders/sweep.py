"""Run contenders (with optional settings) on scenario B's org model at a size of your choice.

How the numbers in bench/README.md's "Contenders at small scale" were made, and how
``ss_sorted``'s batch size was chosen: every run on a freshly reset and seeded emulator, the
same five partitions from the product's planner, each contender in its own child process, to
completion (no budget), counted by the org.

    .venv/bin/python -m bench.contenders.sweep --rows 100000 \\
        --run ours --run ss_sorted --run ss_sorted:batch_size=10000 --run ss_naive

``--run NAME[:key=value,...]``: values are JSON (``batch_size=null`` is no split). Prints one
line per run and writes every figure to ``bench/results/tmp/sweep-<rows>[-<tag>]/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.compare import connection_env, plan  # noqa: E402
from bench.contenders import CONTENDERS, ContenderSpec, child  # noqa: E402
from bench.emulator_process import DataSpec, EmulatorProcess, OrgModel  # noqa: E402
from bench.profiles import profile  # noqa: E402


def b_model(time_scale: float) -> OrgModel:
    """Scenario B's control profile (``tuned``, the harness's own, so the two never drift)."""
    return OrgModel.of(profile("tuned"), time_scale)


def parse_run(text: str) -> tuple[str, dict[str, Any]]:
    """``ss_sorted:batch_size=10000`` → ("ss_sorted", {"batch_size": 10000})."""
    name, _, rest = text.partition(":")
    if name not in CONTENDERS:
        raise argparse.ArgumentTypeError(f"unknown contender {name!r}; one of {list(CONTENDERS)}")
    settings = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        settings[key] = json.loads(value)
    return name, settings


def figures(
    rows: int, model: OrgModel, client: dict[str, Any], org: dict[str, Any], landed: dict[str, int]
) -> dict[str, Any]:
    """What a run cost, per 1M source rows where it is a count; wall against the capacity bound.

    The capacity part of the profile's bound only (the sweep does not measure the largest parent:
    ``bench.compare`` reports the skew-aware bound).
    """
    bound = profile("tuned").bound_seconds(rows, largest_parent=0)
    simulated = client["wall_seconds"] / model.time_scale if model.time_scale else None
    per_1m = 1e6 / rows
    return {
        "wall_s": round(client["wall_seconds"], 1),
        "simulated_wall_s": None if simulated is None else round(simulated, 1),
        "wall_over_bound": None
        if bound is None or simulated is None
        else round(simulated / bound, 2),
        "success_pct": round(100 * landed["opportunities"] / rows, 3),
        "lost": landed["lost"],
        "duplicated": landed["duplicated"],
        "api_calls_per_1m": round(org["api_requests"] * per_1m),
        "bulk_batches_per_1m": round(org["bulk_batches"] * per_1m),
        "bulk_jobs_per_1m": round(org["bulk_jobs"] * per_1m),
        "cpu_us_per_record": round(client["cpu_seconds"] / rows * 1e6, 1),
        "peak_rss_mb": round(client["peak_rss_mb"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--skew", type=float, default=1.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--run", action="append", type=parse_run, required=True)
    parser.add_argument("--tag", default="", help="suffix of the scratch folder (parallel sweeps)")
    args = parser.parse_args(argv)
    model = b_model(args.time_scale)
    data = DataSpec(args.rows, args.accounts, skew=args.skew)
    workdir = (
        ROOT
        / "bench"
        / "results"
        / "tmp"
        / "-".join(filter(None, ("sweep", str(args.rows), args.tag)))
    )
    out: list[dict[str, Any]] = []
    with EmulatorProcess(model, workdir / "emulator") as emulator:
        env = {**os.environ, **connection_env(emulator), "PYTHONPATH": str(ROOT)}
        partitions = None
        for index, (name, settings) in enumerate(args.run):
            emulator.reset_and_seed(data)
            partitions = partitions or plan(emulator)
            spec = ContenderSpec(
                contender=name,
                base_url=emulator.base_url,
                ca_bundle=emulator.ca_bundle,
                partitions=partitions,
                time_scale=model.time_scale,
                workdir=str(workdir / f"{index}-{name}"),
                ours=settings if name == "ours" else {},
                settings={} if name == "ours" else settings,
            )
            started = time.perf_counter()
            client = child.start(spec, Path(spec.workdir), env).result()
            row = {
                "contender": name,
                "settings": settings,
                **figures(args.rows, model, client, emulator.org_usage(), emulator.landed()),
                "client": client,
            }
            out.append(row)
            shown = {k: v for k, v in row.items() if k != "client"}
            print(json.dumps(shown), f"({time.perf_counter() - started:.0f}s)", flush=True)
    (workdir / "sweep.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
