"""Failure alerts through Airflow Notifiers: email (SmtpNotifier) and, optionally, a Slack webhook.

Alerts are configured by Variables, read when a failure happens (never at DAG parse time, which
must not touch the metadata DB), and are off while unset:

- `dc2sf_alert_emails`: comma-separated recipients; mail goes through the `smtp` connection named
  by `dc2sf_smtp_conn_id` (default `smtp_default`), from `dc2sf_alert_from` if set (else the
  connection's `from_email` extra, else `[email] from_email`).
- `dc2sf_slack_webhook_conn_id`: an `http` connection whose host is the Slack incoming-webhook
  URL (host `https://hooks.slack.com`, password or extra `webhook_token` = the `/services/...`
  path). The path is a secret: it is kept in the password field (masked in logs) and never logged.

Every message names the partition (its map index and key range), the error and the link to the
partition progress view of the run, and says what to do next: a permanent failure (failed at once,
not retried: `include/dc2sf/engine/errors.py`) needs its cause fixed as the error says; a transient
one has used up its retries and resumes from its checkpoint when cleared.

One alert per failure: each task alerts on its final failure only (Airflow runs a task's
`on_failure_callback` once, not per retry), so the run-level callback stays silent when the run
failed because a task failed (reason `task_failure`): that task has already alerted. It alerts
for the failures no task reports (a run timeout, a deadlock).

Why the email is built here rather than with SmtpNotifier's Jinja templates: `notify()` is called
directly (it is already inside a notifier), so nothing would render a template, and an error text
may contain `{{`. Every SmtpNotifier field is therefore given as final text, which also keeps it
from re-rendering with the context's DAG: under `dags test` that is a `SerializedDAG` without
`get_template_env` (apache/airflow#64649). Each channel is tried on its own, so a broken SMTP
server does not also silence Slack, and a failing alert never hides the task's own error.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier, Variable
from airflow.sdk.exceptions import AirflowFailException

from include.dc2sf.engine.errors import is_permanent

log = logging.getLogger(__name__)

EMAILS_VARIABLE = "dc2sf_alert_emails"
FROM_VARIABLE = "dc2sf_alert_from"
SMTP_CONN_VARIABLE = "dc2sf_smtp_conn_id"
SLACK_CONN_VARIABLE = "dc2sf_slack_webhook_conn_id"
DEFAULT_SMTP_CONN_ID = "smtp_default"
PROGRESS_VIEW_PATH = "/dc2sf/runs"
MAX_ERROR_CHARS = 2000
#: The DAG run callback's reason when a task failed (each failed task alerts on its own).
TASK_FAILURE_REASON = "task_failure"
PERMANENT_NEXT_STEP = (
    "Not retried: this failure is permanent. Fix what the error names, then trigger the run "
    "again (or clear the task)."
)
RUN_NEXT_STEP = (
    "The partitions that did not finish are in the progress view; clear them to resume from "
    "their checkpoints."
)
TRANSIENT_NEXT_STEP = (
    "Airflow's retries are used up. Fix the cause, then clear the failed task: the load resumes "
    "from its checkpoint."
)


def _variable(name: str) -> str:
    """A Variable's value, "" when unset (Variable.get(default=...) in both the worker and the
    DAG processor)."""
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


def _partition(ti: Any, task: Any) -> str:
    """`partition 1 (externalOpp0000400 .. externalOpp0000800]`, from what the task knows.

    The rendered map index (`p1 (a .. b]`) is used when the task got that far; otherwise the load
    operator's own (rendered) `partition`/`range_start`/`range_end`, which are template fields
    and so already resolved by the time `execute` fails. Tasks that are not mapped are the run.
    """
    map_index = getattr(ti, "map_index", -1)
    if map_index is None or map_index < 0:
        return "whole run"
    number = getattr(task, "partition", None)
    label = f"partition {number if isinstance(number, int | str) and number != '' else map_index}"
    label += f" (map index {map_index})"
    start = getattr(task, "range_start", None)
    end = getattr(task, "range_end", None)
    if hasattr(task, "range_start") or hasattr(task, "range_end"):
        inclusive = str(getattr(task, "start_inclusive", "")).lower() == "true" and start
        label += f" keys {'[' if inclusive else '('}{start or 'start'} .. {end or 'end'}]"
    else:
        rendered = getattr(ti, "rendered_map_index", None)
        if rendered:
            label += f" {rendered}"
    return label


def describe_failure(context: dict[str, Any]) -> dict[str, str]:
    """The facts of a failure, for any channel: what failed, where, why, and where to look.

    Works with a task callback's context (`ti`, `task`, `exception`) and with a DAG callback's
    (`dag_run`, `reason`, and the last task instance as `ti`).
    """
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or getattr(ti, "task", None)
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = (
        getattr(ti, "dag_id", None)
        or getattr(dag_run, "dag_id", None)
        or getattr(dag, "dag_id", None)
        or ""
    )
    run_id = (
        getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None) or context.get("run_id")
    )
    is_run_callback = "reason" in context and "exception" not in context
    exception = context.get("exception")
    permanent = isinstance(exception, AirflowFailException) or (
        isinstance(exception, BaseException) and is_permanent(exception)
    )
    if isinstance(exception, AirflowFailException) and exception.__cause__ is not None:
        # fail_fast's text already starts with the real error's class: no wrapper name.
        error = str(exception)
    elif exception is not None:
        error = (
            f"{type(exception).__name__}: {exception}"
            if isinstance(exception, BaseException)
            else str(exception)
        )
    elif context.get("reason"):
        error = f"run failed ({context['reason']})"
    else:
        error = "see the task log"
    if is_run_callback:
        task_id = "(run)"
        partition = "whole run" + (
            f"; last task {getattr(ti, 'task_id', '')} {_partition(ti, task)}" if ti else ""
        )
    else:
        task_id = getattr(ti, "task_id", "") or "(run)"
        partition = _partition(ti, task)
    return {
        "dag_id": str(dag_id),
        "run_id": str(run_id or ""),
        "task_id": str(task_id),
        "partition": partition,
        "try_number": str(getattr(ti, "try_number", "") or ""),
        "error": error[:MAX_ERROR_CHARS],
        "next_step": RUN_NEXT_STEP
        if is_run_callback
        else PERMANENT_NEXT_STEP
        if permanent
        else TRANSIENT_NEXT_STEP,
        "progress_url": progress_url(str(dag_id), str(run_id or "")),
    }


def email_subject(facts: dict[str, str]) -> str:
    return f"[Airflow] {facts['dag_id']} {facts['task_id']} failed: {facts['partition']}"


def email_html(facts: dict[str, str]) -> str:
    """A small HTML table of the facts plus the progress link (every value escaped)."""
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td><pre>{html.escape(v)}</pre></td></tr>"
        if k == "error"
        else f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in facts.items()
        if k != "next_step"  # its own paragraph below
    )
    url = html.escape(facts["progress_url"], quote=True)
    return (
        f"<p>{html.escape(email_subject(facts))}</p><table>{rows}</table>"
        f'<p><a href="{url}">Partition progress</a>: {url}</p>'
        f"<p>{html.escape(facts['next_step'])}</p>"
    )


def slack_text(facts: dict[str, str]) -> str:
    return (
        f":red_circle: *{facts['dag_id']}* `{facts['task_id']}` failed — {facts['partition']}\n"
        f"```{facts['error'][:1500]}```\n{facts['next_step']}\n"
        f"<{facts['progress_url']}|Partition progress>"
    )


def _from_email(conn_id: str) -> str | None:
    """`dc2sf_alert_from`, else the connection's `from_email` extra, else `[email] from_email`."""
    configured = _variable(FROM_VARIABLE)
    if configured:
        return configured
    try:
        from airflow.sdk import BaseHook

        extra = BaseHook.get_connection(conn_id).extra_dejson
        if extra.get("from_email"):
            return str(extra["from_email"])
    except Exception:
        log.warning("Could not read the from address of connection %s", conn_id, exc_info=True)
    from airflow.configuration import conf

    return conf.get("email", "from_email", fallback=None) or None


