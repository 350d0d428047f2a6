"""Astro's parse test (`astro dev parse`, run by `astro deploy`), adapted for Airflow 3.3.

The Astro CLI template calls `DagBag(include_examples=False)`, which raises TypeError on 3.3
because the parameter was removed; this copy calls `DagBag()` and keeps the template's behaviour:
every DAG file imports, with connections/variables/env lookups patched so parsing never needs a
live metadata DB.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseHook, Connection, Variable


@contextmanager
def suppress_logging(namespace: str):
    logger = logging.getLogger(namespace)
    old_value = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = old_value


def get_import_errors() -> list[tuple[str | None, str | None]]:
    """Return (relative path, error) for every DAG file that fails to import."""
    with suppress_logging("airflow"):
        dag_bag = DagBag()

        def strip_path_prefix(path: str) -> str:
            return os.path.relpath(path, os.environ.get("AIRFLOW_HOME", os.getcwd()))

        return [(None, None)] + [
            (strip_path_prefix(k), v.strip()) for k, v in dag_bag.import_errors.items()
        ]


def _exceptions() -> set[str]:
    path = Path(__file__).with_name("dag_integrity_exceptions.txt")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def basehook_get_connection_monkeypatch(key: str, *args, **kwargs) -> Connection:
    return Connection(conn_id=key, conn_type="http")


def variable_get_monkeypatch(key: str, default_var=None, *args, **kwargs):
    return default_var if default_var is not None else "NON_DEFAULT_MOCKED_VARIABLE_VALUE"


@pytest.fixture(autouse=True)
def _no_live_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BaseHook, "get_connection", basehook_get_connection_monkeypatch)
    monkeypatch.setattr(Variable, "get", variable_get_monkeypatch)


@pytest.mark.parametrize(
    "rel_path,rv", get_import_errors(), ids=[x[0] for x in get_import_errors()]
)
def test_file_imports(rel_path: str | None, rv: str | None) -> None:
    """Each DAG file parses without import errors (unless listed as an accepted exception)."""
    if rel_path and rv and rel_path not in _exceptions():
        raise Exception(f"{rel_path} failed to import with message \n {rv}")
