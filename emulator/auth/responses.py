"""HTTP side of auth: token, revoke, SOAP login and the Data Cloud token exchange."""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.auth.credentials import check_client, check_user, verify_jwt_assertion
from emulator.auth.dependencies import StateDep
from emulator.auth.exceptions import (
    GrantTypeMissing,
    InvalidGrant,
    InvalidToken,
    OAuthError,
    SoapFault,
    UnsupportedGrantType,
    invalid_login,
)
from emulator.auth.models import Session
from emulator.state import EmulatorState

router = APIRouter()

GRANT_PASSWORD = "password"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_REFRESH = "refresh_token"
GRANT_CDP = "urn:salesforce:grant-type:external:cdp"
CLIENT_CREDENTIALS_USER = "integration@emulator.invalid"


def base_url(request: Request, state: EmulatorState) -> str:
    """The URL clients reach this emulator at (``advertised_url`` or the request's own)."""
    if state.config.advertised_url:
        return state.config.advertised_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


async def oauth_params(request: Request) -> dict[str, str]:
    """Query string and form body merged (body wins): the CDP connector sends its parameters in
    the query string of a POST, simple-salesforce in the body (Salesforce Help, "OAuth 2.0
    Username-Password Flow for Special Scenarios": either is accepted)."""
    params = dict(request.query_params)
    body = (await request.body()).decode("utf-8", errors="replace")
    if body and "json" not in request.headers.get("content-type", ""):
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        key, _, secret = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None, None
    return key, secret


def token_response(request: Request, state: EmulatorState, session: Session) -> dict[str, str]:
    url = base_url(request, state)
    identity = f"{url}/id/{state.config.org_id}/{state.config.user_id}"
    issued_at = str(int(session.issued_at * 1000))
    signature = base64.b64encode(
        hmac.new(session.token.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "access_token": session.token,
        "instance_url": url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": session.scope,
    }


@router.post("/services/oauth2/token")
async def oauth_token(request: Request, state: StateDep) -> JSONResponse:
    params = await oauth_params(request)
    grant = params.get("grant_type")
    config = state.config
    if not grant:
        raise GrantTypeMissing()
    if grant == GRANT_PASSWORD:
        check_client(config, params.get("client_id"), params.get("client_secret"))
        username = check_user(config, params.get("username"), params.get("password"))
        client_id = params.get("client_id")
    elif grant == GRANT_CLIENT_CREDENTIALS:
        key, secret = _basic_credentials(request)
        client_id = key or params.get("client_id")
        check_client(config, client_id, secret if key else params.get("client_secret"))
        if not (secret if key else params.get("client_secret")):
            raise OAuthError("client secret is missing")
        username = CLIENT_CREDENTIALS_USER
    elif grant == GRANT_JWT:
        username = verify_jwt_assertion(config, params.get("assertion"), base_url(request, state))
        client_id = None
    elif grant == GRANT_REFRESH:
        check_client(config, params.get("client_id"), params.get("client_secret"))
        owner = state.sessions.redeem_refresh_token(params.get("refresh_token", ""))
        if owner is None:
            raise InvalidGrant("expired access/refresh token")
        username, client_id = owner[0], params.get("client_id")
    else:
        raise UnsupportedGrantType()
    session = state.sessions.issue_core(username, client_id, grant, scope="api web cdpquery")
    state.usage.count_event("login")
    return JSONResponse(token_response(request, state, session))


@router.api_route("/services/oauth2/revoke", methods=["GET", "POST"])
async def oauth_revoke(request: Request, state: StateDep) -> Response:
    params = await oauth_params(request)
    if not state.sessions.revoke(params.get("token", "")):
        raise InvalidToken()
    return Response(status_code=200)


def _soap_credentials(body: bytes) -> tuple[str | None, str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault(
            "INVALID_XML", "Unable to parse the SOAP envelope", "soapenv:Client"
        ) from exc
    found: dict[str, str | None] = {"username": None, "password": None}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local in found:
            found[local] = element.text or ""
    return found["username"], found["password"]


@router.post("/services/Soap/u/{version}")
async def soap_login(version: str, request: Request, state: StateDep) -> Response:
    username, password = _soap_credentials(await request.body())
    try:
        username = check_user(state.config, username, password)
    except OAuthError as exc:
        raise invalid_login() from exc
    session = state.sessions.issue_core(username, None, "soap")
    state.usage.count_event("login")
    url = base_url(request, state)
    org = state.config.org_id
    lifetime = int(state.config.session_lifetime_seconds)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{url}/services/Soap/m/{escape(version)}/{org}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{url}/services/Soap/u/{escape(version)}/{org}</serverUrl>"
        f"<sessionId>{escape(session.token)}</sessionId>"
        f"<userId>{state.config.user_id}</userId>"
        "<userInfo>"
        f"<organizationId>{org}</organizationId>"
        f"<sessionSecondsValid>{lifetime}</sessionSecondsValid>"
        f"<userName>{escape(username)}</userName>"
        "</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, media_type="text/xml")


@router.post("/services/a360/token")
async def datacloud_token(request: Request, state: StateDep) -> JSONResponse:
    """Exchange a core token for a Data Cloud token; ``instance_url`` is the tenant host
    *without* a scheme, and it routes back to this emulator (Data Cloud Developer Guide, Connect API
    authentication: the Data Cloud access token exchange)."""
    params = await oauth_params(request)
    grant = params.get("grant_type")
    if not grant:
        raise GrantTypeMissing()
    if grant != GRANT_CDP:
        raise UnsupportedGrantType()
    core = state.sessions.validate(params.get("subject_token"), "core")
    if core is None:
        raise InvalidGrant("invalid subject token")
    first = state.sessions.mark_exchanged(core)
    if state.config.strict_single_exchange and core.grant == GRANT_PASSWORD and not first:
        raise InvalidGrant("subject token already exchanged")
    dc = state.sessions.issue_datacloud(core, params.get("dataspace"))
    state.usage.count_event("token_exchange")
    return JSONResponse(
        {
            "access_token": dc.token,
            "instance_url": base_url(request, state).split("://", 1)[-1],
            "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "expires_in": state.config.datacloud_token_lifetime_seconds,
        }
    )
