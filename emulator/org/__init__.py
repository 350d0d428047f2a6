"""The emulated org's sObjects (Account, Opportunity): schema, describe, DML and seeding."""

from __future__ import annotations
