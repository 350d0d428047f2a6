"""Pre-created Accounts: the parents the Data Cloud rows reference and Opportunities lock.

The core seeding command calls ``create_accounts`` before it writes the Data Cloud table, so the
DMO's account reference (``salesforce_id("001", n)``) points at real rows of the org.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from emulator.ids import salesforce_id
from emulator.org.models import org_of
from emulator.org.schema import ACCOUNT
from emulator.org.values import now_text

if TYPE_CHECKING:
    from emulator.state import EmulatorState

_INDUSTRIES = ("Technology", "Finance", "Retail", "Manufacturing", "Healthcare", "Energy")
_TYPES = ("Customer - Direct", "Customer - Channel", "Prospect", "Partner")


def account_external_id(n: int) -> str:
    """The ``ExternalId__c`` of seeded Account ``n`` (for ``Account.ExternalId__c`` columns)."""
    return f"ACC-{n:08d}"


def create_accounts(state: EmulatorState, count: int, seed: int) -> list[str]:
    """Make sure Accounts 1..``count`` exist; return their ids in order.

    Idempotent: Account ``n`` always has id ``salesforce_id("001", n)`` and the same seeded
    attributes, so re-running a seed (or two modules seeding) agrees on the data.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    org = org_of(state)
    rng = random.Random(seed)
    stamp = now_text()
    user = org.user_id
    rows = []
    for n in range(1, count + 1):
        rows.append(
            (
                n,
                salesforce_id(ACCOUNT.key_prefix, n),
                f"Account {n:06d}",
                rng.choice(_TYPES),
                rng.choice(_INDUSTRIES),
                float(rng.randrange(10, 50_000) * 1000),
                rng.randrange(1, 20_000),
                account_external_id(n),
                user,
                stamp,
                user,
                stamp,
                user,
                stamp,
            )
        )
    conn = org.conn()
    conn.execute("BEGIN")
    try:
        conn.executemany(
            f'INSERT OR IGNORE INTO {ACCOUNT.table} (_n, "Id", "Name", "Type", "Industry", '
            '"AnnualRevenue", "NumberOfEmployees", "ExternalId__c", "OwnerId", "CreatedDate", '
            '"CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted") '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            rows,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    org.ensure_tables()  # moves the id sequence past the seeded numbers
    org.seeded_accounts = (count, seed)
    return [row[1] for row in rows]
