"""Data Cloud Query API V2 hook, on the http provider's HttpHook.

Auth is the Data Cloud token exchange: the core session from the Salesforce connection is traded at
`{instance}/services/a360/token` for a Data Cloud token and the tenant host. The token is cached
and renewed before it expires, or at once on 401. Queries are `POST /api/v2/query` and, while
`done` is false, `GET /api/v2/query/{nextBatchId}`. Rows arrive as arrays ordered by
`metadata[col].placeInOrder`; numbers are decoded as `Decimal` so no value is rounded on the way
to Salesforce.

Decoding is `msgspec` (already an Airflow dependency; named in requirements.txt because this
module uses it directly) into a typed body whose rows are tuples, instead of the stdlib's
`json.loads(parse_float=Decimal)` into lists then copied into tuples. On a real 10,000-row page
(1.4 MB), CPU: 10.3 ms + 1.2 ms → ≈ 6-7 ms. The tuples hold only atomic values, so the garbage
collector does not track them; the stdlib's lists are tracked, and each page's 10,000 of them
counted towards full collections that walk every object the task process imported (~190,000).

Connection (type `http`, default `datacloud_default`): extras `salesforce_conn_id` (default
`salesforce_default`), optional `dataspace`, optional `ca_bundle` / `verify`. Host/schema are not
needed: the tenant host comes from the token exchange.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import requests
from airflow.providers.http.hooks.http import HttpHook

from include.dc2sf.hooks.retry import CallCounter, RetryPolicy, SessionExpired, call_with_retry
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.hooks.tls import session_for

TOKEN_EXCHANGE_GRANT = "urn:salesforce:grant-type:external:cdp"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: Renew the Data Cloud token this long before it expires (Salesforce's own client renews
#: every ~15 minutes; two hours is the usual lifetime).
TOKEN_RENEW_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    type_code: int | None


@dataclass(frozen=True)
class QueryBatch:
    """One batch of a Query V2 result: columns in `placeInOrder` order and the row tuples."""

    query_id: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    done: bool

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass
class _Token:
    access_token: str
    tenant_url: str
    expires_at: float


class _QueryBody(msgspec.Struct):
    """The parts of a Query V2 response body the hook reads (other keys are ignored)."""

    data: list[tuple[Any, ...]] | None = None
    metadata: dict[str, dict[str, Any]] | None = None
    queryId: Any = ""
    done: Any = True
    nextBatchId: Any = None


#: Numbers as Decimal (exact); rows straight into tuples. One decoder, reused (thread-safe).
_BODY_DECODER = msgspec.json.Decoder(_QueryBody, float_hook=Decimal)


class DataCloudQueryError(Exception):
    """The query itself was refused (400: bad SQL, unknown object or column). Not retried."""


class DataCloudHook(HttpHook):
    """Data Cloud Query V2 with token exchange, caching, retries and typed row decoding."""

    conn_name_attr = "datacloud_conn_id"
    default_conn_name = "datacloud_default"
    conn_type = "http"
    hook_name = "Salesforce Data Cloud"

    def __init__(
        self,
        datacloud_conn_id: str = default_conn_name,
        *,
        salesforce_hook: SalesforceBulk2Hook | None = None,
        retry_policy: RetryPolicy | None = None,
        counter: CallCounter | None = None,
    ) -> None:
        super().__init__(method="POST", http_conn_id=datacloud_conn_id)
        self.datacloud_conn_id = datacloud_conn_id
        self._salesforce_hook = salesforce_hook
        self.retry_policy = retry_policy or RetryPolicy()
        self.counter = counter or CallCounter()
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self._session: requests.Session | None = None

    # -- auth -------------------------------------------------------------------------------------

    @property
    def extras(self) -> dict[str, Any]:
        return self.get_connection(self.datacloud_conn_id).extra_dejson

    @property
    def salesforce_hook(self) -> SalesforceBulk2Hook:
        if self._salesforce_hook is None:
            self._salesforce_hook = SalesforceBulk2Hook(
                self.extras.get("salesforce_conn_id") or SalesforceBulk2Hook.default_conn_name,
                retry_policy=self.retry_policy,
                counter=self.counter,
            )
        return self._salesforce_hook

    def _exchange_token(self) -> _Token:
        sf = self.salesforce_hook
        params = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": sf.session_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
        }
        if self.extras.get("dataspace"):
            params["dataspace"] = str(self.extras["dataspace"])

        def _post() -> requests.Response:
            response = sf.get_conn().session.post(
                f"{sf.instance_url}/services/a360/token", data=params
            )
            if response.status_code == 401:
                raise SessionExpired("Data Cloud token exchange")
            response.raise_for_status()
            return response

        response = call_with_retry(
            _post,
            policy=self.retry_policy,
            counter=self.counter,
            relogin=sf.relogin,
            describe="Data Cloud token exchange",
        )
        body = response.json()
        tenant = str(body["instance_url"])
        tenant_url = tenant if "://" in tenant else f"https://{tenant}"
        lifetime = float(body.get("expires_in") or 7200)
        return _Token(body["access_token"], tenant_url.rstrip("/"), time.monotonic() + lifetime)

    def token(self, *, force: bool = False) -> _Token:
        with self._token_lock:
            expired = (
                self._token is None
                or time.monotonic() > self._token.expires_at - TOKEN_RENEW_MARGIN_SECONDS
            )
            if force or expired:
                self._token = self._exchange_token()
            return self._token

    def _invalidate_token(self) -> None:
        with self._token_lock:
            self._token = None

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """A session with the connection's TLS settings (the base URL comes from the token)."""
        if self._session is None:
            self._session = session_for(self.extras)
        return self._session

    # -- queries ----------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, payload: dict[str, Any] | None, describe: str
    ) -> _QueryBody:
        def _once() -> _QueryBody:
            token = self.token()
            response = self.get_conn().request(
                method,
                f"{token.tenant_url}{path}",
                json=payload,
                headers={
                    "Authorization": f"Bearer {token.access_token}",
                    "Content-Type": "application/json",
                },
            )
            if response.status_code == 401:
                raise SessionExpired(describe)
            if response.status_code == 400:
                raise DataCloudQueryError(f"{describe}: {_message(response)}")
            response.raise_for_status()
            try:
                return _BODY_DECODER.decode(response.content)
            except msgspec.ValidationError as error:
                raise DataCloudQueryError(
                    f"{describe}: unexpected response body ({error})"
                ) from None

        return call_with_retry(
            _once,
            policy=self.retry_policy,
            counter=self.counter,
            relogin=self._invalidate_token,
            describe=describe,
        )

    def query(self, sql: str) -> Iterator[QueryBatch]:
        """Run one SQL statement and yield its batches in order (following `nextBatchId`)."""
        body = self._request("POST", "/api/v2/query", {"sql": sql}, "Data Cloud query")
        while True:
            batch = decode_batch(body)
            next_id = body.nextBatchId
            # Only the batch is handed on: the body (and its rows) is not kept alive by this
            # generator while the caller maps the page and asks for the next one.
            del body
            yield batch
            if batch.done or not next_id:
                return
            body = self._request("GET", f"/api/v2/query/{next_id}", None, "Data Cloud next batch")

    def query_all(self, sql: str) -> tuple[tuple[Column, ...], list[tuple[Any, ...]]]:
        """All rows of a small query (counts, boundaries): columns and rows."""
        columns: tuple[Column, ...] = ()
        rows: list[tuple[Any, ...]] = []
        for batch in self.query(sql):
            columns = batch.columns or columns
            rows.extend(batch.rows)
        return columns, rows

    def scalar(self, sql: str) -> Any:
        _, rows = self.query_all(sql)
        return rows[0][0] if rows else None


def decode_batch(body: _QueryBody | bytes | str) -> QueryBatch:
    """Order columns by `placeInOrder`; the rows (tuples, in that order) are the body's own."""
    if not isinstance(body, _QueryBody):
        body = _BODY_DECODER.decode(body)
    metadata = body.metadata or {}
    ordered = sorted(metadata.items(), key=lambda item: int(item[1]["placeInOrder"]))
    columns = tuple(
        Column(name, str(meta.get("type", "")), meta.get("typeCode")) for name, meta in ordered
    )
    rows = body.data or []
    if rows and columns and len(rows[0]) != len(columns):
        raise DataCloudQueryError(
            f"Data Cloud returned rows of {len(rows[0])} values for {len(columns)} columns"
        )
    return QueryBatch(str(body.queryId or ""), columns, rows, bool(body.done))


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("message", body))
    return str(body)[:500]
