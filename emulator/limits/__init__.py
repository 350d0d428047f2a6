"""Org limits: rolling 24 h counters and the REST ``/limits`` resource."""

from __future__ import annotations
