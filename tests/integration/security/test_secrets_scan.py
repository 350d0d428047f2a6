"""Tokens, passwords and session ids never appear in logs, XComs, dead-letter files or exceptions.

The load DAG runs in-process (`dag.test`) against the emulator with session expiry and 5xx faults
on (so the retry, re-login and token-exchange paths log too) and one row that is dead-lettered.
Every token the emulator issued is recorded at issue time (the session store is wrapped), and
everything the run left behind is scanned for them and for the connection's password and security
token: captured log records at DEBUG, stdout/stderr, the Airflow log folder, every XCom of every
task instance, the dead-letter files, and the text of the exceptions a bad login raises.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from emulator.config import EmulatorConfig
from emulator.faults import FaultProfile, FaultSpec
from include.dc2sf.hooks.retry import CallCounter
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from tests.conftest import REPO_ROOT
from tests.support.loading import FAST_RETRY, assert_exact, source_rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PASSWORD = "emulator-password"  # tests/conftest.py's connection
SECURITY_TOKEN = "emulator-token"


def _record_issued_tokens(emu: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    issued: list[str] = []
    store = emu.state.sessions
    for name in ("issue_core", "issue_datacloud"):
        original = getattr(store, name)

        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            session = _original(*args, **kwargs)
            issued.append(session.token)
            return session

        monkeypatch.setattr(store, name, wrapper)
    return issued


def _secrets(issued: list[str]) -> dict[str, str]:
    found = {f"token#{i}": token for i, token in enumerate(issued)}
    for i, token in enumerate(issued):  # a token cut in a log line is still a leak
        found[f"token#{i}[-24:]"] = token[-24:]
    found.update(password=PASSWORD, security_token=SECURITY_TOKEN, both=PASSWORD + SECURITY_TOKEN)
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def test_nothing_secret_is_left_behind_by_a_faulty_run(
    emulator_factory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emu = emulator_factory(EmulatorConfig(time_scale=0.0), rows=1_200, accounts=12)
    issued = _record_issued_tokens(emu, monkeypatch)
    bad_key = sorted(source_rows(emu))[10]
    with emu.state.connect() as conn:  # one row Salesforce refuses: a dead letter is written
        conn.execute(
            'UPDATE "Opportunity_Source__dlm" SET "StageName__c" = NULL WHERE "ExternalId__c" = ?',
            (bad_key,),
        )
        conn.commit()
    emu.state.faults.set_profile(
        FaultProfile(
            seed=3,
            groups={
                "bulk2": FaultSpec(session_expiry_rate=0.1, error_5xx_rate=0.05),
                "datacloud": FaultSpec(session_expiry_rate=0.2),
                "limits": FaultSpec(session_expiry_rate=0.3),
            },
        )
    )
    started = time.time()
    dead_root = tmp_path / "dead"
    conf = {
        "partitions": 2,
        "stagger_minutes": 0,
        "records_per_job": 300,
        "max_in_flight": 2,
        "page_size": 300,
        "failure_threshold": 0.01,
        "min_success_rate": 0.99,
        "dead_letter_root": f"file://{dead_root}",
    }
    caplog.set_level("DEBUG")
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    run = bag.get_dag("datacloud_to_salesforce").test(run_conf=conf, logical_date=None)
    injected = dict(emu.state.faults.injected)
    emu.state.faults.set_profile(FaultProfile())
    assert run.state == "success"
    assert injected.get("session_expiry", 0) > 0, injected  # the re-login paths did run
    assert assert_exact(emu, [k for k in source_rows(emu) if k != bad_key]) == 1_199
    assert len(issued) >= 2  # at least one core and one Data Cloud token

    secrets = _secrets(issued)
    scanned: dict[str, str] = {"caplog": caplog.text}
    out, err = capfd.readouterr()
    scanned["stdout"], scanned["stderr"] = out, err
    # Task and processor log files written during the run.
    log_root = Path(os.environ.get("AIRFLOW_HOME", REPO_ROOT / ".airflow")) / "logs"
    for path in log_root.rglob("*") if log_root.exists() else []:
        if path.is_file() and path.stat().st_mtime >= started - 1:
            scanned[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    xcoms: list[Any] = []
    for ti in run.get_task_instances():
        for key in ("return_value", "progress"):
            value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key=key)
            if value is not None:
                xcoms.append(value)
    scanned["xcom"] = json.dumps(xcoms, default=str)
    letters = [p for p in dead_root.rglob("*.csv")]
    scanned.update({str(p): p.read_text(encoding="utf-8") for p in letters})
    assert len(xcoms) >= 4  # plan, 2 partition summaries/progress, reconcile
    assert len(letters) == 1 and bad_key in scanned[str(letters[0])]
    assert sum(len(text) for text in scanned.values()) > 10_000  # there was a lot to scan
    leaks = {where: _leaks(text, secrets) for where, text in scanned.items()}
    assert {where: names for where, names in leaks.items() if names} == {}


def test_a_failed_login_does_not_put_the_password_in_the_exception(
    emulator_factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emulator_factory(
        EmulatorConfig(time_scale=0.0, users={"loader@example.com": "other-password-and-token"})
    )
    hook = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=CallCounter())
    caplog.set_level("DEBUG")
    with pytest.raises(Exception) as raised:
        hook.limits()
    chain: list[str] = []
    exc: BaseException | None = raised.value
    while exc is not None:
        chain.append(f"{type(exc).__name__}: {exc!s} {exc!r} {getattr(exc, 'content', '')}")
        exc = exc.__cause__ or exc.__context__
    text = "\n".join(chain) + caplog.text
    assert "INVALID_LOGIN" in text or "Authentication" in text  # it says what went wrong
    assert _leaks(text, _secrets([])) == []
