"""Salesforce connection + Bulk API 2.0 client, built on the provider's SalesforceHook.

What this adds to `SalesforceHook` and why:
- `login_url` (connection extra): the provider only builds `https://{domain}.salesforce.com`, so a
  My Domain login page, a sandbox or a local emulator cannot be targeted without code. Like Data
  Loader's "Server Host", any https URL works here; simple-salesforce still does the login (SOAP,
  OAuth password, JWT, client credentials), we only route its login request to that URL.
- `ca_bundle` / `verify` extras: TLS verification is always on; a connection may name a CA bundle.
- Bulk 2.0 calls that do not block: simple-salesforce's `bulk2.<Object>.upsert()` waits for each
  job and runs one upsert job at a time; the operator needs create/upload/close/poll as separate
  calls to keep several jobs in flight. We reuse simple-salesforce's `_Bulk2Client` for the wire
  format of each call (pinned version; it is the library's own request code), and implement
  `delete_job` ourselves because the library's version parses the empty 204 body as JSON.
- One retry policy for every call (transients, daily-limit waits, re-login on INVALID_SESSION_ID)
  and a call counter the operator reports as `api_calls`.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
from simple_salesforce import Salesforce
from simple_salesforce.api import DEFAULT_API_VERSION
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.util import call_salesforce

from include.dc2sf.hooks.retry import CallCounter, RetryPolicy, SessionExpired, call_with_retry
from include.dc2sf.hooks.tls import ConfiguredTlsSession, timeout_setting, verify_setting

T = TypeVar("T")

#: simple-salesforce is given this My Domain label when `login_url` is not a salesforce.com host;
#: the session below sends its requests for that host to `login_url`. A `.my` label keeps the
#: client-credentials flow available (simple-salesforce refuses it for `login`/`test`).
LOGIN_ALIAS_DOMAIN = "dc2sf-login-url.my"
TERMINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
#: States a job reaches only after UploadComplete was accepted (Aborted is not one: never closed).
CLOSED_JOB_STATES = frozenset({"UploadComplete", "InProgress", "JobComplete", "Failed"})


def ended_in_submission_order(
    job_ids: Iterable[str], job_info: Callable[[str], dict[str, Any] | None]
) -> list[dict[str, Any]] | None:
    """Infos of the jobs that have ended, asking oldest first and stopping at one still running.

    Why: jobs run roughly in submission order, so watching the oldest costs one call per poll
    instead of one per job in flight, and each job is asked about once when it has ended. The
    blocking loader and the deferrable trigger both poll this way. ``None`` when ``job_info``
    returned ``None`` (the loader's answer for a job Salesforce no longer knows).
    """
    ended: list[dict[str, Any]] = []
    for job_id in job_ids:
        info = job_info(job_id)
        if info is None:
            return None
        if info.get("state") not in TERMINAL_JOB_STATES:
            break
        ended.append(info)
    return ended


log = logging.getLogger(__name__)


class LoginUrlSession(ConfiguredTlsSession):
    """A requests session that sends requests for one https origin to another base URL.

    Only the login host is aliased; after login, simple-salesforce uses the `instance_url` the
    server returned, which this session leaves untouched.
    """

    def __init__(self, alias_origin: str, target_base_url: str) -> None:
        super().__init__()
        self.alias_origin = alias_origin.rstrip("/")
        self.target_base_url = target_base_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(url, str) and url.startswith(self.alias_origin + "/"):
            url = self.target_base_url + url[len(self.alias_origin) :]
        return super().request(method, url, *args, **kwargs)


def domain_and_session_for(
    login_url: str | None, domain: str | None
) -> tuple[str | None, requests.Session]:
    """Turn the connection's `login_url` (or legacy `domain`) into simple-salesforce arguments.

    `https://acme.my.salesforce.com` → domain `acme.my`; `https://test.salesforce.com` → `test`;
    any other https URL (a local emulator, a proxy) → an aliased domain and a `LoginUrlSession`.
    """
    if not login_url:
        return domain, ConfiguredTlsSession()
    parts = urlsplit(login_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(
            f"login_url must be an https URL such as https://acme.my.salesforce.com, got {login_url!r}"
        )
    host = parts.hostname
    if host.endswith(".salesforce.com") and parts.port in (None, 443) and not parts.path.strip("/"):
        return host[: -len(".salesforce.com")], ConfiguredTlsSession()
    alias = f"https://{LOGIN_ALIAS_DOMAIN}.salesforce.com"
    return LOGIN_ALIAS_DOMAIN, LoginUrlSession(alias, login_url)


class SalesforceBulk2Hook(SalesforceHook):
    """Salesforce hook with an explicit login URL, retries, a call counter and Bulk 2.0 calls.

    Connection (type `salesforce`): everything the provider supports (username + password +
    security token, OAuth password with consumer key/secret, JWT with a private key, client
    credentials, direct session), plus extras `login_url`, `ca_bundle`, and `verify` (only
    `false` to turn verification off, which is logged loudly).
    """

    conn_name_attr = "salesforce_conn_id"
    default_conn_name = "salesforce_default"
    conn_type = "salesforce"
    hook_name = "Salesforce (Bulk API 2.0)"

    def __init__(
        self,
        salesforce_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        counter: CallCounter | None = None,
        session_id: str | None = None,
    ) -> None:
        super().__init__(salesforce_conn_id=salesforce_conn_id, session_id=session_id)
        self.retry_policy = retry_policy or RetryPolicy()
        self.counter = counter or CallCounter()

    # -- connection -------------------------------------------------------------------------------

    @cached_property
    def conn(self) -> Salesforce:  # type: ignore[override]
        connection = self.get_connection(self.conn_id)
        extras = connection.extra_dejson
        field = self._get_field
        domain, session = domain_and_session_for(
            field(extras, "login_url"), field(extras, "domain")
        )
        session.verify = verify_setting(extras)
        session.timeout = timeout_setting(extras)
        self.session = session
        return Salesforce(
            username=connection.login,
            password=connection.password,
            security_token=field(extras, "security_token") or None,
            domain=domain,
            session_id=self.session_id,
            instance=field(extras, "instance") or None,
            instance_url=field(extras, "instance_url") or None,
            organizationId=field(extras, "organization_id") or None,
            version=field(extras, "version") or DEFAULT_API_VERSION,
            proxies=field(extras, "proxies") or None,
            session=session,
            client_id=field(extras, "client_id") or None,
            consumer_key=field(extras, "consumer_key") or None,
            consumer_secret=field(extras, "consumer_secret") or None,
            privatekey_file=field(extras, "private_key_file_path") or None,
            privatekey=field(extras, "private_key") or None,
        )

    def relogin(self) -> None:
        """Forget the session so the next call logs in again (after INVALID_SESSION_ID)."""
        self.__dict__.pop("conn", None)

    def call(self, func: Callable[[Salesforce], T], describe: str) -> T:
        """Run one API call with the retry policy; `func` gets the current (re-)logged-in client."""

        def _once() -> T:
            try:
                return func(self.get_conn())
            except SalesforceExpiredSession as exc:
                raise SessionExpired(describe) from exc

        return call_with_retry(
            _once,
            policy=self.retry_policy,
            counter=self.counter,
            relogin=self.relogin,
            describe=describe,
        )

    @property
    def instance_url(self) -> str:
        return f"https://{self.get_conn().sf_instance}"

    @property
    def session_token(self) -> str:
        """The core access token, for the Data Cloud token exchange. Never log it."""
        return str(self.get_conn().session_id)

    # -- REST ---------------------------------------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        return self.call(lambda sf: sf.limits(), "GET limits")

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.call(lambda sf: getattr(sf, sobject).describe(), f"describe {sobject}")

    def count(self, soql: str) -> int:
        """`SELECT COUNT() FROM ...` → the number (REST query, one call)."""
        return int(self.call(lambda sf: sf.query(soql), "SOQL count")["totalSize"])

    def query_records(self, soql: str) -> Iterator[dict[str, Any]]:
        """Stream the records of a SOQL query page by page (REST query + nextRecordsUrl)."""
        result = self.call(lambda sf: sf.query(soql), "SOQL query")
        while True:
            yield from result.get("records", [])
            if result.get("done", True):
                return
            next_url = result["nextRecordsUrl"]
            result = self.call(
                lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True),
                "SOQL query more",
            )

    # -- Bulk API 2.0 ingest ----------------------------------------------------------------------

    def _bulk(self, sf: Salesforce, sobject: str = "") -> _Bulk2Client:
        return _Bulk2Client(sobject, sf.bulk2_url, dict(sf.headers), sf.session)

    def create_ingest_job(
        self, sobject: str, operation: str, external_id_field: str | None = None
    ) -> dict[str, Any]:
        return self.call(
            lambda sf: self._bulk(sf, sobject).create_job(
                operation, external_id_field=external_id_field
            ),
            f"create {operation} job on {sobject}",
        )

    def upload_job_data(self, job_id: str, csv_text: str) -> None:
        """PUT the job's CSV. Safe to repeat: a retried PUT whose first attempt reached
        Salesforce (the response was lost to a timeout or reset) is refused with "Found multiple
        contents for job"; that means the data is there, so it counts as done."""
        try:
            self.call(
                lambda sf: self._bulk(sf).upload_job_data(job_id, csv_text), f"upload job {job_id}"
            )
        except SalesforceError as exc:
            if not _already_uploaded(exc):
                raise
            log.info("upload job %s: an earlier attempt already delivered the data", job_id)

    def close_job(self, job_id: str) -> dict[str, Any]:
        """PATCH UploadComplete. Safe to repeat: when a retried close is refused because an
        earlier attempt already closed the job, the job's info is returned instead."""
        try:
            return self.call(lambda sf: self._bulk(sf).close_job(job_id), f"close job {job_id}")
        except SalesforceError:
            info = self.job_info(job_id)
            if info.get("state") not in CLOSED_JOB_STATES:
                raise
            log.info(
                "close job %s: an earlier attempt already closed it (%s)", job_id, info["state"]
            )
            return info

    def abort_job(self, job_id: str) -> dict[str, Any]:
        return self.call(lambda sf: self._bulk(sf).abort_job(job_id, False), f"abort job {job_id}")

    def job_info(self, job_id: str) -> dict[str, Any]:
        return self.call(lambda sf: self._bulk(sf).get_job(job_id, False), f"job info {job_id}")

    def job_results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        """`failedResults`, `unprocessedrecords` or `successfulResults` rows as dicts.

        A job holds at most `records_per_job` rows, so this is bounded by the job size.
        """
        text = self.call(
            lambda sf: self._bulk(sf).get_ingest_results(job_id, kind), f"{kind} {job_id}"
        )
        return list(csv.DictReader(io.StringIO(text)))

    def delete_job(self, job_id: str) -> None:
        """DELETE answers 204 with an empty body (simple-salesforce's version would fail on it)."""

        def _delete(sf: Salesforce) -> None:
            call_salesforce(
                url=f"{sf.bulk2_url}ingest/{job_id}",
                method="DELETE",
                session=sf.session,
                headers=dict(sf.headers),
            )

        self.call(_delete, f"delete job {job_id}")

    # -- Bulk API 2.0 query -----------------------------------------------------------------------

    def bulk_query_ids(self, soql: str) -> Iterator[list[str]]:
        """Run a Bulk 2.0 query job and yield its `Id` column page by page (for cleanup deletes)."""
        job = self.call(
            lambda sf: self._bulk(sf).create_job("query", query=soql), "create query job"
        )
        self.call(
            lambda sf: self._bulk(sf).wait_for_job(job["id"], True), f"wait query job {job['id']}"
        )
        locator = ""
        while True:
            page = self.call(
                lambda sf, loc=locator: self._bulk(sf).get_query_results(job["id"], loc),
                f"query results {job['id']}",
            )
            ids = [row["Id"] for row in csv.DictReader(io.StringIO(page["records"]))]
            if ids:
                yield ids
            locator = page["locator"]
            if not locator:
                return


def _already_uploaded(exc: SalesforceError) -> bool:
    """Salesforce's refusal of a second PUT on a job (its text has a typo: "multipe")."""
    text = str(getattr(exc, "content", "")) + str(exc)
    return "multipe contents for job" in text or "multiple contents for job" in text
