"""Profile one contender's client process with pyinstrument, on scenario A's zero-cost org.

Why: scenario A's target is a CPU ratio; this shows where each client's CPU goes (reading and
decoding Data Cloud pages, mapping, CSV, HTTP) so the README can say what limits it.

    .venv/bin/python -m bench.profile_contender --contender ours --rows 100000
    .venv/bin/python -m bench.profile_contender --contender ss_sorted --rows 100000

Writes ``bench/results/tmp/profile-<contender>.txt`` (pyinstrument's text report). The load
runs as one partition in the main thread: pyinstrument samples only that thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.compare import connection_env  # noqa: E402
from bench.contenders import CONTENDERS, Partition  # noqa: E402
from bench.emulator_process import DataSpec, EmulatorProcess, OrgModel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=sorted(CONTENDERS), default="ours")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    workdir = ROOT / "bench" / "results" / "tmp" / f"profile-{args.contender}"
    workdir.mkdir(parents=True, exist_ok=True)
    with EmulatorProcess(OrgModel(), workdir / "emulator") as emulator:
        emulator.reset_and_seed(DataSpec(args.rows, 20_000, skew=1.0))
        spec = {
            "contender": args.contender,
            "base_url": emulator.base_url,
            "ca_bundle": emulator.ca_bundle,
            # One partition over every key: run in the main thread, which pyinstrument samples.
            "partitions": [asdict(Partition(0, None, None))],
            "time_scale": 0.0,
            "workdir": str(workdir),
        }
        spec_path = workdir / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        report = ROOT / "bench" / "results" / "tmp" / f"profile-{args.contender}.txt"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pyinstrument",
                "-o",
                str(report),
                "-m",
                "bench.contenders",
                str(spec_path),
                str(workdir / "result.json"),
            ],
            cwd=ROOT,
            env={**os.environ, **connection_env(emulator), "PYTHONPATH": str(ROOT)},
            check=True,
        )
    print(report.read_text(encoding="utf-8")[:6000])


if __name__ == "__main__":
    main()
