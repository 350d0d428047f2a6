"""``python -m include.dc2sf.report``: each way it can fail exits with its documented status and says
what to fix on stderr; success exits 0.

The server is an ``httpx.MockTransport`` answering like Airflow's api-server does (``/auth/token``,
``/api/v2``, the progress plugin's JSON), so every branch runs in milliseconds; the same CLI runs
against a real Airflow in ``tests/e2e/test_devstack_demo.py`` (the held demo) and
``tests/e2e/test_progress_view_live.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from include.dc2sf import report as cli
from include.dc2sf.progress_report import RunSnapshot, build_report

REPO = Path(__file__).resolve().parents[2]
DAG = "datacloud_to_salesforce"
RUN = "manual__2026-12-01T10:00:00+00:00"
PASSWORD = "s3cret-pass"
TOKEN = "jwt-for-admin"

Handler = Callable[[httpx.Request], httpx.Response]


def _finished_report() -> dict[str, object]:
    now = dt.datetime(2026, 12, 1, 10, 5, tzinfo=dt.UTC)
    return build_report(
        RunSnapshot(
            dag_id=DAG,
            run_id=RUN,
            state="success",
            start_date=now - dt.timedelta(minutes=5),
            end_date=now,
            now=now,
            plan=[],
        )
    )


def airflow(*, login_status: int = 200, api_status: int | None = None) -> Handler:
    """An api-server with the plugin installed, one DAG and one finished run of it."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/auth/token":
            body = json.loads(request.content)
            if login_status != 200:
                return httpx.Response(login_status, json={"detail": "nope"})
            if body != {"username": "admin", "password": PASSWORD}:
                return httpx.Response(401, json={"detail": "Invalid credentials"})
            return httpx.Response(201, json={"access_token": TOKEN})
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"detail": "Not authenticated"})
        if api_status is not None:
            return httpx.Response(api_status, json={"detail": "boom"})
        if path == "/dc2sf/api/runs":
            runs = [{"run_id": RUN}] if request.url.params["dag_id"] == DAG else []
            return httpx.Response(200, json={"runs": runs})
        if path == f"/dc2sf/api/runs/{DAG}/{RUN}":
            return httpx.Response(200, json=_finished_report())
        if path.startswith(f"/dc2sf/api/runs/{DAG}/"):
            return httpx.Response(404, json={"detail": f"DAG run {DAG} / nope not found"})
        if path == f"/api/v2/dags/{DAG}":
            return httpx.Response(200, json={"dag_id": DAG})
        return httpx.Response(404, json={"detail": "Not Found"})

    return handle


def run_cli(
    argv: list[str],
    handler: Handler | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    password: str | None = PASSWORD,
) -> tuple[int, str, str]:
    for name in ("AIRFLOW_URL", "AIRFLOW_USER", "AIRFLOW_PASSWORD", "AIRFLOW_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if password is not None:
        monkeypatch.setenv("AIRFLOW_PASSWORD", password)
    transport = httpx.MockTransport(handler) if handler else None
    code = cli.main(["--url", "http://airflow.test", *argv], transport=transport)
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    return code, out, err


def test_a_report_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(["--user", "admin", "--latest"], airflow(), capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert f"{DAG} / {RUN}" in out and "Run state: success" in out


@pytest.mark.parametrize(
    ("argv", "password", "handler", "message"),
    [
        (["--latest"], PASSWORD, airflow(), "no credentials: give --user"),
        (["--user", "admin"], None, airflow(), "no credentials: give --user"),
        (["--user", "admin"], "wrong", airflow(), "login as 'admin' failed (401)"),
        (["--token", "expired"], None, airflow(), "not authenticated (401)"),
        (["--user", "admin"], PASSWORD, airflow(api_status=403), "no access to the DAG (403)"),
        (["--user", "admin", "--run-id", "nope"], PASSWORD, airflow(), "not found"),
        (
            ["--user", "admin", "--dag-id", "typo_dag"],
            PASSWORD,
            airflow(),
            "DAG typo_dag not found",
        ),
    ],
    ids=[
        "no-user",
        "no-password",
        "wrong-password",
        "rejected-token",
        "no-access",
        "unknown-run",
        "unknown-dag",
    ],
)
def test_what_the_user_must_fix_exits_2(
    argv: list[str],
    password: str | None,
    handler: Handler,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_cli(argv, handler, capsys, monkeypatch, password=password)
    assert code == cli.EXIT_USAGE == 2
    assert out == ""
    assert err.startswith("error: ") and message in err, err


def test_a_server_that_is_not_airflow_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def web_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"})

    code, _, err = run_cli(["--user", "admin"], web_page, capsys, monkeypatch)
    assert code == 2 and "did not answer with JSON" in err, err


def test_a_url_that_is_not_http_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--url", "localhost:8080", "--token", "t"])
    assert exit_info.value.code == 2
    assert "--url must be an http(s) URL" in capsys.readouterr().err


def test_an_unreachable_server_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.setenv("AIRFLOW_PASSWORD", PASSWORD)
        code = cli.main(["--url", f"http://127.0.0.1:{port}", "--user", "admin"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_UNAVAILABLE == 3
    assert f"cannot reach http://127.0.0.1:{port} (ConnectError" in err, err


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_server_exits_3(
    status: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli(
        ["--user", "admin", "--run-id", RUN], airflow(api_status=status), capsys, monkeypatch
    )
    assert code == 3 and f"the server answered {status}; try again" in err, err


def test_a_failing_login_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli(["--user", "admin"], airflow(login_status=502), capsys, monkeypatch)
    assert code == 3 and "login: the server answered 502" in err, err


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    """``python -m include.dc2sf.report ... | head``: no traceback, exit 0. The pipe's reading end
    is closed before the report starts, so its first write meets a reader that has gone."""
    script = (
        "import httpx, sys\n"
        "sys.path.insert(0, 'tests/unit')\n"
        "from test_report_exit_codes import airflow\n"
        "from include.dc2sf import report\n"
        "sys.exit(report.main(['--url', 'http://airflow.test', '--user', 'admin', '--latest'],"
        " transport=httpx.MockTransport(airflow())))\n"
    )
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={**os.environ, "AIRFLOW_PASSWORD": PASSWORD, "PYTHONPATH": str(REPO)},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")
