"""Authentication: OAuth token/revoke, SOAP login, Data Cloud token exchange, session checks."""

from __future__ import annotations
