"""A small client for the Airflow 3.3 REST API (``/api/v2``), as the demo and the e2e tests use it.

Why not ``apache-airflow-client`` or ``airflowctl``: neither is in the pinned environment, and the
handful of calls we need (token, trigger, run state, task instances, XComs, pools, variables) read
more clearly as plain HTTP, which is also what a user scripting a load against Astro would write.

Facts it relies on (reference/airflow-3.3.md §5): ``POST /auth/token`` answers 201 with an
``access_token`` (a JWT, 24 h); a trigger body must contain ``logical_date`` (``null`` for a manual
run); conf that fails the DAG's Param schema is refused with 400 and the schema's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "TERMINAL_RUN_STATES",
    "AirflowApiError",
    "AirflowClient",
    "RunTimeout",
]

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
_PAGE = 100  # [api] maximum_page_limit default


class AirflowApiError(RuntimeError):
    """A non-2xx answer, with the server's own message (``detail``) kept readable."""

    def __init__(self, method: str, path: str, status_code: int, detail: Any) -> None:
        self.method = method
        self.path = path
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{method} {path} -> {status_code}: {self.message}")

    @property
    def message(self) -> str:
        """The human part of ``detail`` (FastAPI puts a string, a dict or a 422 list there)."""
        detail = self.detail
        if isinstance(detail, Mapping) and "detail" in detail:
            detail = detail["detail"]
        if isinstance(detail, list):  # pydantic 422: [{"loc", "msg", ...}]
            return "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                if isinstance(d, Mapping)
                else str(d)
                for d in detail
            )
        if isinstance(detail, Mapping):
            return str(detail.get("message") or detail.get("reason") or json.dumps(detail))
        return str(detail)


class RunTimeout(TimeoutError):
    """A DAG run did not reach a terminal state in time; carries the last state seen."""

    def __init__(self, dag_id: str, run_id: str, state: str | None, timeout: float) -> None:
        self.state = state
        super().__init__(f"{dag_id}/{run_id} still {state!r} after {timeout:.0f}s")


