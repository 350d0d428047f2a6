"""Wall-clock cost of deferrable mode vs a blocking load, in a real Airflow (issue 4, item 9).

Both runs load the same rows through the same DAG on identical emulators (same seed), with the emulator's processing time scaled so that Bulk jobs take real seconds (there is
something to wait for). In blocking mode the load task polls Salesforce itself and holds its
worker slot; in deferrable mode every wait goes to the triggerer and the task comes back to a
worker when a job finishes. The difference is the price of the hand-offs (trigger start, event,
re-queue, worker start, loader rebuild): it is what a deployment pays for freeing the slots.

    .venv/bin/python -m bench.deferrable_cost [--rows 20000] [--partitions 2] [--time-scale 0.05]

Writes bench/results/deferrable_cost.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from devstack.airflow_stack import AirflowStack
from devstack.emulator_process import EmulatorProcess

DAG_ID = "datacloud_to_salesforce"
RESULTS = Path(__file__).resolve().parent / "results"


def _run(stack: AirflowStack, conf: dict[str, Any], timeout: float) -> dict[str, Any]:
    client = stack.client
    run = client.trigger(DAG_ID, conf)
    started = time.monotonic()
    final = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=timeout)
    wall = time.monotonic() - started
    loads = client.mapped_task_instances(DAG_ID, run["dag_run_id"], "partition.load")
    summaries = [
        client.xcom(DAG_ID, run["dag_run_id"], "partition.load", map_index=ti["map_index"]) or {}
        for ti in loads
    ]
    return {
        "state": final["state"],
        "wall_seconds": round(wall, 1),
        "load_task_seconds": round(sum(float(ti.get("duration") or 0) for ti in loads), 1),
        "deferrals": sum(int(s.get("deferrals", 0)) for s in summaries),
        "succeeded": sum(int(s.get("succeeded", 0)) for s in summaries),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deferrable_cost")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--defer-after", type=float, default=60.0, help="the DAG's defer_after_seconds"
    )
    args = parser.parse_args(argv)
    base = {
        "partitions": args.partitions,
        "stagger_minutes": 0,
        "records_per_job": 2_000,
        "max_in_flight": 2,
        "page_size": 2_000,
    }
    results: dict[str, Any] = {
        "rows": args.rows,
        "partitions": args.partitions,
        "time_scale": args.time_scale,
    }
    for mode in ("blocking", "deferrable"):
        # A fresh emulator per mode: the same seed gives the same rows and an empty org.
        with (
            EmulatorProcess(
                rows=args.rows, accounts=args.accounts, time_scale=args.time_scale
            ) as emulator,
            AirflowStack(
                emulator_url=emulator.base_url, emulator_ca=emulator.ca_bundle, dag_ids=[DAG_ID]
            ) as stack,
        ):
            conf = {
                **base,
                "deferrable": "yes" if mode == "deferrable" else "no",
                "defer_after_seconds": args.defer_after,
            }
            results[mode] = _run(stack, conf, args.timeout)
            results[mode]["org_opportunities"] = emulator.counts()["tables"].get("Opportunity")
    blocking, deferrable = results["blocking"], results["deferrable"]
    results["wall_ratio"] = round(deferrable["wall_seconds"] / blocking["wall_seconds"], 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deferrable_cost.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| mode | state | wall (s) | load task time (s) | deferrals | rows loaded |")
    print("|---|---|---|---|---|---|")
    for mode in ("blocking", "deferrable"):
        r = results[mode]
        print(
            f"| {mode} | {r['state']} | {r['wall_seconds']} | {r['load_task_seconds']} | {r['deferrals']} | {r['succeeded']:,} |"
        )
    print(f"\nDeferrable wall / blocking wall: {results['wall_ratio']}")
    return 0 if blocking["state"] == deferrable["state"] == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
