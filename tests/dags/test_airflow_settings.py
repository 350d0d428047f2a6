"""airflow_settings.yaml is what `astro dev start`, `make demo` and the e2e tests load: it must parse
and define every connection, pool and variable the DAGs reference."""

from __future__ import annotations

import re

import pytest
import yaml
from dag_loading import REPO_ROOT, load_dag_folder

SETTINGS = REPO_ROOT / "airflow_settings.yaml"
DEFAULT_POOL = "default_pool"
VARIABLE_REFERENCE = re.compile(
    r"""Variable\.get\(\s*["']([A-Za-z0-9_.-]+)["']|var\.value\.([A-Za-z0-9_]+)"""
)


@pytest.fixture(scope="module")
def settings() -> dict:
    return yaml.safe_load(SETTINGS.read_text())["airflow"]


def _source_files() -> list:
    return [
        p
        for folder in ("dags", "include", "plugins")
        for p in (REPO_ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    ]


def test_settings_file_has_the_astro_shape(settings: dict) -> None:
    for conn in settings["connections"]:
        assert {"conn_id", "conn_type"} <= set(conn), conn
    for pool in settings["pools"]:
        assert {"pool_name", "pool_slot"} <= set(pool), pool
        assert isinstance(pool["pool_slot"], int) and pool["pool_slot"] > 0
    for variable in settings["variables"]:
        assert {"variable_name", "variable_value"} <= set(variable), variable


def test_every_referenced_pool_and_connection_is_defined(settings: dict) -> None:
    dags = load_dag_folder()["dags"]
    pools = {p["pool_name"] for p in settings["pools"]} | {DEFAULT_POOL}
    conns = {c["conn_id"] for c in settings["connections"]}
    missing = [
        f"{dag_id}.{t['task_id']}: {kind} {name!r}"
        for dag_id, dag in dags.items()
        for t in dag["tasks"]
        for kind, name in [("pool", t["pool"])] + [("connection", c) for c in t["conn_ids"]]
        if name not in (pools if kind == "pool" else conns)
    ]
    assert missing == []


def test_every_referenced_variable_is_defined(settings: dict) -> None:
    defined = {v["variable_name"] for v in settings["variables"]}
    referenced = {
        name
        for path in _source_files()
        for match in VARIABLE_REFERENCE.finditer(path.read_text())
        for name in match.groups()
        if name
    }
    assert referenced - defined == set()


def test_variable_scan_sees_both_reference_styles() -> None:
    text = 'Variable.get("alpha")\n"{{ var.value.beta }}"'
    found = {n for m in VARIABLE_REFERENCE.finditer(text) for n in m.groups() if n}
    assert found == {"alpha", "beta"}
