"""Hostile source values (quotes, commas, CR/LF, unicode, empty vs null, 32,000-char text) land
in Salesforce exactly as in the source, through Data Cloud JSON, our CSV and Bulk's parser.
Values that cannot be loaded as they are go to the dead letter with the reason, not silently."""

from __future__ import annotations

import pytest

from tests.support.loading import (
    assert_exact,
    make_config,
    make_loader,
    read_dead_letters,
    salesforce_rows,
    source_rows,
)

pytestmark = pytest.mark.integration

NAME, DESCRIPTION = 1, 7
OPPORTUNITY_NAME_LENGTH = 120


def test_hostile_values_round_trip_exactly(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=3_000, accounts=30, hostile=True)
    source = source_rows(emu)
    descriptions = [row[DESCRIPTION] for row in source.values()]
    for trouble in ('"', ",", "\n", "\r\n", "🚀", "O'Brien"):
        assert any(d and trouble in d for d in descriptions), trouble
    assert any(d and "\r" in d and "\r\n" not in d for d in descriptions)  # a lone CR
    assert any(d and len(d) == 32_000 for d in descriptions)
    assert any(d is None for d in descriptions) and any(d == "" for d in descriptions)

    # A literal "#N/A" would silently clear the field; a 32,000-char Name exceeds the field limit.
    refused_by_mapping = {k for k, row in source.items() if row[DESCRIPTION] == "#N/A"}
    refused_by_salesforce = {
        k for k, row in source.items() if len(row[NAME]) > OPPORTUNITY_NAME_LENGTH
    } - refused_by_mapping
    assert refused_by_mapping and refused_by_salesforce

    config = make_config(tmp_path, records_per_job=700, failure_threshold=1.0)
    loader = make_loader(config)
    done = loader.run_blocking()
    dead = refused_by_mapping | refused_by_salesforce
    assert done.summary["dead_lettered"] == len(dead)
    assert done.summary["succeeded"] == 3_000 - len(dead)
    assert set(salesforce_rows(emu)) == set(source) - dead
    assert assert_exact(emu, set(source) - dead) == 3_000 - len(dead)

    rows = read_dead_letters(loader.dead_letters.files())
    letters = "".join(row["sf__Error"] for row in rows)
    assert {row["key"] for row in rows} == dead
    assert all(row["ExternalId__c"] == row["key"] and row["sf__Error"] for row in rows)
    assert "REJECTED_BEFORE_LOAD:Description" in letters
    # Name's describe length (120) is checked before sending: Salesforce never sees those rows.
    assert "REJECTED_BEFORE_LOAD:Name: STRING_TOO_LONG" in letters
    assert done.summary["failed"] == 0
