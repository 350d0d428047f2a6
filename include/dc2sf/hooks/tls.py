"""TLS and timeout settings from a connection's extras, shared by both hooks.

Verification is on by default. Every request also gets a timeout (extra `timeout`, seconds,
default DEFAULT_TIMEOUT_SECONDS): requests has none by default and simple-salesforce passes
none, so a half-open connection would hang a load forever instead of being retried.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

log = logging.getLogger(__name__)

#: Seconds to wait for a connection and between bytes of a response. Generous: a 100 MB upload
#: or a 50,000-row Data Cloud batch is slow, and a timed-out call that had reached the server is
#: only harmless because the hooks' calls are made safe to repeat (see SalesforceBulk2Hook).
DEFAULT_TIMEOUT_SECONDS = 300.0


def timeout_setting(extras: dict[str, Any]) -> float:
    """The connection's `timeout` extra (seconds > 0), else DEFAULT_TIMEOUT_SECONDS."""
    raw = extras.get("timeout")
    if raw in (None, ""):
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"connection extra timeout must be seconds > 0, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"connection extra timeout must be seconds > 0, got {raw!r}")
    return value


def verify_setting(extras: dict[str, Any]) -> bool | str:
    """`requests`' `verify` value: a CA bundle path if the connection names one, else True.

    Only an explicit `verify: false` turns checking off, and that is logged as a warning every
    time a session is built, so it cannot go unnoticed in a production log.
    """
    ca_bundle = extras.get("ca_bundle")
    if ca_bundle:
        return str(ca_bundle)
    verify = extras.get("verify", True)
    if isinstance(verify, str):
        verify = verify.strip().lower() not in ("false", "0", "no")
    if not verify:
        log.warning("TLS certificate verification is OFF for this connection (extra verify=false).")
    return bool(verify)


class ConfiguredTlsSession(requests.Session):
    """A session whose own `verify` wins over `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`.

    requests lets those environment variables replace a session's `verify` whenever a request
    does not pass one (psf/requests#3829), and many images (Astro's included) set them. A
    connection that names its CA bundle must get that bundle, so the session's value is used
    unless a request passes its own. It also gives every request a timeout unless the caller
    passes one.
    """

    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None and len(args) < 7:  # timeout is the 7th positional
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(  # type: ignore[override]
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


def session_for(extras: dict[str, Any]) -> ConfiguredTlsSession:
    session = ConfiguredTlsSession()
    session.verify = verify_setting(extras)
    session.timeout = timeout_setting(extras)
    return session
