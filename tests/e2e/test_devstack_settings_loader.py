"""``devstack.settings_loader``: the Astro-format ``airflow_settings.yaml`` becomes the env
connections, pools and variables the local stack gets. Fast (no Airflow, no servers): these run
with the unit tests even though they sit next to the e2e tests of the stack they feed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from devstack.settings_loader import (
    ConnectionSpec,
    PoolSpec,
    SettingsError,
    emulator_overrides,
    load_settings,
    parse_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

DOC = {
    "airflow": {
        "connections": [
            {
                "conn_id": "salesforce_default",
                "conn_type": "salesforce",
                "conn_host": None,
                "conn_login": "u@example.com",
                "conn_password": "p@ss:w/rd",
                "conn_schema": None,
                "conn_port": None,
                "conn_extra": {"security_token": "tkn", "domain": None, "version": "62.0"},
            },
            {
                "conn_id": "datacloud_default",
                "conn_type": "http",
                "conn_schema": "https",
                "conn_port": "8443",
                "conn_extra": {"salesforce_conn_id": "salesforce_default"},
            },
            {"conn_id": "by_uri", "conn_uri": "postgres://a:b@h:5432/db"},
        ],
        "pools": [{"pool_name": "salesforce_bulk", "pool_slot": 5, "pool_description": "d"}],
        "variables": [
            {"variable_name": "empty", "variable_value": None},
            {"variable_name": "text", "variable_value": "hello"},
            {"variable_name": "structured", "variable_value": {"a": [1, 2]}},
        ],
    }
}


def test_connections_become_airflow_env_json() -> None:
    env = parse_settings(DOC).connection_env()
    assert set(env) == {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT",
        "AIRFLOW_CONN_DATACLOUD_DEFAULT",
        "AIRFLOW_CONN_BY_URI",
    }
    sf = json.loads(env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    # Empty YAML fields are left out; extras keep their keys (Astro passes them through).
    assert sf == {
        "conn_type": "salesforce",
        "login": "u@example.com",
        "password": "p@ss:w/rd",
        "extra": {"security_token": "tkn", "domain": None, "version": "62.0"},
    }
    dc = json.loads(env["AIRFLOW_CONN_DATACLOUD_DEFAULT"])
    assert dc["port"] == 8443 and dc["schema"] == "https"
    assert env["AIRFLOW_CONN_BY_URI"] == "postgres://a:b@h:5432/db"


def test_uri_form_escapes_credentials_and_carries_extra_as_json() -> None:
    conn = parse_settings(DOC).connection("salesforce_default")
    uri = conn.to_uri()
    parts = urlsplit(uri)
    assert parts.scheme == "salesforce"
    assert unquote(parts.password or "") == "p@ss:w/rd"
    extra = json.loads(parse_qs(parts.query)["__extra__"][0])
    assert extra["security_token"] == "tkn"
    assert (
        ConnectionSpec("x", conn_type="google_cloud_platform")
        .to_uri()
        .startswith("google-cloud-platform://")
    )


def test_pools_and_variables_give_rest_and_cli_forms() -> None:
    settings = parse_settings(DOC)
    (pool,) = settings.pools
    assert pool.rest_body() == {
        "name": "salesforce_bulk",
        "slots": 5,
        "description": "d",
        "include_deferred": False,
    }
    assert pool.cli_args() == ["pools", "set", "salesforce_bulk", "5", "d"]
    values = {v.key: v.value for v in settings.variables}
    assert values == {"empty": "", "text": "hello", "structured": '{"a": [1, 2]}'}
    assert settings.variables[1].cli_args() == ["variables", "set", "text", "hello"]


def test_emulator_overrides_point_salesforce_connections_at_the_emulator() -> None:
    settings = parse_settings(DOC)
    patched = settings.with_overrides(
        emulator_overrides(settings, "https://127.0.0.1:9999/", "/tmp/ca.pem")
    )
    sf = json.loads(patched.connection_env()["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    assert sf["extra"]["login_url"] == "https://127.0.0.1:9999"
    assert sf["extra"]["ca_bundle"] == "/tmp/ca.pem"
    assert sf["extra"]["security_token"] == "tkn"  # the file's other extras survive
    # The http Data Cloud connection logs in through salesforce_conn_id but reaches the tenant
    # host with its own TLS settings: it trusts the CA too, and keeps its other extras.
    dc = patched.connection("datacloud_default")
    assert dc.extra == {"salesforce_conn_id": "salesforce_default", "ca_bundle": "/tmp/ca.pem"}
    assert "login_url" not in dc.extra
    # Plain HTTP emulator: no CA key appears.
    plain = settings.with_overrides(emulator_overrides(settings, "http://127.0.0.1:1", None))
    assert "ca_bundle" not in plain.connection("salesforce_default").extra
    assert "ca_bundle" not in plain.connection("datacloud_default").extra


def test_overrides_can_add_connections_and_pools_can_be_resized() -> None:
    settings = parse_settings(DOC).with_overrides(
        {"extra_conn": {"conn_type": "http", "host": "example.com"}}
    )
    assert settings.connection("extra_conn").host == "example.com"
    resized = settings.with_pools([PoolSpec("salesforce_bulk", 2), PoolSpec("new", 1)])
    assert {p.name: p.slots for p in resized.pools} == {"salesforce_bulk": 2, "new": 1}


def test_redacted_form_hides_secrets() -> None:
    text = json.dumps(parse_settings(DOC).connection("salesforce_default").redacted())
    assert "p@ss" not in text and "tkn" not in text
    assert "u@example.com" in text


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"airflow": {"connections": [{"conn_type": "http"}]}}, "conn_id is required"),
        ({"airflow": {"connections": [{"conn_id": "x"}]}}, "conn_type"),
        (
            {"airflow": {"connections": [{"conn_id": "x", "conn_type": "http", "conn_port": "a"}]}},
            "conn_port",
        ),
        (
            {
                "airflow": {
                    "connections": [{"conn_id": "x", "conn_type": "http", "conn_extra": "{"}]
                }
            },
            "not JSON",
        ),
        (
            {
                "airflow": {
                    "connections": [
                        {"conn_id": "x", "conn_type": "http"},
                        {"conn_id": "x", "conn_type": "http"},
                    ]
                }
            },
            "duplicate",
        ),
        ({"airflow": {"pools": [{"pool_name": "p", "pool_slots": 3}]}}, "singular"),
        ({"airflow": {"pools": [{"pool_slot": 3}]}}, "pool_name"),
        ({"airflow": {"variables": [{"variable_value": "v"}]}}, "variable_name"),
        ({"airflow": {"pools": {"pool_name": "p"}}}, "list of mappings"),
        ({"airflow": ["x"]}, "must be a mapping"),
    ],
)
def test_malformed_settings_are_refused_with_the_field_named(doc: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(doc)


def test_extra_as_json_string_is_accepted() -> None:
    doc = {
        "airflow": {
            "connections": [{"conn_id": "x", "conn_type": "http", "conn_extra": '{"a": 1}'}]
        }
    }
    assert parse_settings(doc).connection("x").extra == {"a": 1}


def test_empty_documents_give_empty_settings() -> None:
    assert parse_settings(None).connections == ()
    assert parse_settings({"airflow": None}).pools == ()


def test_the_repo_settings_file_loads_with_the_demo_connections_and_pool() -> None:
    settings = load_settings(REPO_ROOT / "airflow_settings.yaml")
    assert settings.connection("salesforce_default").conn_type == "salesforce"
    assert settings.connection("datacloud_default").extra["salesforce_conn_id"] == (
        "salesforce_default"
    )
    assert "salesforce_bulk" in {p.name for p in settings.pools}


def test_invalid_yaml_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "airflow_settings.yaml"
    path.write_text("airflow: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(path)
