"""Helpers shared by integration, e2e and benchmark-smoke tests."""

from __future__ import annotations
