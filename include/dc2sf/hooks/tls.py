"""TLS settings from a connection's extras, shared by both hooks: verification on by default."""

from __future__ import annotations

import logging
from typing import Any

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
