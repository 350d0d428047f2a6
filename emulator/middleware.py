"""ASGI middleware: one log line per request, fault injection, and the API-usage header.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming bodies pass through untouched and the
fault path can drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from emulator.auth.dependencies import bearer_token
from emulator.exceptions import (
    RequestLimitExceeded,
    SalesforceError,
    ServerUnavailable,
    TooManyRequests,
)
from emulator.faults import endpoint_group

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("emulator.access")


class ConnectionResetFault(ConnectionResetError):
    """Raised when a reset is injected but no socket is reachable (in-process test clients)."""


def _find_transport(send: Any) -> Any:
    """The uvicorn transport behind ``send``, found through Starlette's wrapping closures.

    Starlette wraps ``send`` in closures; uvicorn's innermost ``send`` is a bound method of the
    request cycle, which holds the asyncio transport. Only with it can the emulator abort the
    TCP connection (RST) the way a dropped load balancer connection looks to a client.
    """
    stack, seen = [send], set()
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        transport = getattr(getattr(fn, "__self__", None), "transport", None)
        if transport is not None:
            return transport
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:
                continue
            if callable(content):
                stack.append(content)
    return None


def _abort_connection(send: Any) -> bool:
    transport = _find_transport(send)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


class EmulatorMiddleware:
    """Logging + faults + ``Sforce-Limit-Info`` around the whole app."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_state: dict[str, Any] = scope.setdefault("state", {})
        status = {"code": 0}
        path: str = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                usage = request_state.get("api_usage")
                if usage is not None:
                    headers = list(message.get("headers", []))
                    value = f"api-usage={usage[0]}/{usage[1]}".encode()
                    headers.append((b"sforce-limit-info", value))
                    message["headers"] = headers
            await send(message)

        try:
            handled = await self._inject_faults(scope, receive, send_wrapper, send)
            if not handled:
                await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"").decode("latin-1")
            access_log.info(
                '%s "%s %s%s" %s %.1fms',
                client[0],
                scope["method"],
                path,
                f"?{query}" if query else "",
                status["code"] or "reset",
                elapsed,
            )

    async def _inject_faults(self, scope: Scope, receive: Receive, send: Send, raw: Send) -> bool:
        """Apply this request's faults; True when a fault already answered it."""
        decision = self.state.faults.decide(endpoint_group(scope["path"]))
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        failure = decision.failure
        if failure is None:
            return False
        request = Request(scope, receive)
        if failure == "session_expiry":
            token = bearer_token(request)
            if token:
                self.state.sessions.expire(token)
            return False
        if failure == "reset":
            if _abort_connection(raw):
                return True
            raise ConnectionResetFault("emulator fault: connection reset")
        error: SalesforceError
        if failure == "limit":
            error = RequestLimitExceeded()
        elif failure == "429":
            error = TooManyRequests()
        else:
            error = ServerUnavailable()
        response = error.to_response(request)
        await response(scope, receive, send)
        return True
