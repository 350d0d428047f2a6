"""Read ``airflow_settings.yaml`` (the Astro CLI format) into what a local Airflow needs.

``astro dev start`` loads this file into its containers; our own stack (``devstack``) does the same
without Docker, so one file stays the source of truth for connections, pools and variables in the
demo, the e2e tests and ``astro dev``. Connections become ``AIRFLOW_CONN_<ID>`` environment values
(JSON, the form Airflow reads with the fewest escaping pitfalls); pools and variables become REST
payloads or ``airflow pools set`` / ``airflow variables set`` arguments.

The field names are the Astro CLI's (``settings/types.go``): ``conn_id``, ``conn_type``,
``conn_host``, ``conn_schema``, ``conn_login``, ``conn_password``, ``conn_port``, ``conn_uri``,
``conn_extra`` (a YAML mapping), ``pool_name``, ``pool_slot`` (singular), ``pool_description``,
``variable_name``, ``variable_value``.

No Airflow import here: this module is used before Airflow is configured (and by unit tests).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

__all__ = [
    "AirflowSettings",
    "ConnectionSpec",
    "PoolSpec",
    "SettingsError",
    "VariableSpec",
    "emulator_overrides",
    "load_settings",
    "parse_settings",
]


class SettingsError(ValueError):
    """``airflow_settings.yaml`` is not in the shape the Astro CLI accepts."""


@dataclass(frozen=True)
class ConnectionSpec:
    """One ``connections`` entry. Empty YAML fields are ``None`` and left out of the output."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_name(self) -> str:
        """The variable Airflow's environment secrets backend looks up for this id."""
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"

    def to_json(self) -> str:
        """The ``AIRFLOW_CONN_*`` value. ``conn_uri`` wins when set (as in the Astro CLI)."""
        if self.uri:
            return self.uri
        body: dict[str, Any] = {"conn_type": self.conn_type}
        for key in ("host", "schema", "login", "password", "port"):
            value = getattr(self, key)
            if value is not None and value != "":
                body[key] = value
        if self.extra:
            body["extra"] = self.extra
        return json.dumps(body, separators=(",", ":"))

    def to_uri(self) -> str:
        """An Airflow connection URI (``airflow connections add --conn-uri``); extras travel in
        ``__extra__`` as JSON so nested or non-string values survive."""
        if self.uri:
            return self.uri
        scheme = (self.conn_type or "").replace("_", "-")
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = quote(self.host or "", safe="")
        port = f":{self.port}" if self.port else ""
        path = f"/{quote(self.schema, safe='')}" if self.schema else ""
        query = f"?__extra__={quote(json.dumps(self.extra), safe='')}" if self.extra else ""
        return f"{scheme}://{auth}{host}{port}{path}{query}"

    def redacted(self) -> dict[str, Any]:
        """For logs and error messages: the shape, never a secret."""
        secret_words = ("password", "secret", "token", "key", "private")
        extra = {
            k: ("***" if any(w in k.lower() for w in secret_words) and v else v)
            for k, v in self.extra.items()
        }
        return {
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "host": self.host,
            "login": self.login,
            "password": "***" if self.password else None,
            "extra": extra,
        }


@dataclass(frozen=True)
class PoolSpec:
    """One ``pools`` entry."""

    name: str
    slots: int
    description: str = ""

    def rest_body(self) -> dict[str, Any]:
        """``POST /api/v2/pools`` body. Deferred tasks do not hold a slot: a staggered partition
        waiting in the triggerer must not block a loading one."""
        return {
            "name": self.name,
            "slots": self.slots,
            "description": self.description,
            "include_deferred": False,
        }

    def cli_args(self) -> list[str]:
        """``airflow pools set NAME SLOTS DESCRIPTION``."""
        return ["pools", "set", self.name, str(self.slots), self.description]


@dataclass(frozen=True)
class VariableSpec:
    """One ``variables`` entry. Values are strings, as Airflow stores them."""

    key: str
    value: str

    def rest_body(self) -> dict[str, Any]:
        """``POST /api/v2/variables`` body."""
        return {"key": self.key, "value": self.value}

    def cli_args(self) -> list[str]:
        """``airflow variables set KEY VALUE``."""
        return ["variables", "set", self.key, self.value]


