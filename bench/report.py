"""Results of the benchmark: results.json (every run), RESULTS.md, targets.json and the plots.

Why one module computes every ratio: the README quotes these files, so a claim such as "2×
faster than ss_sorted" must be a number computed from stored runs, next to its target, never
assembled by hand. Runs merge: a new run replaces only earlier runs of the same cell (scenario,
profile, contender, rows), so ``make bench-one`` refreshes one cell and the report is rebuilt from
everything stored. Headline columns come from completed runs only; a run that did not finish is
listed as such, with its projection in a marked footnote that states the share of rows it saw.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.profiles import B_PROFILES, PROFILES
from bench.targets import for_json, targets

if TYPE_CHECKING:
    from bench.runs import Run

#: Figures summarised per cell: median (the table) and min/max (the range) over completed runs.
FIELDS = (
    "wall_seconds",
    "cpu_seconds",
    "peak_rss_mb",
    "baseline_rss_mb",
    "cpu_us_per_record",
    "rows_per_second",
    "first_pass_success",
    "final_success",
    "lost",
    "duplicated",
    "api_requests_per_1m",
    "client_calls_per_1m",
    "bulk_batches_per_1m",
    "bulk_jobs_per_1m",
    "logins_per_1m",
    "token_exchanges_per_1m",
    "datacloud_queries_per_1m",
    "simulated_wall_seconds",
    "bound_seconds",
    "largest_parent",
    "wall_over_bound",
    "emulator_cpu_share_of_wall",
    "lock_wait_share_of_worker_time",
)
CELL = ("scenario", "profile", "contender", "rows")
ORDER = ("ours", "ss_sorted", "ss_naive", "simple_salesforce", "user_stack", "seed")


def record(run: Run) -> dict[str, Any]:
    """A run as stored in results.json (the client's per-partition detail kept apart)."""
    return {
        "scenario": run.scenario,
        "profile": run.profile,
        "contender": run.contender,
        "rows": run.rows,
        "repeat": run.repeat,
        "measured_at": run.measured_at,
        "time_scale": run.time_scale,
        "seed_seconds": run.seed_seconds,
        "client": {k: v for k, v in run.client.items() if k != "per_partition"},
        "per_partition": run.client.get("per_partition"),
        "org": run.org,
        "landed": run.landed,
        "derived": run.derived,
        "flat": {**run.client, **run.derived, "cpu_seconds": run.client.get("cpu_seconds")},
    }


def merge(previous: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier runs, minus those of a cell measured again, plus the new ones."""
    fresh = {tuple(r[k] for k in CELL) for r in new}
    return [r for r in previous if tuple(r[k] for k in CELL) not in fresh] + new


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: runs, completed runs, median/min/max of every figure over completed runs, and
    every not-finished run's stop time, share processed and projection (footnotes only)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[tuple(run[k] for k in CELL)].append(run)
    out = []
    for key, members in groups.items():
        done = [m["flat"] for m in members if m["derived"]["completed"]]
        row: dict[str, Any] = {
            **dict(zip(CELL, key, strict=True)),
            "runs": len(members),
            "completed_runs": len(done),
            "completed": len(done) == len(members),
            "measured_at": max(m["measured_at"] for m in members),
            "min": {},
            "max": {},
            "not_finished": [
                {
                    k: m["derived"][k]
                    for k in ("stopped_after_seconds", "share_processed", "projected_wall_seconds")
                }
                for m in members
                if not m["derived"]["completed"]
            ],
        }
        for name in FIELDS:
            values = [f[name] for f in done if f.get(name) is not None]
            row[name] = statistics.median(values) if values else None
            row["min"][name] = min(values) if values else None
            row["max"][name] = max(values) if values else None
        out.append(row)
    return sorted(
        out,
        key=lambda r: (
            r["scenario"],
            list(PROFILES).index(r["profile"]) if r["profile"] in PROFILES else len(PROFILES),
            r["profile"],
            r["rows"],
            ORDER.index(r["contender"]) if r["contender"] in ORDER else len(ORDER),
            r["contender"],
        ),
    )


# -- Markdown --------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ",.1f") -> str:
    return "–" if value is None else format(value, spec)


def _ranged(row: dict[str, Any], name: str, spec: str = ",.1f") -> str:
    """Median, with the range when the cell has more than one completed run."""
    text = _fmt(row[name], spec)
    if row["completed_runs"] > 1 and row[name] is not None:
        text += f" ({_fmt(row['min'][name], spec)}–{_fmt(row['max'][name], spec)})"
    return text


def _footnote(row: dict[str, Any]) -> str:
    parts = []
    for stop in row["not_finished"]:
        projected = stop["projected_wall_seconds"]
        parts.append(
            f"stopped after {stop['stopped_after_seconds']:,.0f} s with "
            f"{stop['share_processed']:.2%} of the rows processed by the org"
            + (
                f"; a linear projection from that share would be {projected:,.0f} s (not a "
                "measurement)"
                if projected is not None
                else ""
            )
        )
    return f"{row['contender']} on {row['profile']} at {row['rows']:,} rows: " + "; ".join(parts)


def _table(
    rows: list[dict[str, Any]],
    notes: list[str],
    columns: tuple[str, ...],
    cells: Callable[[dict[str, Any]], list[str]],
) -> list[str]:
    """A Markdown table of completed cells; a cell with an unfinished run gets no figures, only
    "not finished" and a footnote (added to ``notes``) with its share and marked projection."""
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for r in rows:
        head = [r["contender"], f"{r['rows']:,}", str(r["runs"])]
        if r["completed"]:
            body = cells(r)
        else:
            notes.append(_footnote(r))
            body = [f"not finished [^{len(notes)}]"] + ["–"] * (len(columns) - 4)
        lines.append("| " + " | ".join(head + body) + " |")
    return lines


B_COLUMNS = (
    "contender", "rows", "runs", "wall s, median (range)", "bound s", "wall ÷ bound",
    "× ours wall", "first pass", "final", "lost", "dup", "API calls/1M", "Bulk batches/1M",
    "Bulk jobs/1M", "logins/1M", "token exchanges/1M", "Data Cloud queries/1M",
    "lock wait share", "emulator CPU ÷ wall",
)  # fmt: skip
SIMPLE_COLUMNS = (
    "contender", "rows", "runs", "wall s", "client CPU s", "CPU µs/record", "peak RSS MB",
    "RSS after imports MB", "lost", "dup", "API calls/1M", "emulator CPU ÷ wall",
)  # fmt: skip


def _b_table(rows: list[dict[str, Any]], notes: list[str]) -> list[str]:
    ours = {r["rows"]: r for r in rows if r["contender"] == "ours" and r["completed"]}

    def cells(r: dict[str, Any]) -> list[str]:
        base = ours.get(r["rows"])
        ratio = r["wall_seconds"] / base["wall_seconds"] if base else None
        return [
            _ranged(r, "simulated_wall_seconds"),
            _fmt(r["bound_seconds"]),
            _ranged(r, "wall_over_bound", ".2f"),
            _fmt(ratio, ".2f"),
            _fmt(r["first_pass_success"], ".3%"),
            _fmt(r["final_success"], ".3%"),
            _fmt(r["max"]["lost"], ",.0f"),
            _fmt(r["max"]["duplicated"], ",.0f"),
            *(
                _fmt(r[name], ",.0f")
                for name in (
                    "api_requests_per_1m",
                    "bulk_batches_per_1m",
                    "bulk_jobs_per_1m",
                    "logins_per_1m",
                    "token_exchanges_per_1m",
                    "datacloud_queries_per_1m",
                )
            ),
            _fmt(r["lock_wait_share_of_worker_time"], ".1%"),
            _fmt(r["emulator_cpu_share_of_wall"], ".0%"),
        ]

    return _table(rows, notes, B_COLUMNS, cells)


def _simple_table(rows: list[dict[str, Any]], notes: list[str]) -> list[str]:
    def cells(r: dict[str, Any]) -> list[str]:
        return [
            _ranged(r, "wall_seconds"),
            _fmt(r["cpu_seconds"]),
            _fmt(r["cpu_us_per_record"]),
            _fmt(r["peak_rss_mb"], ".0f"),
            _fmt(r["baseline_rss_mb"], ".0f"),
            _fmt(r["max"]["lost"], ",.0f"),
            _fmt(r["max"]["duplicated"], ",.0f"),
            _fmt(r["api_requests_per_1m"], ",.0f"),
            _fmt(r["emulator_cpu_share_of_wall"], ".0%"),
        ]

    return _table(rows, notes, SIMPLE_COLUMNS, cells)


def markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]
    notes: list[str] = []
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `bench.compare` ({'smoke sizes: correctness only' if results['smoke'] else 'merged runs'}); "
        f"machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}. "
        "Every figure is computed from stored runs; per-1M figures divide what the emulator "
        "counted by the rows of completed runs. Profiles and the bound: `bench/README.md`.",
        "",
        "## Targets",
        "",
        "`met`: ✅ met, ❌ missed, ⏳ not measured yet (`targets.json` has the same rows).",
        "",
        "| scenario | profile | target | goal | measured | met |",
        "|---|---|---|---|---|---|",
    ]
    marks = {True: "✅", False: "❌", None: "⏳"}
    for t in results["targets"]:
        lines.append(
            f"| {t['scenario']} | {t['profile']} | {t['target']} | {t['goal']} | {t['shown']} "
            f"| {marks[t['met']]} |"
        )
    lines += ["", "## Profiles", "", "| profile | knobs | why |", "|---|---|---|"]
    lines += [f"| {p.name} | {p.describe()} | {p.why} |" for p in PROFILES.values()]
    titles = {
        "A": "A: client cost (zero_cost org)",
        "B": "B: org matrix (wall in simulated seconds)",
        "C": "C: memory at scale (zero_cost org, ours only)",
    }
    for scenario in ("A", "B", "C"):
        mine = [r for r in summary if r["scenario"] == scenario]
        if not mine:
            continue
        lines += ["", f"## {titles[scenario]}"]
        for name in dict.fromkeys(r["profile"] for r in mine):
            rows = [r for r in mine if r["profile"] == name]
            parent = max(rows, key=lambda r: r["rows"])["largest_parent"]
            lines += [
                "",
                f"### {name}",
                "",
                f"{PROFILES[name].describe()}. Measured {min(r['measured_at'] for r in rows)} to "
                f"{max(r['measured_at'] for r in rows)}"
                + (f"; largest parent at the largest size: {parent:,.0f} children." if parent else ".")
                ,
                "",
            ]  # fmt: skip
            lines += _b_table(rows, notes) if scenario == "B" else _simple_table(rows, notes)
    if notes:
        lines += ["", "## Not finished", ""]
        lines += [f"[^{i}]: {text}" for i, text in enumerate(notes, start=1)]
    lines.append("")
    return "\n".join(lines)


# -- writing -----------------------------------------------------------------------------------


def write_results(runs: list[Run], out: Path, *, smoke: bool, fresh: bool = False) -> str:
    """Merge ``runs`` into results.json (``fresh``: replace it), then rewrite RESULTS.md,
    targets.json and the plots."""
    from bench.plots import plots

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    previous: list[dict[str, Any]] = []
    if path.exists() and not fresh:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("smoke") == smoke and "runs" in stored:
            previous = stored["runs"]
    merged = merge(previous, [record(r) for r in runs])
    summary = summarise(merged)
    found = targets(summary, B_PROFILES)
    results = {
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "smoke": smoke,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "profiles": {name: asdict(p) for name, p in PROFILES.items()},
        "targets": found,
        "summary": summary,
        "runs": merged,
    }
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "targets.json").write_text(
        json.dumps(for_json(found), indent=2) + "\n", encoding="utf-8"
    )
    text = markdown(results)
    (out / "RESULTS.md").write_text(text, encoding="utf-8")
    plots(summary, out)
    return text
