"""Bad source rows are dead-lettered with a clear reason while the rest load; a column dropped
mid-run stops the partition cleanly with a checkpoint a later try resumes from exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.config import EmulatorConfig
from include.dc2sf.engine.loader import CHECKPOINT_KEY
from include.dc2sf.engine.outcomes import Done, Wait
from tests.support.loading import (
    DictStore,
    assert_exact,
    make_config,
    make_loader,
    read_dead_letters,
    salesforce_rows,
    source_rows,
)

pytestmark = pytest.mark.integration
DMO = "Opportunity_Source__dlm"


def test_over_long_values_and_invalid_dates_are_dead_lettered_rest_loads(
    emulator_factory, tmp_path: Path
) -> None:
    emu = emulator_factory(rows=2_000, accounts=20)
    keys = sorted(source_rows(emu))
    too_long, bad_date, not_a_date = keys[5], keys[777], keys[1_500]
    long_name, longest_name = keys[900], keys[901]
    with emu.state.connect() as conn:
        conn.execute(
            f'UPDATE "{DMO}" SET "Description__c" = ? WHERE "ExternalId__c" = ?',
            ("x" * 32_001, too_long),
        )
        # Opportunity Name is 120 characters in describe (the Bulk limit, 32,000, is not the bound).
        conn.execute(
            f'UPDATE "{DMO}" SET "Name__c" = ? WHERE "ExternalId__c" = ?', ("n" * 200, long_name)
        )
        conn.execute(
            f'UPDATE "{DMO}" SET "Name__c" = ? WHERE "ExternalId__c" = ?', ("n" * 120, longest_name)
        )
        conn.execute(
            f'UPDATE "{DMO}" SET "CloseDate__c" = ? WHERE "ExternalId__c" = ?',
            ("2024-02-31", bad_date),
        )
        conn.execute(
            f'UPDATE "{DMO}" SET "CloseDate__c" = ? WHERE "ExternalId__c" = ?',
            ("next tuesday", not_a_date),
        )
        conn.commit()
    loader = make_loader(make_config(tmp_path, failure_threshold=0.01))
    summary = loader.run_blocking().summary
    assert (summary["processed"], summary["succeeded"], summary["dead_lettered"]) == (
        2_000,
        1_996,
        4,
    )
    assert summary["failed"] == 0, "every bad row was refused before sending, none by Salesforce"
    bad = {too_long, bad_date, not_a_date, long_name}
    assert assert_exact(emu, [k for k in keys if k not in bad]) == 1_996
    assert not bad & set(salesforce_rows(emu))
    letters = {
        row["key"]: row["sf__Error"] for row in read_dead_letters(loader.dead_letters.files())
    }
    assert set(letters) == bad
    assert letters[too_long] == (
        "REJECTED_BEFORE_LOAD:Description: STRING_TOO_LONG: 32001 characters, more than the "
        "field's limit of 32000"
    )
    assert letters[long_name] == (
        "REJECTED_BEFORE_LOAD:Name: STRING_TOO_LONG: 200 characters, more than the field's "
        "limit of 120"
    )
    assert letters[bad_date] == (
        "REJECTED_BEFORE_LOAD:CloseDate: '2024-02-31' is not a valid date "
        "(day is out of range for month)"
    )
    assert letters[not_a_date] == (
        "REJECTED_BEFORE_LOAD:CloseDate: 'next tuesday' does not match the date format 'ISO 8601'"
    )


def test_column_dropped_mid_run_stops_cleanly_and_resumes_exactly(
    emulator_factory, tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(time_scale=0.0), rows=3_000, accounts=30)
    with emu.state.connect() as conn:
        saved = conn.execute(f'SELECT "ExternalId__c", "Description__c" FROM "{DMO}"').fetchall()
    store = DictStore()
    config = make_config(tmp_path, records_per_job=400, max_in_flight=2, page_size=400)
    first = make_loader(config, store)
    dropped = False
    with pytest.raises(Exception) as raised:
        while True:
            outcome = first.step()
            if isinstance(outcome, Done):
                raise AssertionError("finished before the column was dropped")
            if isinstance(outcome, Wait):
                first.wait(outcome)
            if not dropped and store.get(CHECKPOINT_KEY, {}).get("chunks_done", 0) >= 1:
                with emu.state.connect() as conn:
                    conn.execute(f'ALTER TABLE "{DMO}" DROP COLUMN "Description__c"')
                    conn.commit()
                dropped = True
    assert dropped
    assert "Description__c" in str(raised.value)  # the message names the missing column
    checkpoint = store[CHECKPOINT_KEY]
    settled = checkpoint["totals"]["succeeded"] + checkpoint["totals"]["dead_lettered"]
    assert checkpoint["watermark"] is not None and settled == checkpoint["chunks_done"] * 800
    assert len(salesforce_rows(emu)) >= settled  # what the checkpoint says is settled is there
    # Restore the column, resume with the same state store: exact, nothing twice.
    with emu.state.connect() as conn:
        conn.execute(f'ALTER TABLE "{DMO}" ADD COLUMN "Description__c" TEXT')
        conn.executemany(
            f'UPDATE "{DMO}" SET "Description__c" = ? WHERE "ExternalId__c" = ?',
            [(description, key) for key, description in saved],
        )
        conn.commit()
    summary = make_loader(config, store).run_blocking().summary
    assert (summary["processed"], summary["succeeded"], summary["dead_lettered"]) == (
        3_000,
        3_000,
        0,
    )
    assert assert_exact(emu) == 3_000
    assert CHECKPOINT_KEY not in store
