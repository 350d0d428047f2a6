"""Checks of usernames, passwords, connected apps and JWT assertions against the config.

An emulator with no ``users``/``connected_apps`` configured accepts any credentials (handy for
demos); configure them to test the failure paths.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from emulator.auth.exceptions import InvalidClient, InvalidGrant
from emulator.config import EmulatorConfig

# Audiences Salesforce accepts for JWT bearer (login, sandbox); the emulator's own URL too.
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


def check_client(config: EmulatorConfig, client_id: str | None, secret: str | None) -> None:
    """Raise ``InvalidClient`` unless the connected app exists and the secret (if given) matches."""
    if not client_id:
        raise InvalidClient()
    if not config.connected_apps:
        return
    expected = config.connected_apps.get(client_id)
    if expected is None or (secret is not None and secret != expected):
        raise InvalidClient()


def check_user(config: EmulatorConfig, username: str | None, password: str | None) -> str:
    """The username, or ``InvalidGrant`` when the password (+ security token) is wrong."""
    if not username or password is None:
        raise InvalidGrant()
    if config.users and config.users.get(username) != password:
        raise InvalidGrant()
    return username


def _public_key(pem: str) -> Any:
    data = pem.encode()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def verify_jwt_assertion(config: EmulatorConfig, assertion: str | None, own_url: str) -> str:
    """Verify an RS256 bearer assertion; returns ``sub`` (the username).

    Failures are ``invalid_grant`` as Salesforce answers them; an unknown ``iss`` is
    ``invalid_client``.
    """
    if not assertion:
        raise InvalidGrant("invalid assertion")
    if not config.jwt_public_key_pem:
        raise InvalidGrant("invalid assertion")
    try:
        claims = jwt.decode(
            assertion,
            _public_key(config.jwt_public_key_pem),
            algorithms=["RS256"],
            options={"require": ["iss", "sub", "aud", "exp"], "verify_aud": False},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidGrant("expired authorization code") from exc
    except jwt.PyJWTError as exc:
        raise InvalidGrant("invalid assertion") from exc
    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    allowed = (*STANDARD_AUDIENCES, own_url.rstrip("/"))
    if not any(str(a).rstrip("/") in allowed for a in audiences):
        raise InvalidGrant("audience is invalid")
    # simple-salesforce sends exp as a string; PyJWT accepts it, so must we.
    if float(claims["exp"]) < time.time() - 5:
        raise InvalidGrant("expired authorization code")
    check_client(config, claims["iss"], None)
    return str(claims["sub"])
