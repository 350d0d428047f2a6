"""Synthetic rows for the ``Opportunity_Source__dlm`` DMO, deterministic for a seed.

Rows reference Accounts that also exist in the org (``emulator.org.seed.create_accounts``), so a
load of these rows upserts Opportunities under real parents. Parents are drawn with a Zipf-like
skew (``skew=0``: uniform; ``skew=1``: classic Zipf) and are *not* sorted by key, which is what
makes naive unsorted Bulk jobs contend for parent locks. Zipf 1.5 over 20,000 Accounts gives the
largest Account ~38 % of the rows (~770,000 children at 2M rows); ``giant_share`` adds one
Account with a chosen share instead (see ``generate_rows``). Keys are ``externalOpp`` + a 7-digit
zero-padded serial, so lexical order equals numeric order for keyset paging.

2M rows take a few seconds: the rows are generated as tuples and written with one
``executemany`` in one transaction.
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from emulator.datacloud.schema import OPPORTUNITY_SOURCE

if TYPE_CHECKING:
    from emulator.config import SeedConfig
    from emulator.state import EmulatorState

KEY_PREFIX = "externalOpp"
STAGES = (
    ("Prospecting", 10.0),
    ("Qualification", 20.0),
    ("Needs Analysis", 30.0),
    ("Value Proposition", 50.0),
    ("Proposal/Price Quote", 75.0),
    ("Negotiation/Review", 90.0),
    ("Closed Won", 100.0),
    ("Closed Lost", 0.0),
)
_EPOCH = date(2024, 1, 1)
_DATES = [(_EPOCH + timedelta(days=d)).isoformat() for d in range(3 * 365)]

# Values that break naive CSV/SQL handling (reference §3.5): quotes, delimiters, line breaks,
# unicode, empty string (distinct from NULL), and a field at the 32,000-character limit.
HOSTILE_TEXT = (
    'Quote "inside" text',
    "Comma, separated, value",
    "Line\nbreak",
    "Carriage\r\nreturn",
    "Lone\rCR",
    "O'Brien's deal",
    "Ünïcödé – 日本語 – emoji 🚀",
    "",
    "#N/A",
    "Trailing space ",
    "x" * 32_000,
)


def external_id(n: int) -> str:
    """Key of row ``n`` (1-based)."""
    return f"{KEY_PREFIX}{n:07d}"


@dataclass(frozen=True)
class SeedResult:
    rows: int
    accounts: int
    seconds: float


def account_picker(count: int, skew: float, rng: random.Random) -> Iterator[int]:
    """Endless account indexes (0-based) with Zipf-like weights ``1 / (rank+1) ** skew``."""
    if count <= 0:
        raise ValueError("at least one account is needed")
    if skew <= 0:
        while True:
            yield int(rng.random() * count)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** skew for rank in range(count)))
    total = cumulative[-1]
    # The heaviest ranks go to scattered accounts, not to Account 1, 2, 3...
    order = list(range(count))
    rng.shuffle(order)
    last = count - 1
    while True:
        yield order[min(bisect.bisect_left(cumulative, rng.random() * total), last)]


def generate_rows(
    rows: int,
    account_ids: list[str],
    *,
    skew: float = 0.0,
    seed: int = 42,
    hostile: bool = False,
    start: int = 1,
    giant_share: float = 0.0,
) -> Iterator[tuple[Any, ...]]:
    """Row tuples in ``OPPORTUNITY_SOURCE`` column order.

    ``giant_share`` gives one Account (chosen by the seed) that share of the rows on top of the
    ``skew`` draw: a "giant parent" of a known size, e.g. 0.03 is 60,000 children at 2M rows,
    whatever the other Accounts look like. Its draws use their own random stream, so
    ``giant_share=0`` gives exactly the rows of a seed without it.
    """
    if not 0.0 <= giant_share < 1.0:
        raise ValueError(f"giant_share must be from 0 to below 1, got {giant_share}")
    rng = random.Random(seed)
    picker = account_picker(len(account_ids), skew, rng)
    giant_rng = random.Random(f"giant:{seed}")
    giant = account_ids[int(giant_rng.random() * len(account_ids))]
    n_dates = len(_DATES)
    n_stages = len(STAGES)
    n_hostile = len(HOSTILE_TEXT)
    rand = rng.random
    for n in range(start, start + rows):
        stage, probability = STAGES[int(rand() * n_stages)]
        name = f"Opportunity {n}"
        description: str | None = None if rand() < 0.3 else f"Synthetic opportunity number {n}"
        amount: float | None = round(1000 + rand() * 499_000, 2)
        if hostile and rand() < 0.05:
            name = f"{HOSTILE_TEXT[int(rand() * n_hostile)]} {n}"
            description = HOSTILE_TEXT[int(rand() * n_hostile)]
            if rand() < 0.2:
                amount = None
        activity = None if rand() < 0.1 else f"{_DATES[int(rand() * n_dates)]}T12:00:00.000+00:00"
        yield (
            external_id(n),
            name,
            stage,
            amount,
            _DATES[int(rand() * n_dates)],
            giant
            if giant_share and giant_rng.random() < giant_share
            else account_ids[next(picker)],
            probability,
            description,
            1 if rand() < 0.1 else 0,
            activity,
        )


def _create_accounts(state: EmulatorState, count: int, seed: int) -> list[str]:
    from emulator.org.seed import create_accounts

    return create_accounts(state, count, seed)


def seed_opportunity_source(
    state: EmulatorState,
    rows: int,
    accounts: int,
    *,
    skew: float = 0.0,
    seed: int = 42,
    hostile: bool = False,
    replace: bool = True,
    giant_share: float = 0.0,
) -> SeedResult:
    """Create ``accounts`` Accounts in the org and ``rows`` DMO rows over them.

    ``replace`` empties the DMO table first, so the same arguments always give the same table.
    """
    started = time.perf_counter()
    account_ids = _create_accounts(state, accounts, seed)
    conn = state.connect()
    columns = OPPORTUNITY_SOURCE.column_names()
    placeholders = ", ".join("?" for _ in columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.execute("BEGIN")
    try:
        if replace:
            conn.execute(f'DELETE FROM "{OPPORTUNITY_SOURCE.name}"')
        conn.executemany(
            f'INSERT OR REPLACE INTO "{OPPORTUNITY_SOURCE.name}" ({quoted}) VALUES ({placeholders})',
            generate_rows(
                rows,
                account_ids,
                skew=skew,
                seed=seed,
                hostile=hostile,
                giant_share=giant_share,
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SeedResult(rows, len(account_ids), time.perf_counter() - started)


def seed_from(state: EmulatorState, config: SeedConfig) -> SeedResult:
    """:func:`seed_opportunity_source` with a whole ``SeedConfig`` (CLI start, admin API)."""
    return seed_opportunity_source(
        state,
        config.rows,
        config.accounts,
        skew=config.skew,
        seed=config.seed,
        hostile=config.hostile,
        giant_share=config.giant_share,
    )
