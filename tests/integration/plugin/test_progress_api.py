"""The progress plugin against the real api-server app: auth, 404, and the computed report.

The expected numbers are recomputed here from what the scenario seeded (plain sums and ratios),
not with the code under test, so a slip in the report builder shows up as a mismatch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

import pytest
from conftest import (
    ACTIVE_RUN,
    FINISHED_RUN,
    JOB_SHAPE_FALLBACK,
    PASSWORDS,
    RETRY_RUN,
    Scenario,
    bearer,
)
from fastapi.testclient import TestClient
from fixture_dags.progress_fixture import LOAD_RETRY_SECONDS
from progress_seeding import FIXTURE_DAG_ID

from include.dc2sf import report as cli
from include.dc2sf.progress_report import build_report, render_text

API = f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}"
PAGE = f"/dc2sf/runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}"
LIST_API = f"/dc2sf/api/runs?dag_id={FIXTURE_DAG_ID}"
LIST_PAGE = f"/dc2sf/runs?dag_id={FIXTURE_DAG_ID}"
PROTECTED = [API, PAGE, LIST_API, LIST_PAGE, f"{PAGE}/dead-letters/1"]
COUNTERS = (
    "processed",
    "succeeded",
    "failed",
    "retried",
    "dead_lettered",
    "api_calls",
    "jobs_total",
    "jobs_in_flight",
)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def active(client: Any, tokens: dict[str, str], scenario: Scenario) -> dict[str, Any]:
    response = client.get(API, headers=bearer(tokens["admin"]))
    assert response.status_code == 200, response.text
    return response.json()


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PROTECTED, "/dc2sf/static/run.js"])
def test_anonymous_requests_get_401(client: Any, scenario: Scenario, path: str) -> None:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 401


def test_anonymous_page_sends_the_browser_to_the_login_page(
    client: Any, scenario: Scenario
) -> None:
    response = client.get(PAGE)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert '"../../../auth/login"' in response.text  # relative: survives [api] base_url
    assert client.get(API).json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("path", PROTECTED)
def test_user_without_dag_access_gets_403(
    client: Any, tokens: dict[str, str], scenario: Scenario, path: str
) -> None:
    assert client.get(path, headers=bearer(tokens["outsider"])).status_code == 403


def test_outsider_is_also_refused_by_airflow_itself(client: Any, tokens: dict[str, str]) -> None:
    """The 403 user is one Airflow's own API refuses too: the plugin asks the same question."""
    response = client.get(
        f"/api/v2/dags/{FIXTURE_DAG_ID}/dagRuns/{ACTIVE_RUN}", headers=bearer(tokens["outsider"])
    )
    assert response.status_code == 403


@pytest.mark.parametrize("user", ["admin", "viewer"])
@pytest.mark.parametrize("path", PROTECTED)
def test_users_with_dag_access_get_200(
    client: Any, tokens: dict[str, str], scenario: Scenario, user: str, path: str
) -> None:
    assert client.get(path, headers=bearer(tokens[user])).status_code == 200


def test_ui_cookie_authenticates_like_the_airflow_ui(
    api_app: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    with TestClient(api_app, base_url="http://testserver") as browser_like:
        browser_like.cookies.set("_token", tokens["viewer"])
        assert browser_like.get(API).status_code == 200
        assert browser_like.get(PAGE).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/manual__no_such_run",
        f"/dc2sf/runs/{FIXTURE_DAG_ID}/manual__no_such_run",
        f"/dc2sf/api/runs/no_such_dag/{ACTIVE_RUN}",
    ],
)
def test_unknown_run_gets_404(client: Any, tokens: dict[str, str], path: str) -> None:
    assert client.get(path, headers=bearer(tokens["admin"])).status_code == 404


# --- the report ----------------------------------------------------------------------------------


def test_partitions_and_states(active: dict[str, Any], scenario: Scenario) -> None:
    parts = {p["map_index"]: p for p in active["partitions"]}
    assert sorted(parts) == [0, 1, 2, 3, 4]
    assert {i: p["state"] for i, p in parts.items()} == {
        0: "success",
        1: "running",
        2: "retrying",
        3: "waiting",
        4: "waiting",
    }
    assert {i: p["tone"] for i, p in parts.items()} == {
        0: "ok",
        1: "active",
        2: "warn",
        3: "idle",
        4: "idle",
    }
    assert parts[2]["state_label"] == "retrying (try 2)"
    assert parts[0]["label"] == "p0 (start .. k01000]"  # the TI's rendered map index
    assert parts[1]["range"] == "(k01000, k02000]"
    assert active["run"]["active"] is True and active["refresh_seconds"] == 5
    assert active["totals"]["states"] == {"success": 1, "running": 1, "retrying": 1, "waiting": 2}


