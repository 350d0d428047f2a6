"""Local emulator of the Salesforce core and Data Cloud APIs the loader uses.

One process serves the core host (OAuth, SOAP login, REST limits, Bulk API 2.0, SOQL, Connect
Query V2) and the Data Cloud tenant host (Query V2) from one SQLite file. Start it with
``python -m emulator serve``; see ``emulator/README.md``.
"""

from __future__ import annotations
