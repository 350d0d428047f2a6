"""A source whose key is not unique: rows sharing a key are dead-lettered with the reason (never
one silently overwriting the other), rows with a null key are reported, and keyset paging never
splits a key's rows across pages (which would skip some of them)."""

from __future__ import annotations

import pytest

from include.dc2sf.engine.planning import null_key_count
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from tests.support.loading import (
    FAST_RETRY,
    make_config,
    make_loader,
    read_dead_letters,
    salesforce_rows,
)

pytestmark = pytest.mark.integration

STAGING = "Opportunity_Staging__dlm"


def _fill_staging(emu, keys: list[str | None]) -> None:
    with emu.state.connect() as conn:
        account = conn.execute("SELECT Id FROM sobject_account LIMIT 1").fetchone()[0]
        conn.executemany(
            f'INSERT INTO "{STAGING}" ("ExternalId__c", "Name__c", "StageName__c", "Amount__c", '
            '"CloseDate__c", "AccountId__c", "Probability__c", "Description__c", "IsPrivate__c") '
            "VALUES (?, ?, 'Prospecting', 100.0, '2026-01-01', ?, 10.0, NULL, 0)",
            [(key, f"Opp {i}", account) for i, key in enumerate(keys)],
        )
        conn.commit()


def test_duplicate_keys_are_dead_lettered_even_across_page_boundaries(
    emulator_factory, tmp_path
) -> None:
    emu = emulator_factory(rows=1, accounts=3)
    keys = [f"k{n:04d}" for n in range(1, 101)]
    # k0010 twice (inside a page), k0020 three times (page size 20: straddles the boundary).
    source = [*keys, "k0010", "k0020", "k0020"]
    _fill_staging(emu, source)
    config = make_config(
        tmp_path,
        source_dmo=STAGING,
        page_size=20,
        records_per_job=50,
        max_in_flight=1,
        failure_threshold=1.0,
    )
    loader = make_loader(config)
    done = loader.run_blocking()
    assert done.summary["processed"] == len(source)
    assert done.summary["dead_lettered"] == 5
    assert done.summary["succeeded"] == len(source) - 5
    landed = set(salesforce_rows(emu))
    assert landed == set(keys) - {"k0010", "k0020"}
    letters = read_dead_letters(loader.dead_letters.files())
    assert sorted(row["key"] for row in letters) == ["k0010", "k0010", "k0020", "k0020", "k0020"]
    assert all(row["sf__Error"].startswith("DUPLICATE_SOURCE_KEY: ") for row in letters)


def test_null_keys_are_counted_for_the_plan(emulator_factory) -> None:
    emu = emulator_factory(rows=1, accounts=1)
    _fill_staging(emu, ["a", None, "b", None])
    salesforce = SalesforceBulk2Hook(retry_policy=FAST_RETRY)
    datacloud = DataCloudHook(salesforce_hook=salesforce, retry_policy=FAST_RETRY)
    assert null_key_count(datacloud, STAGING, "ExternalId__c") == 2


def test_null_key_rows_are_dead_lettered_by_the_plan(emulator_factory, tmp_path) -> None:
    from include.dc2sf.engine.planning import dead_letter_null_keys

    emu = emulator_factory(rows=1, accounts=1)
    _fill_staging(emu, ["a", None, "b", None])
    salesforce = SalesforceBulk2Hook(retry_policy=FAST_RETRY)
    datacloud = DataCloudHook(salesforce_hook=salesforce, retry_policy=FAST_RETRY)
    params = {"source_dmo": STAGING, "dead_letter_root": f"file://{tmp_path}/dead"}
    result = dead_letter_null_keys(params, "run_1", datacloud=datacloud)
    assert result["rows"] == 2
    letters = read_dead_letters([result["file"]])
    assert len(letters) == 2
    assert all(row["sf__Error"].startswith("NULL_SOURCE_KEY") for row in letters)
    assert sorted(row["Name"] for row in letters) == ["Opp 1", "Opp 3"]