def test_waiting_until_times(active: dict[str, Any], scenario: Scenario) -> None:
    """p3 from its deferred trigger's moment, p4 (sensor not run) from start + 4 × Param default."""
    parts = {p["map_index"]: p for p in active["partitions"]}
    for index in (3, 4):
        assert _utc(parts[index]["waiting_until"]) == scenario.fire_at[index]
        clock = scenario.fire_at[index].strftime("%H:%M:%S")
        assert clock in parts[index]["state_label"]
        assert parts[index]["state_label"].startswith("waiting until ")
    assert active["run"]["stagger_minutes"] == 30
    assert active["totals"]["waiting"] == 2


def test_counters_and_totals(active: dict[str, Any], scenario: Scenario) -> None:
    parts = {p["map_index"]: p for p in active["partitions"]}
    for index, seeded in scenario.progress.items():
        for name in COUNTERS:
            assert parts[index][name] == seeded[name], (index, name)
        assert parts[index]["watermark"] == seeded["watermark"]
    for index in (3, 4):
        assert all(parts[index][name] == 0 for name in COUNTERS)
    totals = active["totals"]
    for name in COUNTERS:
        assert totals[name] == sum(p[name] for p in scenario.progress.values()), name
    succeeded = sum(p["succeeded"] for p in scenario.progress.values())
    dead = sum(p["dead_lettered"] for p in scenario.progress.values())
    assert totals["success_rate"] == pytest.approx(succeeded / (succeeded + dead), abs=1e-6)
    assert totals["source_count"] == 5 * 40_000
    assert totals["projected_succeeded"] == round(succeeded / (succeeded + dead) * 200_000)
    assert totals["display"]["succeeded"] == f"{succeeded:,}"
    assert totals["display"]["success_rate"] == f"{100 * succeeded / (succeeded + dead):.2f}%"


def test_rates_eta_and_projection(active: dict[str, Any], scenario: Scenario) -> None:
    parts = {p["map_index"]: p for p in active["partitions"]}
    p1 = scenario.progress[1]
    elapsed = p1["updated_at"] - p1["started_at"]  # epoch seconds in this one
    settled = p1["succeeded"] + p1["dead_lettered"]
    assert parts[1]["rate_per_second"] == pytest.approx(settled / elapsed, abs=1e-3)
    assert parts[1]["source_count_estimated"] is True  # from the plan's estimate
    assert parts[1]["eta_seconds"] == pytest.approx(
        (40_000 - settled) / (settled / elapsed), abs=0.1
    )
    assert parts[1]["percent_complete"] == pytest.approx(100 * settled / 40_000, abs=0.01)
    assert parts[0]["percent_complete"] == 100.0 and parts[0]["eta_seconds"] is None
    # The run ends when its last partition does: p4 starts at its fire time and then runs at
    # the median pace of the partitions seen so far.
    rates = sorted(p["rate_per_second"] for p in parts.values() if p["rate_per_second"])
    p4_end = scenario.fire_at[4] + dt.timedelta(seconds=40_000 / rates[1])
    finish = _utc(active["totals"]["projected_finish"])
    assert abs((finish - p4_end).total_seconds()) <= 2
    assert finish == max(
        _utc(p["projected_finish"]) for p in parts.values() if p["projected_finish"]
    )


def test_a_fallen_back_job_shape_is_shown_with_its_reason(active: dict[str, Any]) -> None:
    parts = {p["map_index"]: p for p in active["partitions"]}
    assert parts[2]["job_shape"] == {
        "records_per_job": 10_000,
        "max_in_flight": 8,
        "fallback": JOB_SHAPE_FALLBACK,
    }
    assert parts[0]["job_shape"] is None  # an older progress XCom without the field
    text = render_text(active)
    assert f"jobs of 10,000 records, 8 in flight, since: {JOB_SHAPE_FALLBACK}" in text
    assert text.count("in flight, since:") == 1


def test_links_are_relative(active: dict[str, Any]) -> None:
    parts = {p["map_index"]: p for p in active["partitions"]}
    assert parts[2]["log_url"] == (
        f"dags/{FIXTURE_DAG_ID}/runs/{ACTIVE_RUN}/tasks/partition.load/mapped/2?try_number=2"
    )
    assert parts[4]["log_url"].endswith("/mapped/4")  # never tried: no try number
    assert parts[1]["dead_letter_url"] == (f"runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}/dead-letters/1")
    assert parts[2]["dead_letter_url"] is None


