"""TLS settings from a connection's extras, shared by both hooks: verification on by default."""

from __future__ import annotations

import logging
from typing import Any

import requests

log = logging.getLogger(__name__)


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
    unless a request passes its own.
    """

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
    return session
