"""SOQL: the REST ``query``/``queryAll`` resources and the parser/compiler Bulk query jobs share."""

from __future__ import annotations
