"""``python -m bench.contenders SPEC.json RESULT.json``: run one contender, write its result."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from bench.contenders import ContenderSpec, contender
from bench.contenders.measure import cpu_seconds, current_rss_mb, peak_rss_mb
from bench.contenders.reader import hooks


def main(spec_path: str, result_path: str) -> None:
    spec = ContenderSpec.from_json(Path(spec_path).read_text(encoding="utf-8"))
    chosen = contender(spec.contender)
    # Imports (Airflow, hooks, each client's libraries) happen before the clock starts: they are
    # not the load's cost. RSS after them is the baseline.
    hooks()
    for module in chosen.imports:
        importlib.import_module(module)
    baseline_rss = current_rss_mb()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    outcome = chosen.run(spec)
    wall = time.perf_counter() - wall0
    result = {
        "contender": spec.contender,
        "wall_seconds": wall,
        "cpu_seconds": cpu_seconds() - cpu0,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline_rss,
        **outcome,
    }
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
