"""Sessions and refresh tokens, with no HTTP in sight.

A core session is what ``/services/oauth2/token`` or SOAP login hands out; a Data Cloud session
is what ``/services/a360/token`` exchanges a core one for. Core sessions expire after
``session_lifetime_seconds`` of *inactivity* (Salesforce's session timeout, default 2 h, is an
inactivity timeout); Data Cloud tokens have a fixed expiry (their JWT ``exp``).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import jwt

if TYPE_CHECKING:
    from emulator.clock import Clock
    from emulator.config import EmulatorConfig

SessionKind = Literal["core", "datacloud"]


@dataclass
class Session:
    """One bearer token and who it belongs to."""

    token: str
    kind: SessionKind
    username: str
    client_id: str | None
    grant: str
    issued_at: float
    last_used: float
    expires_at: float | None = None  # fixed expiry (Data Cloud); None: inactivity timeout
    scope: str = "api web"
    exchanged: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class SessionStore:
    """Issues, validates, revokes and (for faults) expires tokens. Thread-safe, in memory."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self._clock = clock
        self._config = config
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._refresh: dict[str, tuple[str, str | None]] = {}  # token -> (username, client_id)
        self._dc_secret = secrets.token_bytes(32)

    def issue_core(
        self, username: str, client_id: str | None, grant: str, scope: str = "api web"
    ) -> Session:
        now = self._clock.time()
        org15 = self._config.org_id[:15]
        token = f"{org15}!AQ{secrets.token_urlsafe(72)}"
        session = Session(token, "core", username, client_id, grant, now, now, scope=scope)
        with self._lock:
            self._sessions[token] = session
        return session

    def issue_refresh_token(self, username: str, client_id: str | None) -> str:
        token = "5Aep" + secrets.token_urlsafe(60)
        with self._lock:
            self._refresh[token] = (username, client_id)
        return token

    def redeem_refresh_token(self, token: str) -> tuple[str, str | None] | None:
        with self._lock:
            return self._refresh.get(token)

    def issue_datacloud(self, core: Session, dataspace: str | None) -> Session:
        now = self._clock.time()
        lifetime = self._config.datacloud_token_lifetime_seconds
        claims = {
            "sub": core.username,
            "iss": "emulator",
            "aud": "api",
            "iat": int(now),
            "exp": int(now + lifetime),
            "orgId": self._config.org_id,
            "dataspace": dataspace or "default",
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._dc_secret, algorithm="HS256")
        session = Session(
            token,
            "datacloud",
            core.username,
            core.client_id,
            "cdp-exchange",
            now,
            now,
            expires_at=now + lifetime,
            scope="cdpquery api cdpprofile",
            extra={"dataspace": dataspace or "default"},
        )
        with self._lock:
            self._sessions[token] = session
        return session

    def mark_exchanged(self, session: Session) -> bool:
        """Record a Data Cloud exchange of a core token; False if it was exchanged before."""
        with self._lock:
            first = not session.exchanged
            session.exchanged = True
            return first

    def validate(self, token: str | None, kind: SessionKind) -> Session | None:
        """The live session for ``token`` of ``kind`` (touching it), or None if unknown/expired."""
        if not token:
            return None
        now = self._clock.time()
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.kind != kind:
                return None
            if session.expires_at is not None:
                alive = now < session.expires_at
            else:
                alive = now - session.last_used < self._config.session_lifetime_seconds
            if not alive:
                del self._sessions[token]
                return None
            session.last_used = now
            return session

    def revoke(self, token: str) -> bool:
        """Remove an access or refresh token; True if it existed."""
        with self._lock:
            found = self._sessions.pop(token, None) is not None
            found = self._refresh.pop(token, None) is not None or found
            return found

    def expire(self, token: str) -> None:
        """Force expiry now (the ``session_expiry`` fault)."""
        with self._lock:
            self._sessions.pop(token, None)

    def count(self) -> dict[str, int]:
        with self._lock:
            core = sum(1 for s in self._sessions.values() if s.kind == "core")
            return {"core": core, "datacloud": len(self._sessions) - core}