@dataclass(frozen=True)
class AirflowSettings:
    """Everything ``airflow_settings.yaml`` defines, ready to hand to a local Airflow."""

    connections: tuple[ConnectionSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    variables: tuple[VariableSpec, ...] = ()

    def connection(self, conn_id: str) -> ConnectionSpec:
        for conn in self.connections:
            if conn.conn_id == conn_id:
                return conn
        raise KeyError(f"connection {conn_id!r} is not in airflow_settings.yaml")

    def connection_env(self) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}`` for every connection."""
        return {c.env_name: c.to_json() for c in self.connections}

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> AirflowSettings:
        """A copy with some connection fields replaced, e.g. to point at the emulator.

        ``overrides`` maps a conn_id to fields of :class:`ConnectionSpec`; ``extra`` is merged key
        by key (so the file's other extras stay; a ``None`` for a key the file lacks adds nothing),
        everything else replaces. An override for an id
        the file lacks adds that connection: tests can bring their own.
        """
        known = {c.conn_id for c in self.connections}
        conns: list[ConnectionSpec] = []
        for conn in self.connections:
            patch = dict(overrides.get(conn.conn_id, {}))
            extra = {**conn.extra, **patch.pop("extra", {})}
            extra = {k: v for k, v in extra.items() if k in conn.extra or v is not None}
            conns.append(replace(conn, extra=extra, **patch))
        for conn_id, patch in overrides.items():
            if conn_id not in known:
                conns.append(ConnectionSpec(conn_id=conn_id, **dict(patch)))
        return replace(self, connections=tuple(conns))

    def with_pools(self, pools: Iterable[PoolSpec]) -> AirflowSettings:
        """A copy with pools added or resized by name (tests shrink the demo's pool)."""
        by_name = {p.name: p for p in self.pools}
        by_name.update({p.name: p for p in pools})
        return replace(self, pools=tuple(by_name.values()))


def _text(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    return str(value)


def _connection(entry: Mapping[str, Any], where: str) -> ConnectionSpec:
    conn_id = _text(entry, "conn_id")
    if not conn_id:
        raise SettingsError(f"{where}: conn_id is required")
    conn_type = _text(entry, "conn_type")
    uri = _text(entry, "conn_uri")
    if not conn_type and not uri:
        raise SettingsError(f"{where} ({conn_id}): conn_type (or conn_uri) is required")
    extra = entry.get("conn_extra") or {}
    if isinstance(extra, str):
        # The Astro CLI also accepts a JSON string here.
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{where} ({conn_id}): conn_extra is not JSON: {exc}") from exc
    if not isinstance(extra, dict):
        raise SettingsError(f"{where} ({conn_id}): conn_extra must be a mapping")
    port = entry.get("conn_port")
    if port is not None and port != "":
        try:
            port = int(port)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{where} ({conn_id}): conn_port must be an integer") from exc
    else:
        port = None
    return ConnectionSpec(
        conn_id=conn_id,
        conn_type=conn_type,
        host=_text(entry, "conn_host"),
        schema=_text(entry, "conn_schema"),
        login=_text(entry, "conn_login"),
        password=_text(entry, "conn_password"),
        port=port,
        uri=uri,
        extra=copy.deepcopy(extra),
    )


def _pool(entry: Mapping[str, Any], where: str) -> PoolSpec:
    name = _text(entry, "pool_name")
    if not name:
        raise SettingsError(f"{where}: pool_name is required")
    slots = entry.get("pool_slot")
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
        raise SettingsError(
            f"{where} ({name}): pool_slot must be a non-negative integer "
            "(note the singular key, as in the Astro CLI)"
        )
    return PoolSpec(name=name, slots=slots, description=_text(entry, "pool_description") or "")


def _variable(entry: Mapping[str, Any], where: str) -> VariableSpec:
    key = _text(entry, "variable_name")
    if not key:
        raise SettingsError(f"{where}: variable_name is required")
    value = entry.get("variable_value")
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        # Non-string YAML values are stored as JSON, so `Variable.get(deserialize_json=True)` works.
        text = json.dumps(value)
    return VariableSpec(key=key, value=text)


def _section(root: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    entries = root.get(name) or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise SettingsError(f"airflow.{name} must be a list of mappings")
    return entries


def parse_settings(document: Mapping[str, Any] | None) -> AirflowSettings:
    """Validate and convert an already-parsed YAML document."""
    if not document:
        return AirflowSettings()
    root = document.get("airflow")
    if root is None:
        return AirflowSettings()
    if not isinstance(root, Mapping):
        raise SettingsError("the top-level key 'airflow' must be a mapping")
    connections = tuple(
        _connection(e, f"airflow.connections[{i}]")
        for i, e in enumerate(_section(root, "connections"))
    )
    ids = [c.conn_id for c in connections]
    if len(ids) != len(set(ids)):
        raise SettingsError(f"duplicate conn_id in airflow.connections: {sorted(ids)}")
    pools = tuple(_pool(e, f"airflow.pools[{i}]") for i, e in enumerate(_section(root, "pools")))
    variables = tuple(
        _variable(e, f"airflow.variables[{i}]") for i, e in enumerate(_section(root, "variables"))
    )
    return AirflowSettings(connections=connections, pools=pools, variables=variables)


def load_settings(path: str | Path) -> AirflowSettings:
    """Read ``airflow_settings.yaml``; a missing file is an error (it is part of the project)."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from exc
    return parse_settings(document)


def emulator_overrides(
    settings: AirflowSettings, base_url: str, ca_bundle: str | Path | None
) -> dict[str, dict[str, Any]]:
    """Point every ``salesforce`` connection at a local emulator.

    ``login_url`` is where the hooks log in (the emulator answers OAuth, SOAP and Data Cloud on one
    origin) and ``ca_bundle`` is the emulator's throwaway CA; with plain HTTP the CA is dropped.
    A connection that names a Salesforce connection in ``salesforce_conn_id`` (``datacloud_default``,
    type ``http``) logs in through it but talks to the Data Cloud tenant host itself, with its own
    TLS settings: it gets the CA too.
    """
    ca = str(ca_bundle) if ca_bundle else None
    salesforce = {c.conn_id for c in settings.connections if c.conn_type == "salesforce"}
    overrides: dict[str, dict[str, Any]] = {}
    for conn in settings.connections:
        if conn.conn_id in salesforce:
            overrides[conn.conn_id] = {
                "extra": {"login_url": base_url.rstrip("/"), "ca_bundle": ca}
            }
        elif conn.extra.get("salesforce_conn_id") in salesforce:
            overrides[conn.conn_id] = {"extra": {"ca_bundle": ca}}
    return overrides
