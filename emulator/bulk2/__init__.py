"""Bulk API 2.0: ingest jobs (with the simulated processing/lock model) and query jobs."""

from __future__ import annotations
