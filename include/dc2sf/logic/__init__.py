"""Pure logic of the load pipeline: no Airflow, no HTTP, only data in and decisions out.

Modules (one job each): :mod:`identifiers` (name validation), :mod:`key_range` (partition
intervals), :mod:`keyset_sql` (Data Cloud SQL and SOQL text), :mod:`mapping` (column → field
mapping and Bulk CSV), :mod:`packing` (jobs grouped by parent, in-flight scheduling),
:mod:`classification` (retryable vs permanent failures), :mod:`backoff` (retry timing),
:mod:`checkpoint` (watermark and resumable state), :mod:`planner` (partition boundaries),
:mod:`progress` (rates, ETA, formatting), :mod:`limits_guard` (daily allowance) and
:mod:`adaptive` (in-flight limit under lock contention).
"""

from __future__ import annotations
