"""The targets every profile must reach, each with its measured value and whether it is met.

Why every target is listed for every profile even when its cell has not run: ``targets.json`` is
what a script checks, and a missing measurement must show up as ``"met": null`` rather than
vanish. ``met`` is ``true``/``false`` for a measured target, ``null`` for one not measured yet.
Each entry is ``{"scenario", "profile", "target", "goal", "measured", "met"}``; ``shown`` (the
human form of ``measured``) is added for RESULTS.md and dropped from ``targets.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.profiles import B_PROFILES, ZERO_COST, OrgProfile

Summary = list[dict[str, Any]]
#: Rows from which peak RSS must stay flat, and the size the 250 MB limit is checked at.
RSS_FLAT_FROM, RSS_AT = 1_000_000, 2_000_000
RSS_LIMIT_MB = 250.0
TARGET_KEYS = ("scenario", "profile", "target", "goal", "measured", "met")


def _rows(summary: Summary, scenario: str, prof: str, contender: str) -> list[dict[str, Any]]:
    return sorted(
        (
            r
            for r in summary
            if (r["scenario"], r["profile"], r["contender"]) == (scenario, prof, contender)
        ),
        key=lambda r: r["rows"],
    )


def _entry(
    scenario: str,
    prof: str,
    target: str,
    goal: str,
    measured: float | None,
    check: Callable[[float], bool],
    fmt: Callable[[float], str],
    why_missing: str = "not run yet",
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "profile": prof,
        "target": target,
        "goal": goal,
        "measured": measured,
        "met": None if measured is None else bool(check(measured)),
        "shown": why_missing if measured is None else fmt(measured),
    }


def _correctness(summary: Summary, scenario: str, prof: str, contenders: tuple[str, ...]) -> list:
    """Success, lost, duplicated: the worst run of ours (any size, any repeat) in the profile."""
    rows = [r for c in contenders for r in _rows(summary, scenario, prof, c)]
    unfinished = any(r["runs"] > r["completed_runs"] for r in rows)
    done = [r for r in rows if r["completed_runs"]]
    missing = "ours did not finish" if unfinished else "not run yet"

    def worst(field: str, pick: str) -> float | None:
        if unfinished or not done:
            return None
        return (min if pick == "min" else max)(r[pick][field] for r in done)

    out = [
        _entry(
            scenario,
            prof,
            "final success",
            "100.000 %",
            worst("final_success", "min"),
            lambda v: v == 1.0,
            lambda v: f"{v:.3%}",
            missing,
        ),
        _entry(
            scenario, prof, "lost records", "0", worst("lost", "max"), lambda v: v == 0,
            lambda v: f"{v:,.0f}", missing,
        ),
        _entry(
            scenario, prof, "duplicated records", "0", worst("duplicated", "max"),
            lambda v: v == 0, lambda v: f"{v:,.0f}", missing,
        ),
    ]  # fmt: skip
    if unfinished:
        for entry in out:
            entry["met"] = False
    return out


def _missing_pair(summary: Summary, scenario: str, prof: str, other: str) -> str:
    """Why ours has no comparison with ``other`` here."""
    ran = {r["contender"] for r in summary if (r["scenario"], r["profile"]) == (scenario, prof)}
    absent = [c for c in ("ours", other) if c not in ran]
    if absent:
        return f"{' and '.join(absent)} not run yet"
    return f"ours and {other} have no completed size in common"


def _common(summary: Summary, prof: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(ours, ss_sorted) at every size both completed, smallest first."""
    ss = {r["rows"]: r for r in _rows(summary, "B", prof, "ss_sorted") if r["completed"]}
    return [
        (r, ss[r["rows"]])
        for r in _rows(summary, "B", prof, "ours")
        if r["completed"] and r["rows"] in ss
    ]


