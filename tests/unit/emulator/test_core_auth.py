"""OAuth token/revoke, SOAP login, Data Cloud exchange and session checks, in process."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.config import EmulatorConfig
from emulator.testing import core_login, in_process

CDP = "urn:salesforce:grant-type:external:cdp"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def strict(rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[Any, Any]]:
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = EmulatorConfig(
        time_scale=0.0,
        users={"alice@example.com": "pw" + "TOKEN"},
        connected_apps={"key1": "secret1"},
        jwt_public_key_pem=public.decode(),
        session_lifetime_seconds=600,
    )
    with in_process(config) as pair:
        yield pair


def _assertion(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    claims = {
        "iss": "key1",
        "sub": "alice@example.com",
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256")


def test_password_grant_returns_documented_fields(strict: tuple[Any, Any]) -> None:
    _, client = strict
    body = {
        "grant_type": "password",
        "client_id": "key1",
        "client_secret": "secret1",
        "username": "alice@example.com",
        "password": "pwTOKEN",
    }
    r = client.post("/services/oauth2/token", data=body)
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    }
    assert data["token_type"] == "Bearer"
    assert data["instance_url"] == "http://testserver"
    assert data["access_token"].startswith("00DEM0000000001!")
    assert data["issued_at"].isdigit() and len(data["issued_at"]) == 13
    assert "expires_in" not in data


def test_parameters_in_query_string_are_accepted(strict: tuple[Any, Any]) -> None:
    _, client = strict
    params = {
        "grant_type": "password",
        "client_id": "key1",
        "client_secret": "secret1",
        "username": "alice@example.com",
        "password": "pwTOKEN",
    }
    assert client.post("/services/oauth2/token", params=params).status_code == 200


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        ({}, "invalid_request", "grant type is missing"),
        (
            {"grant_type": "authorization_code"},
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (
            {
                "grant_type": "password",
                "client_id": "nope",
                "client_secret": "x",
                "username": "a",
                "password": "b",
            },
            "invalid_client",
            "invalid client credentials",
        ),
        (
            {
                "grant_type": "password",
                "client_id": "key1",
                "client_secret": "secret1",
                "username": "alice@example.com",
                "password": "wrong",
            },
            "invalid_grant",
            "authentication failure",
        ),
        (
            {
                "grant_type": "refresh_token",
                "client_id": "key1",
                "client_secret": "secret1",
                "refresh_token": "bogus",
            },
            "invalid_grant",
            "expired access/refresh token",
        ),
    ],
)
def test_oauth_failures_are_400_error_objects(
    strict: tuple[Any, Any], body: dict[str, str], error: str, description: str
) -> None:
    _, client = strict
    r = client.post("/services/oauth2/token", data=body)
    assert r.status_code == 400
    assert r.json() == {"error": error, "error_description": description}


def test_client_credentials_with_basic_header_and_with_params(strict: tuple[Any, Any]) -> None:
    _, client = strict
    basic = base64.b64encode(b"key1:secret1").decode()
    r = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/services/oauth2/token",
        params={
            "grant_type": "client_credentials",
            "client_id": "key1",
            "client_secret": "secret1",
        },
    )
    assert r.status_code == 200
    bad = base64.b64encode(b"key1:wrong").decode()
    r = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {bad}"},
    )
    assert r.json()["error"] == "invalid_client"


def test_jwt_bearer_verifies_rs256_signature(
    strict: tuple[Any, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    _, client = strict
    r = client.post(
        "/services/oauth2/token", data={"grant_type": JWT_GRANT, "assertion": _assertion(rsa_key)}
    )
    assert r.status_code == 200, r.text
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for assertion, description in [
        (_assertion(other), "invalid assertion"),
        (_assertion(rsa_key, aud="https://evil.example.com"), "audience is invalid"),
        (_assertion(rsa_key, exp=int(time.time()) - 600), "expired authorization code"),
        ("not-a-jwt", "invalid assertion"),
    ]:
        r = client.post(
            "/services/oauth2/token", data={"grant_type": JWT_GRANT, "assertion": assertion}
        )
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_grant", "error_description": description}
    r = client.post(
        "/services/oauth2/token",
        data={"grant_type": JWT_GRANT, "assertion": _assertion(rsa_key, iss="unknown")},
    )
    assert r.json()["error"] == "invalid_client"


def test_refresh_token_grant(strict: tuple[Any, Any]) -> None:
    state, client = strict
    refresh = state.sessions.issue_refresh_token("alice@example.com", "key1")
    r = client.post(
        "/services/oauth2/token",
        params={
            "grant_type": "refresh_token",
            "client_id": "key1",
            "client_secret": "secret1",
            "refresh_token": refresh,
        },
    )
    assert r.status_code == 200
    assert state.sessions.validate(r.json()["access_token"], "core") is not None


def _soap(username: str, password: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:n1="urn:partner.soap.sforce.com"><env:Body><n1:login>'
        f"<n1:username>{username}</n1:username><n1:password>{password}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    ).encode()


def test_soap_login_success_and_fault(strict: tuple[Any, Any]) -> None:
    state, client = strict
    headers = {"content-type": "text/xml", "SOAPAction": "login"}
    r = client.post(
        "/services/Soap/u/59.0", content=_soap("alice@example.com", "pwTOKEN"), headers=headers
    )
    assert r.status_code == 200
    assert (
        "<serverUrl>http://testserver/services/Soap/u/59.0/00DEM0000000001EAA</serverUrl>" in r.text
    )
    assert "<sessionSecondsValid>600</sessionSecondsValid>" in r.text
    token = r.text.split("<sessionId>")[1].split("</sessionId>")[0]
    assert state.sessions.validate(token, "core") is not None
    r = client.post(
        "/services/Soap/u/59.0", content=_soap("alice@example.com", "bad"), headers=headers
    )
    assert r.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in r.text
    assert "Invalid username, password, security token; or user locked out." in r.text
    r = client.post("/services/Soap/u/59.0", content=b"<not-xml", headers=headers)
    assert r.status_code == 500 and "INVALID_XML" in r.text


def test_datacloud_exchange_returns_tenant_host_without_scheme() -> None:
    with in_process() as (state, client):
        core = core_login(client)
        r = client.post(
            "/services/a360/token",
            params={
                "grant_type": CDP,
                "subject_token": core,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "dataspace": "default",
            },
        )
        assert r.status_code == 200
        data = r.json()
        assert data["instance_url"] == "testserver"
        assert data["token_type"] == "Bearer"
        assert data["issued_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
        assert data["expires_in"] == 7200
        claims = jwt.decode(data["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 7200
        assert state.sessions.validate(data["access_token"], "datacloud") is not None
        # a DC token is not a core session
        r = client.get(
            "/services/data/v59.0/limits",
            headers={"Authorization": f"Bearer {data['access_token']}"},
        )
        assert r.status_code == 401


def test_datacloud_exchange_failures() -> None:
    with in_process(EmulatorConfig(time_scale=0, strict_single_exchange=True)) as (_, client):
        r = client.post("/services/a360/token", data={"grant_type": CDP, "subject_token": "nope"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        r = client.post("/services/a360/token", data={"grant_type": "password"})
        assert r.json()["error"] == "unsupported_grant_type"
        core = core_login(client)
        ok = client.post("/services/a360/token", data={"grant_type": CDP, "subject_token": core})
        assert ok.status_code == 200
        again = client.post("/services/a360/token", data={"grant_type": CDP, "subject_token": core})
        assert again.status_code == 400
        assert again.json()["error_description"] == "subject token already exchanged"


def test_revoke_then_401_invalid_session_array() -> None:
    with in_process() as (_, client):
        core = core_login(client)
        auth = {"Authorization": f"Bearer {core}"}
        assert client.get("/services/data/v59.0/limits", headers=auth).status_code == 200
        assert client.post("/services/oauth2/revoke", params={"token": core}).status_code == 200
        r = client.get("/services/data/v59.0/limits", headers=auth)
        assert r.status_code == 401
        assert r.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        assert client.post("/services/oauth2/revoke", params={"token": core}).status_code == 400
        assert client.get("/services/data/v59.0/limits").status_code == 401


def test_session_expires_after_inactivity_not_while_used() -> None:
    with in_process(EmulatorConfig(time_scale=0, session_lifetime_seconds=100)) as (state, client):
        core = core_login(client)
        auth = {"Authorization": f"Bearer {core}"}
        for _ in range(3):  # activity keeps it alive past one lifetime
            state.clock.advance(60)
            assert client.get("/services/data/v59.0/limits", headers=auth).status_code == 200
        state.clock.advance(101)
        assert client.get("/services/data/v59.0/limits", headers=auth).status_code == 401


def test_x_sfdc_session_header_is_accepted() -> None:
    with in_process() as (_, client):
        core = core_login(client)
        r = client.get("/services/data/v59.0/limits", headers={"X-SFDC-Session": core})
        assert r.status_code == 200
