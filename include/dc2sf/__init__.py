"""Data Cloud → Salesforce Bulk 2.0 loader: hooks, operators, triggers and the pure logic they share."""

from __future__ import annotations