class AirflowClient:
    """JWT-authenticated calls to one api-server.

    The token is fetched on first use and fetched again once if a call answers 401 (tokens
    expire; a restarted api-server with a new secret refuses the old one).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def token(self, *, refresh: bool = False) -> str:
        """A JWT from ``POST /auth/token`` (cached)."""
        if self._token is None or refresh:
            response = self._http.post(
                "/auth/token", json={"username": self._username, "password": self._password}
            )
            if response.status_code not in (200, 201):
                raise AirflowApiError("POST", "/auth/token", response.status_code, _body(response))
            self._token = str(response.json()["access_token"])
        return self._token

    def request(
        self, method: str, path: str, *, expect: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One authenticated call. Raises :class:`AirflowApiError` on a non-2xx status unless
        the status is in ``expect`` (then the response is returned for the caller to read)."""
        response = self._send(method, path, **kwargs)
        if response.status_code == 401:
            self.token(refresh=True)
            response = self._send(method, path, **kwargs)
        if response.is_success or response.status_code in expect:
            return response
        raise AirflowApiError(method, path, response.status_code, _body(response))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.RemoteProtocolError:
            # uvicorn closes idle keep-alive connections after 5 s; a poll that reuses one just
            # as it closes gets "Server disconnected". Safe to resend unless it creates things.
            if method == "POST":
                raise
            return self._http.request(method, path, headers=headers, **kwargs)

    def _paged(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        offset = 0
        while True:
            body = self.request(
                "GET", path, params={**(params or {}), "limit": _PAGE, "offset": offset}
            ).json()
            items = body.get(key, [])
            yield from items
            offset += len(items)
            if not items or offset >= body.get("total_entries", 0):
                return

    # -- health, DAGs ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no auth needed): metadatabase, scheduler, triggerer,
        dag_processor, each with a ``status``."""
        response = self._http.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG, or ``None`` while the dag-processor has not serialised it yet."""
        response = self.request("GET", f"/api/v2/dags/{dag_id}", expect=(404,))
        return None if response.status_code == 404 else dict(response.json())

    def unpause(self, dag_id: str) -> dict[str, Any]:
        """Runs of a paused DAG stay queued forever; the stack unpauses at creation, but a DAG
        paused by hand (or by a previous test) needs this."""
        return dict(
            self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).json()
        )

    def import_errors(self) -> list[dict[str, Any]]:
        """Files the dag-processor failed to import, with their tracebacks."""
        return list(self._paged("/api/v2/importErrors", "import_errors"))

    # -- runs -----------------------------------------------------------------------------------

    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Start a manual run (``logical_date: null``, like the UI's trigger button and
        ``airflow dags trigger``). Returns the DAG run; its ``dag_run_id`` names it."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        if note:
            body["note"] = note
        return dict(self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body).json())

    def trigger_error(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        """The message a trigger with this (invalid) conf is refused with.

        Raises ``AssertionError`` if the run was accepted: callers use this to prove the
        DAG's Param schema guards the trigger."""
        response = self.request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": dict(conf)},
            expect=(400, 422),
        )
        if response.is_success:
            run = response.json()
            raise AssertionError(f"conf {dict(conf)!r} was accepted: run {run.get('dag_run_id')}")
        return AirflowApiError(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", response.status_code, _body(response)
        ).message

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json())

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get_run(dag_id, run_id)["state"])

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 600.0,
        poll: float = 2.0,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run is ``success`` or ``failed``; returns the run.

        ``on_poll`` sees the run after every poll (the demo draws its progress there). Raises
        :class:`RunTimeout` with the last state after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        state: str | None = None
        while True:
            run = self.get_run(dag_id, run_id)
            state = run.get("state")
            if on_poll is not None:
                on_poll(run)
            if state in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() >= deadline:
                raise RunTimeout(dag_id, run_id, state, timeout)
            time.sleep(poll)

    # -- task instances, XComs ------------------------------------------------------------------

    def task_instances(
        self, dag_id: str, run_id: str, *, task_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones included, one row per map index)."""
        params = {"task_id": task_id} if task_id else None
        return list(
            self._paged(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances", params
            )
        )

    def mapped_task_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The map indexes of one mapped task (``task_id`` with its group, e.g.
        ``partition.load``), ordered by map index. Empty until the task has been expanded."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped"
        response = self.request("GET", path, expect=(404,))
        if response.status_code == 404:
            return []
        items = list(self._paged(path, "task_instances"))
        return sorted(items, key=lambda ti: ti.get("map_index", -1))

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str = "return_value",
        *,
        map_index: int = -1,
        default: Any = None,
    ) -> Any:
        """One XCom value, or ``default`` when it does not exist (yet).

        Values come back as stored: JSON-serialisable values as JSON. A string that holds JSON
        (older rows) is decoded, so callers always get Python objects.
        """
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.request("GET", path, params={"map_index": map_index}, expect=(404,))
        if response.status_code == 404:
            return default
        value = response.json().get("value")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> list[str]:
        """One try's log as text lines (level, event and any exception), for printing the
        reason of a failure without opening the UI."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request(
            "GET",
            path,
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
            expect=(404,),
        )
        if response.status_code == 404:
            return []
        lines: list[str] = []
        for entry in response.json().get("content", []):
            if not isinstance(entry, Mapping):
                lines.append(str(entry))
                continue
            text = f"{entry.get('level', '')} {entry.get('event', '')}".strip()
            for error in entry.get("error_detail") or []:
                if isinstance(error, Mapping):
                    text += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
            lines.append(text)
        return lines

    # -- pools, variables -----------------------------------------------------------------------

    def upsert_pool(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the pool, or update it if it exists (``default_pool`` always does)."""
        response = self.request("POST", "/api/v2/pools", json=dict(body), expect=(409,))
        if response.status_code == 409:
            name = body["name"]
            patch = {k: v for k, v in body.items() if k != "name"}
            response = self.request("PATCH", f"/api/v2/pools/{name}", json=patch)
        return dict(response.json())

    def get_pool(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v2/pools/{name}").json())

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        """Create or overwrite a variable."""
        body: dict[str, Any] = {"key": key, "value": value}
        if description is not None:
            body["description"] = description
        response = self.request("POST", "/api/v2/variables", json=body, expect=(409,))
        if response.status_code == 409:
            self.request("PATCH", f"/api/v2/variables/{key}", json=body)

    def get_variable(self, key: str) -> str | None:
        response = self.request("GET", f"/api/v2/variables/{key}", expect=(404,))
        return None if response.status_code == 404 else str(response.json()["value"])


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
