"""Failure alerts through Airflow Notifiers: email (SmtpNotifier) and, optionally, a Slack webhook.

Alerts are configured by Variables, read when a failure happens (never at DAG parse time, which
must not touch the metadata DB), and are off while unset:

- `dc2sf_alert_emails`: comma-separated recipients; mail goes through the `smtp` connection named
  by `dc2sf_smtp_conn_id` (default `smtp_default`), from `dc2sf_alert_from` if set (else the
  connection's from address).
- `dc2sf_slack_webhook_conn_id`: an `http` connection whose host is the Slack incoming-webhook
  URL (host `https://hooks.slack.com`, password or extra `webhook_token` = the `/services/...`
  path).

Every message names the partition (its map index and key range), the error and the link to the
partition progress view of the run.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier, Variable

log = logging.getLogger(__name__)

EMAILS_VARIABLE = "dc2sf_alert_emails"
FROM_VARIABLE = "dc2sf_alert_from"
SMTP_CONN_VARIABLE = "dc2sf_smtp_conn_id"
SLACK_CONN_VARIABLE = "dc2sf_slack_webhook_conn_id"
PROGRESS_VIEW_PATH = "/dc2sf/runs"


def _variable(name: str) -> str:
    try:
        return str(Variable.get(name, default="") or "").strip()
    except Exception:  # a missing Variable backend must not hide the original failure
        log.warning("Could not read Variable %s for alerts", name, exc_info=True)
        return ""


def progress_url(dag_id: str, run_id: str) -> str:
    """Link to the partition progress view (absolute when `[api] base_url` is set)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{PROGRESS_VIEW_PATH}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def describe_failure(context: dict[str, Any]) -> dict[str, str]:
    """The facts of a failure, for any channel: what failed, where, why, and where to look."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "") or ""
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", "") or ""
    task_id = getattr(ti, "task_id", "") or "(run)"
    map_index = getattr(ti, "map_index", -1)
    rendered = getattr(ti, "rendered_map_index", None)
    if map_index is not None and map_index >= 0:
        partition = f"partition {map_index}" + (f" {rendered}" if rendered else "")
    else:
        partition = "whole run"
    exception = context.get("exception") or context.get("reason") or "see the task log"
    return {
        "dag_id": str(dag_id),
        "run_id": str(run_id),
        "task_id": str(task_id),
        "partition": partition,
        "try_number": str(getattr(ti, "try_number", "")),
        "error": str(exception)[:2000],
        "progress_url": progress_url(str(dag_id), str(run_id)),
    }


class LoadFailureNotifier(BaseNotifier):
    """Sends the failure to every configured channel; does nothing when none is configured."""

    def notify(self, context: Any) -> None:
        facts = describe_failure(context)
        emails = [e.strip() for e in _variable(EMAILS_VARIABLE).split(",") if e.strip()]
        if emails:
            self._send_email(emails, facts, context)
        slack_conn = _variable(SLACK_CONN_VARIABLE)
        if slack_conn:
            self._send_slack(slack_conn, facts)

    def _send_email(self, to: list[str], facts: dict[str, str], context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        subject = f"[Airflow] {facts['dag_id']} {facts['task_id']} failed: {facts['partition']}"
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in facts.items()
            if k != "progress_url"
        )
        body = (
            f"<p>{html.escape(subject)}</p><table>{rows}</table>"
            f"<p><a href='{html.escape(facts['progress_url'])}'>Partition progress</a></p>"
        )
        notifier = SmtpNotifier(
            to=to,
            from_email=_variable(FROM_VARIABLE) or None,
            subject=_jinja_literal(subject),
            html_content=_jinja_literal(body),
            smtp_conn_id=_variable(SMTP_CONN_VARIABLE) or "smtp_default",
        )
        notifier.notify(context)

    def _send_slack(self, conn_id: str, facts: dict[str, str]) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=conn_id)
        connection = hook.get_connection(conn_id)
        path = connection.password or connection.extra_dejson.get("webhook_token", "")
        text = (
            f":red_circle: *{facts['dag_id']}* `{facts['task_id']}` failed — {facts['partition']}\n"
            f"```{facts['error'][:1500]}```\n<{facts['progress_url']}|Partition progress>"
        )
        hook.run(
            endpoint=path,
            data=json.dumps({"text": text}),
            headers={"Content-Type": "application/json"},
        )


def _jinja_literal(text: str) -> str:
    """SmtpNotifier renders its fields with Jinja; an error message may contain `{{`."""
    return "{% raw %}" + text.replace("{% endraw %}", "{ % endraw % }") + "{% endraw %}"


def failure_notifiers() -> list[LoadFailureNotifier]:
    """The task-level `on_failure_callback` list for the load DAG."""
    return [LoadFailureNotifier()]


def notify_run_failure(context: Any) -> None:
    """DAG-level failure callback. A plain function, because `dags test` cannot run a notifier
    object as a DAG callback (apache/airflow#64649); in production both work."""
    LoadFailureNotifier().notify(context)
