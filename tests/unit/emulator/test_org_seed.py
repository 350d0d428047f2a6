"""create_accounts: the contract the core seeding command relies on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.config import EmulatorConfig
from emulator.ids import salesforce_id
from emulator.org.models import org_of
from emulator.org.seed import account_external_id, create_accounts
from emulator.state import EmulatorState


@pytest.fixture
def state() -> Iterator[EmulatorState]:
    st = EmulatorState(EmulatorConfig(time_scale=0))
    yield st
    st.close()


def test_ids_are_the_shared_sequence(state: EmulatorState) -> None:
    ids = create_accounts(state, 3, seed=7)
    assert ids == [salesforce_id("001", n) for n in (1, 2, 3)]
    assert org_of(state).counts()["Account"] == 3


def test_idempotent_and_deterministic(state: EmulatorState) -> None:
    first = create_accounts(state, 4, seed=7)
    again = create_accounts(state, 4, seed=7)
    assert first == again
    assert org_of(state).counts()["Account"] == 4
    row = (
        org_of(state)
        .conn()
        .execute('SELECT "ExternalId__c", "Name" FROM sobject_account WHERE "Id" = ?', (first[1],))
        .fetchone()
    )
    assert row == (account_external_id(2), "Account 000002")


def test_new_records_continue_after_seeded_ids(state: EmulatorState) -> None:
    from emulator.org.schema import ACCOUNT

    create_accounts(state, 2, seed=1)
    assert org_of(state).allocate(ACCOUNT, 1) == [(3, salesforce_id("001", 3))]


def test_reset_returns_to_the_seeded_org(state: EmulatorState) -> None:
    ids = create_accounts(state, 2, seed=1)
    org = org_of(state)
    org.conn().execute(
        'INSERT INTO sobject_opportunity (_n, "Id", "Name", "IsDeleted") VALUES (1, \'x\', \'y\', 0)'
    )
    state.reset()
    assert org.counts() == {"Account": 2, "Opportunity": 0}
    assert create_accounts(state, 2, seed=1) == ids


def test_fast_id_sequence_matches_salesforce_id() -> None:
    import random

    from emulator.org.models import IdSequence

    seq = IdSequence("006")
    rng = random.Random(5)
    for n in [*range(0, 8000), *(rng.randrange(0, 62**9) for _ in range(5000))]:
        assert seq(n) == salesforce_id("006", n)
