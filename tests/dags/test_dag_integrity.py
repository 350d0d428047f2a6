"""Every DAG in dags/ imports cleanly, without network or DB at parse time, and is operable:
an owner, tags, retries. The fixture DAGs prove the checks can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from dag_loading import REPO_ROOT, load_dag_folder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def project_dags() -> dict:
    return load_dag_folder(REPO_ROOT / "dags")


def test_dag_folder_has_no_import_errors(project_dags: dict) -> None:
    assert project_dags["import_errors"] == {}


def test_every_dag_has_tags(project_dags: dict) -> None:
    untagged = [dag_id for dag_id, dag in project_dags["dags"].items() if not dag["tags"]]
    assert untagged == []


def test_every_task_has_a_real_owner_and_retries(project_dags: dict) -> None:
    problems = [
        f"{dag_id}.{t['task_id']}: owner={t['owner']!r} retries={t['retries']}"
        for dag_id, dag in project_dags["dags"].items()
        for t in dag["tasks"]
        if t["owner"] in ("", "airflow") or t["retries"] < 1
    ]
    assert problems == []


def test_checks_accept_a_well_formed_dag() -> None:
    result = load_dag_folder(FIXTURES / "good")
    assert result["import_errors"] == {}
    assert list(result["dags"]) == ["fixture_good"]
    task = result["dags"]["fixture_good"]["tasks"][0]
    assert task["owner"] == "data-eng" and task["retries"] == 2


def test_import_time_network_access_is_an_import_error() -> None:
    result = load_dag_folder(FIXTURES / "network")
    assert result["dags"] == {}
    (error,) = result["import_errors"].values()
    assert "import-time network access" in error


def test_import_time_metadata_access_is_an_import_error() -> None:
    result = load_dag_folder(FIXTURES / "db")
    assert result["dags"] == {}
    (error,) = result["import_errors"].values()
    assert "some_variable" in error
