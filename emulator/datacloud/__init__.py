"""Data Cloud: the DMO tables, Query API V2 (tenant and Connect forms), and the data seeder."""

from __future__ import annotations
