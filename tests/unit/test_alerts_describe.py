"""describe_failure and the message builders, with hand-made contexts (no servers, no Airflow run):
task callbacks, DAG callbacks, mapped and unmapped tasks, and hostile error text."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.dc2sf import alerts
from include.dc2sf.alerts import describe_failure, email_html, email_subject, slack_text


def _ti(**overrides: Any) -> SimpleNamespace:
    values = {
        "dag_id": "datacloud_to_salesforce",
        "run_id": "manual__2026-01-01T00:00:00+00:00",
        "task_id": "partition.load",
        "map_index": 1,
        "try_number": 2,
        "rendered_map_index": "p1 (k0100 .. k0200]",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def _load_task(**overrides: Any) -> SimpleNamespace:
    values = {
        "partition": 1,
        "range_start": "k0100",
        "range_end": "k0200",
        "start_inclusive": False,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.fixture(autouse=True)
def _no_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")


def test_task_failure_names_partition_range_error_and_link() -> None:
    facts = describe_failure(
        {"ti": _ti(), "task": _load_task(), "exception": RuntimeError("3 of 10 rows dead-lettered")}
    )
    assert facts == {
        "dag_id": "datacloud_to_salesforce",
        "run_id": "manual__2026-01-01T00:00:00+00:00",
        "task_id": "partition.load",
        "partition": "partition 1 (map index 1) keys (k0100 .. k0200]",
        "try_number": "2",
        "error": "RuntimeError: 3 of 10 rows dead-lettered",
        "next_step": alerts.TRANSIENT_NEXT_STEP,
        "progress_url": "/dc2sf/runs/datacloud_to_salesforce/manual__2026-01-01T00%3A00%3A00%2B00%3A00",
    }


def test_first_partition_shows_an_inclusive_start_and_open_ends() -> None:
    task = _load_task(partition=0, range_start="k0001", range_end=None, start_inclusive="True")
    facts = describe_failure({"ti": _ti(map_index=0), "task": task, "exception": "x"})
    assert facts["partition"] == "partition 0 (map index 0) keys [k0001 .. end]"
    task = _load_task(partition=0, range_start=None, range_end="k9", start_inclusive=False)
    facts = describe_failure({"ti": _ti(map_index=0), "task": task, "exception": "x"})
    assert facts["partition"].endswith("keys (start .. k9]")


def test_mapped_task_without_range_fields_uses_the_rendered_map_index() -> None:
    facts = describe_failure({"ti": _ti(), "task": SimpleNamespace(), "exception": "x"})
    assert facts["partition"] == "partition 1 (map index 1) p1 (k0100 .. k0200]"


def test_unmapped_task_is_the_whole_run() -> None:
    facts = describe_failure({"ti": _ti(task_id="plan", map_index=-1), "exception": "boom"})
    assert (facts["task_id"], facts["partition"], facts["error"]) == ("plan", "whole run", "boom")


def test_dag_callback_context_describes_the_run_and_its_last_task() -> None:
    ti = _ti(task_id="reconcile", map_index=-1)
    context = {
        "dag": SimpleNamespace(dag_id="datacloud_to_salesforce"),
        "dag_run": SimpleNamespace(dag_id="datacloud_to_salesforce", run_id="r1"),
        "run_id": "r1",
        "reason": "task_failure",
        "ti": ti,
    }
    facts = describe_failure(context)
    assert facts["task_id"] == "(run)"
    assert facts["partition"] == "whole run; last task reconcile whole run"
    assert facts["error"] == "run failed (task_failure)"
    assert email_subject(facts).startswith("[Airflow] datacloud_to_salesforce (run) failed")


def test_a_permanent_failure_says_it_was_not_retried_and_keeps_its_own_class_name() -> None:
    from include.dc2sf.engine.loader import TooManyFailures
    from include.dc2sf.operators.fail_fast import fail_fast

    @fail_fast
    def load() -> None:
        raise TooManyFailures("partition 1: 3 of 10 rows dead-lettered; fix the data")

    with pytest.raises(AirflowFailException) as failed:
        load()
    facts = describe_failure({"ti": _ti(), "task": _load_task(), "exception": failed.value})
    assert facts["error"].startswith("TooManyFailures: partition 1: 3 of 10 rows dead-lettered")
    assert facts["next_step"] == alerts.PERMANENT_NEXT_STEP
    assert alerts.PERMANENT_NEXT_STEP in email_html(facts)
    assert alerts.PERMANENT_NEXT_STEP in slack_text(facts)


def test_the_run_callback_does_not_repeat_a_task_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed task alerts itself; the run failing because of it must not send a second alert.
    A run that fails for another reason (a timeout) still alerts."""
    sent: list[str] = []
    monkeypatch.setattr(
        alerts.LoadFailureNotifier, "notify", lambda self, context: sent.append(context["reason"])
    )
    run = SimpleNamespace(dag_id="datacloud_to_salesforce", run_id="r1")
    alerts.notify_run_failure({"dag_run": run, "reason": alerts.TASK_FAILURE_REASON, "ti": _ti()})
    assert sent == []
    alerts.notify_run_failure({"dag_run": run, "reason": "timed_out"})
    assert sent == ["timed_out"]


def test_dag_callback_without_ti_uses_the_dag_run() -> None:
    facts = describe_failure(
        {"dag_run": SimpleNamespace(dag_id="d", run_id="r"), "reason": "timed_out"}
    )
    assert (facts["dag_id"], facts["run_id"], facts["partition"]) == ("d", "r", "whole run")


def test_error_is_bounded_and_messages_escape_hostile_text() -> None:
    error = "<script>alert(1)</script> {{ ti.password }} " + "x" * 5_000
    facts = describe_failure({"ti": _ti(), "task": _load_task(), "exception": error})
    assert len(facts["error"]) == alerts.MAX_ERROR_CHARS
    body = email_html(facts)
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "{{ ti.password }}" in body  # shown as text: nothing renders it
    assert facts["progress_url"] in body
    assert "{{ ti.password }}" in slack_text(facts)


def test_progress_url_is_absolute_with_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    assert alerts.progress_url("d", "r 1") == "https://airflow.example.com/dc2sf/runs/d/r%201"


def test_email_without_a_sender_fails_with_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "_variable", lambda name: "")
    monkeypatch.setattr(alerts, "_from_email", lambda conn_id: None)
    with pytest.raises(ValueError, match="dc2sf_alert_from"):
        alerts.LoadFailureNotifier()._send_email(["a@example.com"], {}, {})


def test_one_failing_channel_does_not_stop_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {alerts.EMAILS_VARIABLE: "a@example.com", alerts.SLACK_CONN_VARIABLE: "slack"}
    monkeypatch.setattr(alerts, "_variable", lambda name: values.get(name, ""))
    sent: list[str] = []

    def broken_email(self, to, facts, context):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(alerts.LoadFailureNotifier, "_send_email", broken_email)
    monkeypatch.setattr(
        alerts.LoadFailureNotifier, "_send_slack", lambda self, conn, facts: sent.append(conn)
    )
    alerts.LoadFailureNotifier().notify({"ti": _ti(), "task": _load_task(), "exception": "x"})
    assert sent == ["slack"]