def test_finished_run(client: Any, tokens: dict[str, str], scenario: Scenario) -> None:
    body = client.get(
        f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/{FINISHED_RUN}", headers=bearer(tokens["admin"])
    ).json()
    assert [p["state"] for p in body["partitions"]] == ["success", "failed", "upstream_failed"]
    assert body["run"]["active"] is False and body["refresh_seconds"] is None
    assert body["totals"]["projected_succeeded"] == 45_000
    assert body["totals"]["success_rate"] == pytest.approx(45_000 / 50_000)


def test_partition_up_for_retry_after_a_kill(
    client: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    """A killed try waiting for its retry shows what it settled, what it had sent, and when the
    next try starts (the killed try's end + the task's retry_delay, as Airflow schedules it)."""
    body = client.get(
        f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/{RETRY_RUN}", headers=bearer(tokens["admin"])
    ).json()
    killed, resumed = body["partitions"]
    assert scenario.killed_at is not None
    retry_at = scenario.killed_at + dt.timedelta(seconds=LOAD_RETRY_SECONDS)
    assert killed["state"] == "up_for_retry" and killed["tone"] == "warn"
    assert _utc(killed["retry_at"]) == retry_at
    assert killed["state_label"] == f"up for retry at {retry_at:%H:%M:%S} UTC"
    assert re.fullmatch(r"(\d+m \d\ds|\d+s)", killed["display"]["retry_in"])
    # Not "Loaded 0": the settled count of the killed try, and the 30,000 it had sent.
    assert killed["display"]["succeeded"] == "10,000"
    assert killed["unsettled"] == 30_000 and killed["display"]["unsettled"] == "30,000"
    assert killed["reported"] is True
    # Its ETA starts when the retry does: the 30,000 left at the killed try's own pace.
    started = scenario.killed_at - dt.timedelta(hours=3) + dt.timedelta(seconds=20)
    pace = 10_000 / (scenario.killed_at - dt.timedelta(seconds=5) - started).total_seconds()
    finish = retry_at + dt.timedelta(seconds=30_000 / pace)
    assert killed["projected_finish"] == finish.strftime("%Y-%m-%dT%H:%M:%SZ")
    # The new try has not pushed progress yet: its counts are unknown, not zero.
    assert resumed["state"] == "running" and resumed["reported"] is False
    assert resumed["display"]["succeeded"] == "–" and resumed["display"]["processed"] == "–"
    assert resumed["percent_complete"] is None
    assert body["totals"]["states"] == {"up_for_retry": 1, "running": 1}
    text = render_text(body)
    assert f"next try at {retry_at:%H:%M:%S} UTC" in text
    assert "30,000 records sent before the try ended" in text


def test_run_list(client: Any, tokens: dict[str, str], scenario: Scenario) -> None:
    body = client.get(LIST_API, headers=bearer(tokens["viewer"])).json()
    assert [r["run_id"] for r in body["runs"]] == [ACTIVE_RUN, RETRY_RUN, FINISHED_RUN]
    first = body["runs"][0]
    assert first["partitions"] == 3
    assert first["succeeded"] == sum(p["succeeded"] for p in scenario.progress.values())
    assert first["url"] == f"runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}"


def test_pages_use_relative_urls_only(
    client: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    for path in (PAGE, LIST_PAGE):
        text = client.get(path, headers=bearer(tokens["admin"])).text
        urls = re.findall(r'(?:href|src|data-[a-z-]+-url)="([^"]*)"', text)
        assert urls, path
        assert not [u for u in urls if u.startswith(("/", "http:", "https:", "//"))], (path, urls)
    js = client.get("/dc2sf/static/run.js", headers=bearer(tokens["admin"]))
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    external = re.findall(r"https?://[^\s\"']+", js.text)
    assert external == ["http://www.w3.org/2000/svg"], external  # only the SVG namespace name


def test_plugin_and_external_views_registered(client: Any, tokens: dict[str, str]) -> None:
    plugins = client.get("/api/v2/plugins", headers=bearer(tokens["admin"])).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "dc2sf_partition_progress")
    views = {v["destination"]: v for v in ours["external_views"]}
    assert views["nav"]["href"] == "dc2sf/runs"
    assert views["dag_run"]["href"] == "dc2sf/runs/{DAG_ID}/{RUN_ID}"
    assert ours["fastapi_apps"][0]["url_prefix"] == "/dc2sf"


# --- the terminal report -------------------------------------------------------------------------


def _cli(
    api_app: Any, *argv: str, printed: list[str] | None = None
) -> tuple[list[str], dict[str, Any]]:
    args = cli.parse_args(
        ["--url", "http://testserver", "--user", "admin", "--dag-id", FIXTURE_DAG_ID, *argv]
    )
    args.password = PASSWORDS["admin"]
    printed = [] if printed is None else printed
    with TestClient(api_app, base_url="http://testserver") as client:
        report = cli.run(args, client, out=printed.append, sleep=_no_sleep(printed))
    return printed, report


class _StopWatch(Exception):
    pass


def _no_sleep(printed: list[str]) -> Any:
    def sleep(seconds: float) -> None:
        if len(printed) >= 2:
            raise _StopWatch  # end the watch loop after two reports

    return sleep


def _without_clock(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus what depends on the second it was made or on who made it."""
    clean = {
        k: v for k, v in report.items() if k not in ("generated_at", "source", "dead_letters_url")
    }
    clean["partitions"] = [
        {k: v for k, v in p.items() if k not in ("dead_letter_url", "eta_seconds")}
        for p in report["partitions"]
    ]
    for p in clean["partitions"]:
        p["display"] = {k: v for k, v in p["display"].items() if k != "eta"}
    clean["totals"] = {k: v for k, v in report["totals"].items() if k != "eta_seconds"}
    clean["totals"]["display"] = {k: v for k, v in clean["totals"]["display"].items() if k != "eta"}
    return clean


def test_terminal_report_prints_the_json_endpoint(
    api_app: Any, client: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    printed, report = _cli(api_app, "--run-id", ACTIVE_RUN)
    assert report["source"] == "plugin"
    text = printed[0]
    assert text == render_text(report, server_url="http://testserver")
    endpoint = client.get(API, headers=bearer(tokens["admin"])).json()
    assert _without_clock(report) == _without_clock(endpoint)
    # The seed's report, recognisably: waiting partitions with fire times, counts, totals.
    assert "Scheduled Partitions: 2" in text
    for index in (3, 4):
        assert f"{scenario.fire_at[index]:%H:%M:%S} UTC (WAITING)" in text
    totals = endpoint["totals"]
    assert f"Total Processed: {totals['processed']:,} records" in text
    assert f"Total API Calls: {totals['api_calls']:,}" in text
    assert f"Current Success Rate: {100 * totals['success_rate']:.2f}%" in text
    assert f"Projected Final: ~{totals['projected_succeeded']:,} records loaded" in text
    assert f"Active Jobs: {totals['jobs_in_flight']}" in text
    for part in endpoint["partitions"]:
        line = next(x for x in text.splitlines() if x.strip().startswith(part["label"] + " "))
        assert f"{part['processed']:,} records" in line
        assert f"{part['api_calls']:,} calls" in line
        assert f"({part['state_label']})" in line


def test_rest_fallback_builds_the_same_report(
    api_app: Any, client: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    """Without the plugin, the CLI reads /api/v2 and must arrive at the very same report."""
    with TestClient(api_app, base_url="http://testserver") as rest:
        rest.headers["Authorization"] = f"Bearer {tokens['admin']}"
        from_rest = build_report(cli.rest_snapshot(rest, FIXTURE_DAG_ID, ACTIVE_RUN))
    endpoint = client.get(API, headers=bearer(tokens["admin"])).json()
    assert from_rest["source"] == "rest"
    a, b = _without_clock(from_rest), _without_clock(endpoint)
    for pa, pb in zip(a.pop("partitions"), b.pop("partitions"), strict=True):
        assert pa == pb, {k: (pa.get(k), pb.get(k)) for k in pb if pa.get(k) != pb.get(k)}
    assert a == b


def test_latest_and_watch(api_app: Any, scenario: Scenario) -> None:
    printed: list[str] = []
    with pytest.raises(_StopWatch):  # an active run is refreshed until interrupted
        _cli(api_app, "--latest", "--watch", "1", printed=printed)
    assert len(printed) == 2
    assert ACTIVE_RUN in printed[0]


def test_watch_stops_when_the_run_has_ended(api_app: Any, scenario: Scenario) -> None:
    printed, report = _cli(api_app, "--run-id", FINISHED_RUN, "--watch", "1", "--source", "rest")
    assert len(printed) == 1 and report["run"]["state"] == "failed"


def test_cli_errors_are_actionable(api_app: Any, scenario: Scenario) -> None:
    args = cli.parse_args(["--user", "admin", "--dag-id", FIXTURE_DAG_ID, "--run-id", "nope"])
    args.password = "wrong"
    with (
        TestClient(api_app, base_url="http://testserver") as client,
        pytest.raises(cli.ReportError, match="login as 'admin' failed"),
    ):
        cli.run(args, client, out=lambda _: None)
    args.password = PASSWORDS["admin"]
    with (
        TestClient(api_app, base_url="http://testserver") as client,
        pytest.raises(cli.ReportError, match="not found"),
    ):
        cli.run(args, client, out=lambda _: None)


def test_namespace_for_docs() -> None:
    """`--password` may come from the environment so it stays out of process lists."""
    assert isinstance(cli.parse_args(["--run-id", "x"]), argparse.Namespace)
