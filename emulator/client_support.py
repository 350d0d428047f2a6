"""Point *unmodified* clients (simple-salesforce, Airflow's SalesforceHook) at the emulator.

simple-salesforce hard-codes ``https://{domain}.salesforce.com`` for login and ``https://`` for
every instance URL (reference §0.1), and requests lets ``REQUESTS_CA_BUNDLE`` override a
session's ``verify``. A transport adapter fixes both without touching the client: it sends every
request for a Salesforce host (or for the emulator itself) to the emulator, with the emulator's
scheme (so plain-HTTP mode works too) and its CA forced as ``verify``.

    session = emulator_session("https://127.0.0.1:8443", "/tmp/.../ca.pem")
    sf = Salesforce(username=..., password=..., security_token=..., session=session)
    hook = SalesforceHook("salesforce_default", session=session)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

SALESFORCE_SUFFIXES = (".salesforce.com", ".force.com", ".salesforce-sites.com")

__all__ = ["EmulatorAdapter", "emulator_session", "is_salesforce_host"]


def is_salesforce_host(host: str | None) -> bool:
    return bool(host) and any(str(host).endswith(s) for s in SALESFORCE_SUFFIXES)


class EmulatorAdapter(HTTPAdapter):
    """Rewrites Salesforce URLs to the emulator and verifies TLS with its CA."""

    def __init__(self, base_url: str, ca_bundle: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target = urlsplit(base_url)
        self.scheme = target.scheme
        self.netloc = target.netloc
        self.ca_bundle = str(ca_bundle) if ca_bundle else None

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.netloc == self.netloc or is_salesforce_host(parts.hostname):
            return urlunsplit((self.scheme, self.netloc, parts.path, parts.query, parts.fragment))
        return url

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if request.url:
            request.url = self.rewrite(request.url)
        if self.ca_bundle and urlsplit(request.url or "").netloc == self.netloc:
            kwargs["verify"] = self.ca_bundle
        return super().send(request, **kwargs)


def emulator_session(
    base_url: str,
    ca_bundle: str | Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """A ``requests.Session`` whose every Salesforce call lands on the emulator at ``base_url``."""
    session = requests.Session()
    adapter = EmulatorAdapter(base_url, ca_bundle)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if headers:
        session.headers.update(headers)
    return session
