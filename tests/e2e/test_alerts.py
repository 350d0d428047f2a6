"""Failures and their alerts end to end: a real SMTP server (aiosmtpd) and a real HTTP server
stand in for the mail relay and Slack; the load DAG runs in-process with `dag.test()` against the
emulator, with Airflow's retries kept (3 per task) but no delay between them.

A permanent failure (a partition over its failure threshold, the reconciliation that follows, a
mapping the target does not take) must fail its task in one try, with its message, and alert once
naming the fix; a transient one (a lost connection after the hook's retries) must be retried."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import get_current_context

from emulator.datacloud.seed import external_id
from include.dc2sf import defaults
from include.dc2sf.alerts import PERMANENT_NEXT_STEP, LoadFailureNotifier
from include.dc2sf.hooks.datacloud import DataCloudHook
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e]

ROWS = 900
PARTITIONS = 3
#: Rows 301..900 split at 300 and 600 by the quantile planner; these are in partition 1.
BROKEN = range(401, 411)
WEBHOOK_PATH = "/services/T000/B000/not-a-real-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    """aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Inbox]:
    """A local SMTP server and the `smtp_default` connection pointing at it (plain, no auth)."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {
            "disable_tls": True,
            "disable_ssl": True,
            "from_email": "airflow@example.com",
            "timeout": 10,
            "retry_limit": 0,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def slack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict]]]:
    """A local HTTP server standing in for the Slack webhook; records (path, JSON body)."""
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "schema": "http",
        "password": WEBHOOK_PATH,
    }
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_VAR_DC2SF_SLACK_WEBHOOK_CONN_ID", "slack_alerts")
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


#: Every task keeps at least this many retries: a task that fails in one try did not use them.
RETRIES = 3


def _load_dag_retrying_at_once():
    """The load DAG with its retries but no delay: `dag.test` waits out every retry_delay (2 min,
    doubling), which is what a transient failure costs in production, not in a test."""
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "datacloud_to_salesforce.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("datacloud_to_salesforce")
    for task in dag.tasks:
        assert task.retries >= RETRIES, (task.task_id, task.retries)
        task.retry_delay = timedelta(0)
        task.retry_exponential_backoff = 0
    return dag


def _lose_the_connection_once(monkeypatch: pytest.MonkeyPatch, map_index: int) -> None:
    """The first try of partition `map_index` loses its Data Cloud connection (as after the
    hook's own retries ran out): a transient failure that Airflow must retry."""
    real_query = DataCloudHook.query

    def query(self: DataCloudHook, sql: str):  # type: ignore[no-untyped-def]
        ti = get_current_context()["ti"]
        if (ti.task_id, ti.map_index, ti.try_number) == ("partition.load", map_index, 1):
            raise requests.ConnectionError("Connection aborted (injected by the test)")
        return real_query(self, sql)

    monkeypatch.setattr(DataCloudHook, "query", query)


def _tries(run) -> dict[tuple[str, int], tuple[str, int]]:  # type: ignore[no-untyped-def]
    """(task id, map index) → (state, try number) of every task instance of the run."""
    return {
        (ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()
    }


def _break_partition_one(emu: Any) -> None:
    """StageName is required on create: these rows are dead-lettered (REQUIRED_FIELD_MISSING)."""
    keys = [external_id(n) for n in BROKEN]
    with emu.state.connect() as conn:
        conn.executemany(
            f'UPDATE "{defaults.SOURCE_DMO}" SET "StageName__c" = NULL WHERE "ExternalId__c" = ?',
            [(k,) for k in keys],
        )


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(
        part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        for part in parts
        if part.get_content_maintype() == "text"
    )


def test_permanent_failures_fail_in_one_try_and_alert_once_transient_ones_are_retried(
    emulator_factory, smtp_server, monkeypatch, tmp_path
) -> None:
    emu = emulator_factory(rows=ROWS, accounts=9)
    _break_partition_one(emu)
    _lose_the_connection_once(monkeypatch, map_index=2)
    monkeypatch.setenv("AIRFLOW_VAR_DC2SF_ALERT_EMAILS", "oncall@example.com, lead@example.com")
    conf = {
        "partitions": PARTITIONS,
        "stagger_minutes": 0,
        "records_per_job": 200,
        "page_size": 300,
        "failure_threshold": 0.0,
        "dead_letter_root": f"file://{tmp_path}/dead",
    }

    run = _load_dag_retrying_at_once().test(run_conf=conf, logical_date=None)

    assert run.state == "failed"
    tries = _tries(run)
    # TooManyFailures and the ReconciliationFailed it causes: failed in their first try; the lost
    # connection: retried, and the second try loaded the partition.
    assert tries[("partition.load", 1)] == ("failed", 1)
    assert tries[("reconcile", -1)] == ("failed", 1)
    assert tries[("partition.load", 2)] == ("success", 2)
    assert tries[("partition.load", 0)] == ("success", 1)
    assert tries[("plan", -1)] == ("success", 1)

    # One mail per failed task, each naming its fix; the run's own callback adds none.
    subjects = sorted(m["Subject"] for _, m in smtp_server.messages)
    assert len(subjects) == 2, subjects
    assert not [s for s in subjects if "(run) failed" in s], subjects
    task_mails = [
        (to, m) for to, m in smtp_server.messages if "partition.load failed" in m["Subject"]
    ]
    assert len(task_mails) == 1, subjects
    to, mail = task_mails[0]
    assert sorted(to) == ["lead@example.com", "oncall@example.com"]
    assert mail["From"] == "airflow@example.com"
    subject = mail["Subject"]
    assert "partition 1 (map index 1)" in subject
    assert f"keys ({external_id(300)} .. {external_id(600)}]" in subject
    body = _text(mail)
    assert "TooManyFailures: partition 1: 10 of 300 rows" in body  # what failed, not a wrapper
    assert "Fix the data or the mapping" in body  # the loader's own message: what to do
    assert PERMANENT_NEXT_STEP in body
    assert (
        f"/dc2sf/runs/datacloud_to_salesforce/{run.run_id.replace('+', '%2B').replace(':', '%3A')}"
        in body
    )

    [reconcile_mail] = [m for _, m in smtp_server.messages if "reconcile failed" in m["Subject"]]
    body = _text(reconcile_mail)
    assert "ReconciliationFailed: 890 of 900 source rows are in Salesforce" in body
    assert "p1=10" in body


def _mapping_with_a_typo() -> dict[str, Any]:
    mapping = json.loads(json.dumps(defaults.OPPORTUNITY_MAPPING))
    mapping["fields"]["Amout"] = {"source": "Amount__c", "type": "number"}
    return mapping


@pytest.mark.parametrize(
    ("org", "conf", "messages"),
    [
        pytest.param(
            {},
            {"mapping": _mapping_with_a_typo()},
            [
                "MappingInvalid: mapping does not fit Opportunity:",
                "Amout: no such field on Opportunity",
            ],
            id="mapping-does-not-fit",
        ),
        pytest.param(
            {"bulk_daily_batch_max": 1},
            {},
            ["DailyAllowanceExceeded:"],
            id="allowance-cannot-cover-the-plan",
        ),
    ],
)
def test_a_plan_that_cannot_succeed_fails_in_one_try_and_alerts_once(
    emulator_factory, smtp_server, monkeypatch, tmp_path, org, conf, messages
) -> None:
    from emulator.config import EmulatorConfig

    emu = emulator_factory(EmulatorConfig(**org), rows=ROWS, accounts=9)
    monkeypatch.setenv("AIRFLOW_VAR_DC2SF_ALERT_EMAILS", "oncall@example.com")
    conf = {**conf, "stagger_minutes": 0, "dead_letter_root": f"file://{tmp_path}/dead"}

    run = _load_dag_retrying_at_once().test(run_conf=conf, logical_date=None)

    assert run.state == "failed"
    tries = _tries(run)
    assert tries[("plan", -1)] == ("failed", 1)
    assert tries[("reconcile", -1)][0] == "upstream_failed", "nothing to reconcile, no 2nd alert"
    assert emu.admin.get("/jobs").json()["jobs"] == [], "nothing was sent"
    [(_, mail)] = smtp_server.messages
    assert "plan failed" in mail["Subject"]
    body = _text(mail)
    for message in messages:
        assert message in body, body
    assert PERMANENT_NEXT_STEP in body


def test_no_mail_when_the_variable_is_unset(smtp_server, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_DC2SF_ALERT_EMAILS", raising=False)
    LoadFailureNotifier().notify(_context())
    assert smtp_server.messages == []

    monkeypatch.setenv("AIRFLOW_VAR_DC2SF_ALERT_EMAILS", "oncall@example.com")
    LoadFailureNotifier().notify(_context())
    assert len(smtp_server.messages) == 1


def test_slack_webhook_gets_the_partition_and_the_secret_path_is_not_logged(
    slack_server, monkeypatch, caplog
) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_DC2SF_ALERT_EMAILS", raising=False)
    caplog.set_level("INFO")  # urllib3's DEBUG lines show URLs; Airflow's masker covers the
    # connection password in task logs, and nothing of ours may log it at any level shown.

    LoadFailureNotifier().notify(_context())

    assert len(slack_server) == 1
    path, payload = slack_server[0]
    assert path == WEBHOOK_PATH
    text = payload["text"]
    assert "partition 2 (map index 2)" in text
    assert "keys (k0200 .. k0300]" in text
    assert "TooManyFailures: boom {{ not a template }}" in text
    assert "/dc2sf/runs/datacloud_to_salesforce/" in text
    assert WEBHOOK_PATH not in caplog.text


class _Ti:
    dag_id = "datacloud_to_salesforce"
    run_id = "manual__2026-01-01T00:00:00+00:00"
    task_id = "partition.load"
    map_index = 2
    try_number = 1
    rendered_map_index = "p2 (k0200 .. k0300]"


class _Task:
    partition = 2
    range_start = "k0200"
    range_end = "k0300"
    start_inclusive = False


class TooManyFailures(RuntimeError):
    pass


def _context() -> dict[str, Any]:
    return {
        "ti": _Ti(),
        "task": _Task(),
        "exception": TooManyFailures("boom {{ not a template }}"),
    }
