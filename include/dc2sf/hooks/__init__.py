"""Hooks: connections, auth, retries of single HTTP calls, thin methods that map to API calls."""

from __future__ import annotations