class LoadFailureNotifier(BaseNotifier):
    """Sends the failure to every configured channel; does nothing when none is configured."""

    def notify(self, context: Any) -> None:
        facts = describe_failure(context)
        emails = [e.strip() for e in _variable(EMAILS_VARIABLE).split(",") if e.strip()]
        slack_conn = _variable(SLACK_CONN_VARIABLE)
        if not emails and not slack_conn:
            log.info(
                "No alert channel configured (Variables %s, %s)",
                EMAILS_VARIABLE,
                SLACK_CONN_VARIABLE,
            )
            return
        if emails:
            try:
                self._send_email(emails, facts, context)
                log.info("Failure alert mailed to %d recipient(s)", len(emails))
            except Exception:
                log.exception("Failure alert by email failed (connection %s)", self._smtp_conn_id())
        if slack_conn:
            try:
                self._send_slack(slack_conn, facts)
                log.info("Failure alert posted to the Slack webhook of connection %s", slack_conn)
            except Exception as exc:
                # The exception text may contain the webhook URL (a secret): log only its type.
                log.error(
                    "Failure alert to Slack failed (connection %s): %s",
                    slack_conn,
                    type(exc).__name__,
                )

    @staticmethod
    def _smtp_conn_id() -> str:
        return _variable(SMTP_CONN_VARIABLE) or DEFAULT_SMTP_CONN_ID

    def _send_email(self, to: list[str], facts: dict[str, str], context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        conn_id = self._smtp_conn_id()
        from_email = _from_email(conn_id)
        if not from_email:
            raise ValueError(
                f"no sender address: set Variable {FROM_VARIABLE}, the 'from_email' extra of "
                f"connection {conn_id}, or [email] from_email"
            )
        notifier = SmtpNotifier(
            to=to,
            from_email=from_email,
            subject=email_subject(facts),
            html_content=email_html(facts),
            smtp_conn_id=conn_id,
        )
        notifier.notify(context)

    def _send_slack(self, conn_id: str, facts: dict[str, str]) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=conn_id)
        connection = hook.get_connection(conn_id)
        path = connection.password or connection.extra_dejson.get("webhook_token", "")
        hook.run(
            endpoint=path,
            data=json.dumps({"text": slack_text(facts)}),
            headers={"Content-Type": "application/json"},
            extra_options={"timeout": 30},
        )


def failure_notifiers() -> list[LoadFailureNotifier]:
    """The task-level `on_failure_callback` list for the load DAG."""
    return [LoadFailureNotifier()]


def notify_run_failure(context: Any) -> None:
    """DAG-level failure callback. A plain function, because `dags test` cannot run a notifier
    object as a DAG callback (apache/airflow#64649); in production both work.

    Silent when a task's failure failed the run: that task's own callback has alerted already.
    """
    if context.get("reason") == TASK_FAILURE_REASON:
        log.info("Run failed because a task failed; that task's alert has been sent")
        return
    LoadFailureNotifier().notify(context)
