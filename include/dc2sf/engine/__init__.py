"""The partition load engine: orchestration of hooks and pure logic, without Airflow specifics.

The operator (include/dc2sf/operators) is a thin Airflow shell around `PartitionLoader`, so the
whole pipeline can be driven and tested against the emulator without a scheduler.
"""

from __future__ import annotations