def _b_targets(summary: Summary, prof: OrgProfile) -> list[dict[str, Any]]:
    name = prof.name
    out = _correctness(summary, "B", name, ("ours",))
    ours = [r for r in _rows(summary, "B", name, "ours") if r["completed"]]
    top = ours[-1] if ours else None
    out.append(
        _entry(
            "B",
            name,
            "wall ÷ bound",
            "≤ 1.25",
            top["wall_over_bound"] if top else None,
            lambda v: v <= 1.25,
            lambda v: f"{v:.2f} at {top['rows']:,} rows" if top else "",
        )
    )
    pairs = _common(summary, name)
    head = pairs[-1] if pairs else None
    missing = _missing_pair(summary, "B", name, "ss_sorted")
    if prof.workers >= 8:
        speed = head[1]["wall_seconds"] / head[0]["wall_seconds"] if head else None
        calls = (
            head[0]["api_requests_per_1m"] / head[1]["api_requests_per_1m"]
            if head and head[1]["api_requests_per_1m"]
            else None
        )
        at = f" at {head[0]['rows']:,} rows" if head else ""
        out.append(
            _entry(
                "B", name, "faster than ss_sorted", "≥ 2×", speed, lambda v: v >= 2.0,
                lambda v: f"{v:.2f}×{at}", missing,
            )
        )  # fmt: skip
        out.append(
            _entry(
                "B", name, "API calls vs ss_sorted", "≤ 1/3", calls, lambda v: v <= 1 / 3,
                lambda v: f"{v:.3f}{at}", missing,
            )
        )  # fmt: skip
    slowest = min((s["wall_seconds"] / o["wall_seconds"] for o, s in pairs), default=None)
    out.append(
        _entry(
            "B", name, "never slower than ss_sorted", "≥ 1× at every size", slowest,
            lambda v: v >= 1.0,
            lambda v: f"{v:.2f}× (worst of {len(pairs)} size{'s' * (len(pairs) != 1)})",
            missing,
        )
    )  # fmt: skip
    return out


def _a_targets(summary: Summary) -> list[dict[str, Any]]:
    name = ZERO_COST.name
    out = _correctness(summary, "A", name, ("ours",))
    ours = [r for r in _rows(summary, "A", name, "ours") if r["completed"]]
    stack = {r["rows"]: r for r in _rows(summary, "A", name, "user_stack") if r["completed"]}
    pair = next(((o, stack[o["rows"]]) for o in reversed(ours) if o["rows"] in stack), None)
    ratio = pair[0]["cpu_us_per_record"] / pair[1]["cpu_us_per_record"] if pair else None
    out.append(
        _entry(
            "A",
            name,
            "client CPU per record vs user_stack, end to end",
            "≤ 1/3",
            ratio,
            lambda v: v <= 1 / 3,
            lambda v: (
                f"{v:.3f} ({pair[0]['cpu_us_per_record']:.1f} vs "
                f"{pair[1]['cpu_us_per_record']:.1f} µs)"
                if pair
                else ""
            ),
            _missing_pair(summary, "A", name, "user_stack"),
        )
    )
    return out


def _c_targets(summary: Summary) -> list[dict[str, Any]]:
    name = ZERO_COST.name
    out = _correctness(summary, "C", name, ("ours", "ours_processes", "airflow_task"))
    # The target is about an Airflow load task: measured in a real Airflow run where one
    # finished, else by the bench's one-process-per-partition stand-in (and the row says so).
    source = "airflow_task"
    tasks = [r for r in _rows(summary, "C", name, source) if r["completed"]]
    if not tasks:
        source = "ours_processes"
        tasks = [r for r in _rows(summary, "C", name, source) if r["completed"]]
    what = "Airflow load task" if source == "airflow_task" else "per-partition load process"
    at = next((r["peak_rss_mb"] for r in tasks if r["rows"] == RSS_AT), None)
    out.append(
        _entry(
            "C",
            name,
            f"peak RSS, largest {what} at {RSS_AT:,} rows",
            f"≤ {RSS_LIMIT_MB:g} MB",
            at,
            lambda v: v <= RSS_LIMIT_MB,
            lambda v: f"{v:.0f} MB",
        )
    )
    span = [r["peak_rss_mb"] for r in tasks if r["rows"] >= RSS_FLAT_FROM]
    top = max((r["rows"] for r in tasks), default=0)
    growth = max(span) / min(span) - 1 if len(span) > 1 else None
    out.append(
        _entry(
            "C",
            name,
            f"peak RSS, largest {what}, flat from {RSS_FLAT_FROM:,} rows",
            "within 10 % up to 10,000,000 rows",
            growth,
            lambda v: v <= 0.10 and top >= 10_000_000,
            lambda v: f"{v:+.1%} (max ÷ min, {RSS_FLAT_FROM:,}–{top:,} rows)",
            f"needs two sizes from {RSS_FLAT_FROM:,} rows",
        )
    )
    return out


def targets(summary: Summary, b_profiles: tuple[OrgProfile, ...] = B_PROFILES) -> Summary:
    """Every target of every profile, in a stable order (B by profile, then A, then C)."""
    out: Summary = []
    for prof in b_profiles:
        out += _b_targets(summary, prof)
    return out + _a_targets(summary) + _c_targets(summary)


def for_json(found: Summary) -> Summary:
    """The ``targets.json`` form: exactly the documented keys."""
    return [{k: t[k] for k in TARGET_KEYS} for t in found]
