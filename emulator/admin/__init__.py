"""Test/demo control plane under ``/__emulator__/`` (a path no Salesforce API uses)."""

from __future__ import annotations
