"""Results of one benchmark run: JSON (every run, every number), Markdown tables, PNG plots.

Why one module computes every ratio and target: the README quotes these files, so a claim such
as "5× faster than simple-salesforce" must be a number computed from runs made in the same
invocation, next to its target, never assembled by hand. ``make bench-one`` replaces only its
scenario in the JSON; each scenario keeps the time it was measured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.compare import Run, Scenario

LABELS = {
    "ours": "ours",
    "simple_salesforce": "simple-salesforce bulk2",
    "seed": "seed method",
    "ours_processes": "ours, one process per partition",
}
#: How each of C's two rows runs the five partitions (the targets say which one they use).
C_MODES = {
    "ours": "5 partitions as threads of one process",
    "ours_processes": "one process per partition, all at once (as Airflow's mapped tasks); largest process",
}
MEDIAN_FIELDS = (
    "wall_seconds",
    "cpu_seconds",
    "peak_rss_mb",
    "baseline_rss_mb",
    "cpu_us_per_record",
    "rows_per_second",
    "first_pass_success",
    "final_success",
    "api_requests_per_1m",
    "client_calls_per_1m",
    "bulk_batches_per_1m",
    "bulk_jobs_per_1m",
    "simulated_wall_seconds",
    "bound_seconds",
    "wall_over_bound",
    "lost",
    "duplicated",
    "emulator_cpu_share_of_wall",
    "lock_wait_share_of_worker_time",
)


def _flat(run: Run) -> dict[str, Any]:
    return {
        **run.client,
        **run.derived,
        "duplicated": run.landed["duplicated"],
        "opportunities": run.landed["opportunities"],
        "source_rows": run.landed["source_rows"],
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median of every figure per (contender, rows) across repeats; ``repeats`` says how many."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["contender"], run["rows"])].append(run["flat"])
    out = []
    for (contender, rows), flats in groups.items():
        row: dict[str, Any] = {
            "contender": contender,
            "rows": rows,
            "repeats": len(flats),
            "completed": all(f.get("completed", True) for f in flats),
        }
        for name in MEDIAN_FIELDS:
            values = [f[name] for f in flats if f.get(name) is not None]
            row[name] = statistics.median(values) if values else None
        out.append(row)
    return out


def _pick(summary: list[dict[str, Any]], contender: str, rows: int | None = None) -> dict | None:
    for row in summary:
        if row["contender"] == contender and (rows is None or row["rows"] == rows):
            return row
    return None


def targets(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 7's targets for ours, each with its measured value and whether it is met."""
    found: list[dict[str, Any]] = []

    def add(scenario: str, name: str, goal: str, value: Any, met: bool | None, shown: str) -> None:
        found.append(
            {
                "scenario": scenario,
                "target": name,
                "goal": goal,
                "measured": value,
                "shown": shown,
                "met": met,
            }
        )

    b = scenarios.get("B")
    if b:
        s = b["summary"]
        ours, ssf, seed = _pick(s, "ours"), _pick(s, "simple_salesforce"), _pick(s, "seed")
        if ours:
            add(
                "B",
                "final success",
                "100.000 %",
                ours["final_success"],
                ours["final_success"] == 1.0,
                f"{ours['final_success']:.3%}",
            )
            add("B", "lost records", "0", ours["lost"], ours["lost"] == 0, f"{ours['lost']:,}")
            add(
                "B",
                "duplicated records",
                "0",
                ours["duplicated"],
                ours["duplicated"] == 0,
                f"{ours['duplicated']:,}",
            )
            wob = ours.get("wall_over_bound")
            if wob is not None:
                add("B", "wall ÷ capacity bound", "≤ 1.25", wob, wob <= 1.25, f"{wob:.2f}")
            for other, goal in ((ssf, 5.0), (seed, 20.0)):
                if other:
                    ratio = other["wall_seconds"] / ours["wall_seconds"]
                    add(
                        "B",
                        f"faster than {LABELS[other['contender']]}",
                        f"≥ {goal:g}×",
                        ratio,
                        ratio >= goal,
                        f"{ratio:.2f}×",
                    )
            api = ours["api_requests_per_1m"]
            add("B", "API calls per 1M rows (org count)", "≤ 300", api, api <= 300, f"{api:.0f}")
            batches = ours["bulk_batches_per_1m"]
            add("B", "Bulk batches per 1M rows", "≤ 110", batches, batches <= 110, f"{batches:.0f}")
    a = scenarios.get("A")
    if a:
        ours, ssf = _pick(a["summary"], "ours"), _pick(a["summary"], "simple_salesforce")
        if ours and ssf:
            ratio = ours["cpu_us_per_record"] / ssf["cpu_us_per_record"]
            add(
                "A",
                "client CPU/record vs simple-salesforce",
                "≤ 0.333",
                ratio,
                ratio <= 1 / 3,
                f"{ratio:.3f} ({ours['cpu_us_per_record']:.1f} vs "
                f"{ssf['cpu_us_per_record']:.1f} µs)",
            )
    c = scenarios.get("C")
    if c:
        for contender, how in (
            ("ours", "5 partitions in one process"),
            ("ours_processes", "largest of 5 per-partition processes"),
        ):
            top_rows = sorted(
                (r for r in c["summary"] if r["contender"] == contender), key=lambda r: r["rows"]
            )
            if top_rows:
                top = top_rows[-1]
                add(
                    "C",
                    f"peak RSS at {top['rows']:,} rows ({how})",
                    "≤ 250 MB",
                    top["peak_rss_mb"],
                    top["peak_rss_mb"] <= 250,
                    f"{top['peak_rss_mb']:.0f} MB",
                )
        rows = sorted(
            (r for r in c["summary"] if r["contender"] == "ours"), key=lambda r: r["rows"]
        )
        if rows:
            top, low = rows[-1], rows[0]
            if len(rows) > 1:
                growth = top["peak_rss_mb"] / low["peak_rss_mb"] - 1
                add(
                    "C",
                    f"peak RSS growth {low['rows']:,} → {top['rows']:,}",
                    "≤ 10 %",
                    growth,
                    growth <= 0.10,
                    f"{growth:+.1%}",
                )
    return found


