"""Auth wire errors: OAuth's ``{"error","error_description"}`` objects and SOAP faults.

These do not use the core REST array shape: the token endpoint answers 400 with an OAuth error
object (Salesforce Help, "OAuth 2.0 Username-Password Flow") and SOAP login answers a ``soapenv:Fault`` whose ``sf:exceptionCode`` and
``sf:exceptionMessage`` simple-salesforce reads (SOAP API Developer Guide, "login()" and
"SOAP Faults").
"""

from __future__ import annotations

from typing import ClassVar
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.exceptions import WireError


class OAuthError(WireError):
    status_code: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"
    description: ClassVar[str] = "invalid request"

    def __init__(self, description: str | None = None) -> None:
        self.error_description = description or self.description
        super().__init__(f"{self.error}: {self.error_description}")

    def to_response(self, request: Request) -> Response:
        body = {"error": self.error, "error_description": self.error_description}
        return JSONResponse(body, status_code=self.status_code)


class GrantTypeMissing(OAuthError):
    error = "invalid_request"
    description = "grant type is missing"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "grant type not supported"


class InvalidClient(OAuthError):
    error = "invalid_client"
    description = "invalid client credentials"


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    description = "authentication failure"


class InvalidToken(OAuthError):
    """Revoking a token the emulator does not know [inferred]."""

    error = "unsupported_token_type"
    description = "this token type is not supported"


class SoapFault(WireError):
    """A SOAP login fault (HTTP 500, as the SOAP 1.1 binding requires)."""

    status_code: ClassVar[int] = 500

    def __init__(self, code: str, message: str, fault_code: str = "sf:INVALID_LOGIN") -> None:
        self.code = code
        self.message = message
        self.fault_code = fault_code
        super().__init__(f"{code}: {message}")

    def to_response(self, request: Request) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><soapenv:Fault>"
            f"<faultcode>{escape(self.fault_code)}</faultcode>"
            f"<faultstring>{escape(self.code)}: {escape(self.message)}</faultstring>"
            '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{escape(self.code)}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(self.message)}</sf:exceptionMessage>"
            "</sf:LoginFault></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, status_code=self.status_code, media_type="text/xml")


def invalid_login() -> SoapFault:
    return SoapFault(
        "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
    )
