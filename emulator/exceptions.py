"""Wire errors shared by every API: one class per error the emulator can answer with.

Core Salesforce renders errors as a JSON array ``[{"message": ..., "errorCode": ...}]``
(reference §3.8, §1.4). API packages subclass ``SalesforceError`` (e.g. in
``emulator/bulk2/exceptions.py``) and simply ``raise``; the handler installed by ``create_app``
renders them. The Data Cloud tenant host (paths under ``/api/``) gets the same fields as a
single JSON object, because its clients read ``message`` from an object (reference §2.1).
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class WireError(Exception):
    """Anything that turns itself into an HTTP response (Salesforce errors, OAuth, SOAP)."""

    status_code: ClassVar[int] = 500

    def to_response(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


class SalesforceError(WireError):
    """A core REST error: status + ``errorCode`` + ``message``.

    Subclasses set ``status_code``, ``error_code`` and ``default_message``; a raise may override
    the message (``raise NotFound("Job not found")``) and add response headers.
    """

    status_code: ClassVar[int] = 400
    error_code: ClassVar[str] = "UNKNOWN_EXCEPTION"
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def error_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        item.update(self.extra)
        return item

    def to_response(self, request: Request) -> Response:
        body: Any = self.error_item()
        if not request.url.path.startswith("/api/"):
            body = [body]
        return JSONResponse(body, status_code=self.status_code, headers=self.headers)


class BadRequest(SalesforceError):
    status_code = 400
    error_code = "INVALID_INPUT"
    default_message = "Bad request."


class JsonParserError(SalesforceError):
    status_code = 400
    error_code = "JSON_PARSER_ERROR"
    default_message = "The request body is not valid JSON."


class InvalidSessionId(SalesforceError):
    status_code = 401
    error_code = "INVALID_SESSION_ID"
    default_message = "Session expired or invalid"


class RequestLimitExceeded(SalesforceError):
    """Reference §0.7/§4: the daily API limit answers 403, never 429."""

    status_code = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"
    default_message = "TotalRequests Limit exceeded."


class InsufficientAccess(SalesforceError):
    status_code = 403
    error_code = "INSUFFICIENT_ACCESS"
    default_message = "This session is not valid for use with the REST API"


class NotFound(SalesforceError):
    status_code = 404
    error_code = "NOT_FOUND"
    default_message = "The requested resource does not exist"


class MethodNotAllowed(SalesforceError):
    status_code = 405
    error_code = "METHOD_NOT_ALLOWED"
    default_message = "HTTP Method not allowed"


class UnsupportedMediaType(SalesforceError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Content type not supported"


class TooManyRequests(SalesforceError):
    """Data Cloud throttling (reference §2.1: DC clients retry 429)."""

    status_code = 429
    error_code = "TOO_MANY_REQUESTS"
    default_message = "Too many requests. Retry later."


class InternalServerError(SalesforceError):
    status_code = 500
    error_code = "UNKNOWN_EXCEPTION"
    default_message = (
        "An unexpected error occurred. Please include this ErrorId if you contact support."
    )


class ServerUnavailable(SalesforceError):
    status_code = 503
    error_code = "SERVER_UNAVAILABLE"
    default_message = "Server temporarily unavailable. Retry later."
