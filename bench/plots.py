"""The report's plots (matplotlib, headless), drawn from the summary of completed runs only.

* ``b_wall_over_bound.png``: wall ÷ bound per profile per contender, one panel per profile,
  grouped by size, with the range of repeats as error bars and the 1.25 target.
* ``b_api_calls.png``: API calls per 1M rows per profile per contender (log scale).
* ``a_client_cost.png``: client CPU per record per contender (zero-cost org).
* ``c_rss.png``: peak RSS against rows up to 10M, ours both ways, with the 250 MB target.

A cell that did not finish has no bar (the tables say why); nothing here is projected.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.profiles import B_PROFILES

#: Values spanning more than this factor in one panel get a log axis.
LOG_SPAN = 20.0
PALETTE = ("#2a7ab0", "#e08a2c", "#5aa469", "#c0504d", "#8064a2", "#9a9a9a")


def _colours(contenders: list[str]) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(contenders)}


def _panels(
    plt: Any,
    summary: list[dict[str, Any]],
    field: str,
    title: str,
    *,
    target: float | None = None,
    log: bool = False,
) -> Any:
    """One panel per B profile that has runs; bars per contender, grouped by rows.

    ``log``: a log axis where a panel's values span more than :data:`LOG_SPAN`× (a weak
    baseline next to ours); otherwise linear from zero, so bar heights compare directly.
    """
    from matplotlib.ticker import ScalarFormatter

    done = [r for r in summary if r["scenario"] == "B" and r["completed"] and r[field] is not None]
    names = [p.name for p in B_PROFILES if any(r["profile"] == p.name for r in done)]
    if not names:
        return None
    contenders = list(dict.fromkeys(r["contender"] for r in done))
    colours = _colours(contenders)
    cols = min(len(names), 4)
    fig, axes = plt.subplots(
        math.ceil(len(names) / cols), cols, figsize=(4.2 * cols, 3.6 * math.ceil(len(names) / cols))
    )
    flat = list(getattr(axes, "flat", [axes]))
    width = 0.8 / len(contenders)
    for ax, name in zip(flat, names, strict=False):
        mine = [r for r in done if r["profile"] == name]
        sizes = sorted({r["rows"] for r in mine})
        for i, contender in enumerate(contenders):
            rows = {r["rows"]: r for r in mine if r["contender"] == contender}
            xs = [j + i * width for j, size in enumerate(sizes) if size in rows]
            values = [rows[s][field] for s in sizes if s in rows]
            spread = [
                [rows[s][field] - rows[s]["min"][field] for s in sizes if s in rows],
                [rows[s]["max"][field] - rows[s][field] for s in sizes if s in rows],
            ]
            if xs:
                bars = ax.bar(
                    xs, values, width, yerr=spread, color=colours[contender], label=contender
                )
                ax.bar_label(bars, labels=[f"{v:,.3g}" for v in values], fontsize=7)
        ax.set_xticks([j + width * (len(contenders) - 1) / 2 for j in range(len(sizes))])
        ax.set_xticklabels([f"{s:,}" for s in sizes], fontsize=8)
        ax.set_title(name, fontsize=10)
        if target is not None:
            ax.axhline(target, color="red", linestyle=":")
        shown = [r[field] for r in mine if r[field] > 0]
        if log and shown and max(shown) / min(shown) > LOG_SPAN:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
    for ax in flat[len(names) :]:
        ax.set_visible(False)
    flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plots(summary: list[dict[str, Any]], out: Path) -> list[Path]:
    """Every plot the data allows; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        if fig is None:
            return
        written.append(out / name)
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)

    save(
        _panels(
            plt,
            summary,
            "wall_over_bound",
            "B: wall ÷ skew-aware bound (median, range of repeats; red: 1.25)",
            target=1.25,
            log=True,
        ),
        "b_wall_over_bound.png",
    )
    save(
        _panels(
            plt, summary, "api_requests_per_1m", "B: API calls per 1M rows (org count)", log=True
        ),
        "b_api_calls.png",
    )
    a = [r for r in summary if r["scenario"] == "A" and r["completed"] and r["cpu_us_per_record"]]
    if a:
        fig, ax = plt.subplots(figsize=(7, 4))
        colours = _colours([r["contender"] for r in a])
        ax.bar(
            [f"{r['contender']}\n{r['rows']:,}" for r in a],
            [r["cpu_us_per_record"] for r in a],
            color=[colours[r["contender"]] for r in a],
        )
        ax.set_ylabel("client CPU µs per record")
        ax.set_title("A: client CPU per record (zero-cost org)")
        fig.tight_layout()
        save(fig, "a_client_cost.png")
    c = [r for r in summary if r["scenario"] == "C" and r["completed"] and r["peak_rss_mb"]]
    if c:
        fig, ax = plt.subplots(figsize=(7, 4))
        for contender, marker in (("ours", "o"), ("ours_processes", "s"), ("airflow_task", "^")):
            rows = sorted((r for r in c if r["contender"] == contender), key=lambda r: r["rows"])
            if rows:
                ax.plot(
                    [r["rows"] / 1e6 for r in rows],
                    [r["peak_rss_mb"] for r in rows],
                    marker=marker,
                    label=f"{contender}: peak RSS",
                )
        ax.axhline(250, color="red", linestyle=":", label="target 250 MB")
        ax.set_ylim(0, max(300, *(r["peak_rss_mb"] * 1.1 for r in c)))
        ax.set_xlabel("rows (millions)")
        ax.set_ylabel("MB")
        ax.set_title("C: peak RSS against rows")
        ax.legend(fontsize=8)
        fig.tight_layout()
        save(fig, "c_rss.png")
    return written