# -- Markdown --------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ",.1f") -> str:
    if value is None:
        return "–"
    return format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results (issue 7)",
        "",
        f"Generated by `make bench` ({'smoke sizes' if results['smoke'] else 'full sizes'}); "
        f"machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}. "
        "Every ratio below is computed from runs of the same invocation. Plots: `*.png` here.",
        "",
        "## Targets (ours)",
        "",
        "| scenario | target | goal | measured | met |",
        "|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        met = "✅" if t["met"] else "❌"
        lines.append(f"| {t['scenario']} | {t['target']} | {t['goal']} | {t['shown']} | {met} |")
    order = {"ours": 0, "simple_salesforce": 1, "seed": 2, "ours_processes": 3}
    for name in ("A", "B", "C"):
        scenario = results["scenarios"].get(name)
        if not scenario:
            continue
        model = scenario["model"]
        lines += ["", f"## {name}: {scenario['title']}", ""]
        lines.append(
            f"Measured {scenario['generated_at']}. Org model: {model['workers']} workers, "
            f"{model['records_per_second_per_worker']:g} rec/s/worker, lock wait "
            f"{model['lock_wait_seconds']:g} s, latency {model['latency_seconds'] * 1000:g} ms, "
            f"time scale {model['time_scale']:g}. Data: "
            + "; ".join(
                f"{d['rows']:,} rows over {d['accounts']:,} Accounts (Zipf skew {d['skew']:g})"
                for d in scenario["data"]
            )
            + "."
        )
        lines.append("")
        summary = sorted(scenario["summary"], key=lambda r: (r["rows"], order[r["contender"]]))
        ours_by_rows = {r["rows"]: r for r in summary if r["contender"] == "ours"}
        if name == "A":
            lines += [
                "| contender | rows | repeats | wall s | client CPU s | CPU µs/record | × ours CPU | peak RSS MB | emulator CPU ÷ wall |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for r in summary:
                base = ours_by_rows.get(r["rows"])
                ratio = r["cpu_us_per_record"] / base["cpu_us_per_record"] if base else None
                lines.append(
                    f"| {LABELS[r['contender']]} | {r['rows']:,} | {r['repeats']} | "
                    f"{_fmt(r['wall_seconds'])} | {_fmt(r['cpu_seconds'])} | "
                    f"{_fmt(r['cpu_us_per_record'])} | {_fmt(ratio, '.2f')} | "
                    f"{_fmt(r['peak_rss_mb'], '.0f')} | {_fmt(r['emulator_cpu_share_of_wall'], '.0%')} |"
                )
        elif name == "B":
            lines += [
                "| contender | wall s (real) | wall s (simulated) | bound s | wall ÷ bound | × ours wall | first pass | final | lost | dup | API calls/1M (org) | client calls/1M | Bulk batches/1M | Bulk jobs/1M | worker time waiting on locks | emulator CPU ÷ wall |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in summary:
                base = ours_by_rows.get(r["rows"])
                ratio = r["wall_seconds"] / base["wall_seconds"] if base else None
                mark = "" if r["completed"] else " (projected)"
                lines.append(
                    f"| {LABELS[r['contender']]}{mark} | {_fmt(r['wall_seconds'])} | "
                    f"{_fmt(r['simulated_wall_seconds'])} | {_fmt(r['bound_seconds'])} | "
                    f"{_fmt(r['wall_over_bound'], '.2f')} | {_fmt(ratio, '.2f')} | "
                    f"{r['first_pass_success']:.3%} | {r['final_success']:.3%} | "
                    f"{r['lost']:,} | {r['duplicated']:,} | {_fmt(r['api_requests_per_1m'], ',.0f')} | "
                    f"{_fmt(r['client_calls_per_1m'], ',.0f')} | "
                    f"{_fmt(r['bulk_batches_per_1m'], ',.0f')} | {_fmt(r['bulk_jobs_per_1m'], ',.0f')} | "
                    f"{_fmt(r['lock_wait_share_of_worker_time'], '.1%')} | "
                    f"{_fmt(r['emulator_cpu_share_of_wall'], '.0%')} |"
                )
        else:
            lines += [
                "| rows | how | wall s | rows/s | client CPU s | peak RSS MB | RSS after imports MB | lost | dup |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for r in summary:
                how = C_MODES.get(r["contender"], LABELS.get(r["contender"], r["contender"]))
                lines.append(
                    f"| {r['rows']:,} | {how} | {_fmt(r['wall_seconds'])} | {_fmt(r['rows_per_second'], ',.0f')} | "
                    f"{_fmt(r['cpu_seconds'])} | {_fmt(r['peak_rss_mb'], '.0f')} | "
                    f"{_fmt(r['baseline_rss_mb'], '.0f')} | {r['lost']:,} | {r['duplicated']:,} |"
                )
    lines.append("")
    return "\n".join(lines)


# -- plots -----------------------------------------------------------------------------------------


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    """One PNG per scenario (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    order = ["ours", "simple_salesforce", "seed"]
    colours = {"ours": "#2a7ab0", "simple_salesforce": "#e08a2c", "seed": "#9a9a9a"}

    def bars(ax: Any, rows: list[dict[str, Any]], field: str, title: str, unit: str) -> None:
        rows = [r for c in order for r in rows if r["contender"] == c and r.get(field) is not None]
        names = [
            LABELS[r["contender"]] + ("" if r.get("completed", True) else "\n(projected)")
            for r in rows
        ]
        values = [r[field] for r in rows]
        drawn = ax.bar(names, values, color=[colours[r["contender"]] for r in rows])
        ax.bar_label(drawn, labels=[f"{v:,.1f}" for v in values])
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=10)

    a = results["scenarios"].get("A")
    if a:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        bars(axes[0], a["summary"], "cpu_us_per_record", "A: client CPU per record", "µs")
        bars(axes[1], a["summary"], "wall_seconds", "A: wall (zero-cost org)", "s")
        fig.tight_layout()
        written.append(out / "a_client_cost.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    b = results["scenarios"].get("B")
    if b:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        bars(axes[0], b["summary"], "simulated_wall_seconds", "B: wall (simulated s)", "s")
        bound = next((r["bound_seconds"] for r in b["summary"] if r.get("bound_seconds")), None)
        if bound:
            axes[0].axhline(
                bound, color="black", linestyle="--", label=f"capacity bound {bound:.0f} s"
            )
            axes[0].axhline(1.25 * bound, color="red", linestyle=":", label="1.25 × bound")
            axes[0].legend()
            # Log scale: ours and the bound must stay readable next to hour-long projections.
            axes[0].set_yscale("log")
        for field, ax, title in (
            ("first_pass_success", axes[1], "B: first-pass success"),
            ("final_success", axes[2], "B: final success"),
        ):
            scaled = [{**r, field: r[field] * 100} for r in b["summary"]]
            bars(ax, scaled, field, title, "%")
            ax.set_ylim(0, 105)
        fig.tight_layout()
        written.append(out / "b_realistic_org.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    c = results["scenarios"].get("C")
    if c:
        rows = sorted(
            (r for r in c["summary"] if r["contender"] == "ours"), key=lambda r: r["rows"]
        )
        xs = [r["rows"] / 1e6 for r in rows]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        axes[0].plot(xs, [r["wall_seconds"] for r in rows], marker="o", color=colours["ours"])
        axes[0].set_title("C: ours, wall vs rows")
        axes[0].set_xlabel("rows (millions)")
        axes[0].set_ylabel("s")
        axes[1].plot(
            xs, [r["peak_rss_mb"] for r in rows], marker="o", label="peak RSS, one process"
        )
        per_process = sorted(
            (r for r in c["summary"] if r["contender"] == "ours_processes"),
            key=lambda r: r["rows"],
        )
        if per_process:
            axes[1].plot(
                [r["rows"] / 1e6 for r in per_process],
                [r["peak_rss_mb"] for r in per_process],
                marker="s",
                label="peak RSS, largest per-partition process",
            )
        axes[1].plot(
            xs, [r["baseline_rss_mb"] for r in rows], marker=".", label="RSS after imports"
        )
        axes[1].axhline(250, color="red", linestyle=":", label="target 250 MB")
        axes[1].set_ylim(0, max(300, *(r["peak_rss_mb"] * 1.1 for r in rows + per_process)))
        axes[1].set_title("C: ours, peak RSS of the load process")
        axes[1].set_xlabel("rows (millions)")
        axes[1].set_ylabel("MB")
        axes[1].legend()
        fig.tight_layout()
        written.append(out / "c_scale.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


# -- writing -----------------------------------------------------------------------------------


def write_results(
    runs: list[Run], scenarios: dict[str, Scenario], out: Path, *, smoke: bool
) -> str:
    """Merge this invocation's scenarios into results.json, then rewrite RESULTS.md and plots."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    previous: dict[str, Any] = {}
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous.get("smoke") != smoke:
            previous = {}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    merged: dict[str, Any] = dict(previous.get("scenarios", {}))
    for name, scenario in scenarios.items():
        mine = [
            {
                "contender": r.contender,
                "rows": r.rows,
                "repeat": r.repeat,
                "seed_seconds": r.seed_seconds,
                "client": {k: v for k, v in r.client.items() if k != "per_partition"},
                "per_partition": r.client.get("per_partition"),
                "org": r.org,
                "landed": r.landed,
                "derived": r.derived,
                "flat": _flat(r),
            }
            for r in runs
            if r.scenario == name
        ]
        merged[name] = {
            "title": scenario.title,
            "generated_at": now,
            "model": asdict(scenario.model),
            "data": [asdict(d) for d in scenario.data],
            "runs": mine,
            "summary": summarise(mine),
        }
    results = {
        "generated_at": now,
        "smoke": smoke,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "scenarios": merged,
    }
    results["targets"] = targets(merged)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    text = markdown(results)
    (out / "RESULTS.md").write_text(text, encoding="utf-8")
    plots(results, out)
    return text
