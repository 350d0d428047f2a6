"""PartitionLoader end to end against the emulator: exact results, dead letters, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.config import EmulatorConfig
from include.dc2sf.engine.loader import CHECKPOINT_KEY
from include.dc2sf.engine.outcomes import Continue, Wait
from tests.support.loading import (
    DictStore,
    assert_exact,
    make_config,
    make_loader,
    salesforce_rows,
    source_rows,
)

pytestmark = pytest.mark.integration


def test_one_partition_loads_every_row_exactly(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=5_000, accounts=60, skew=1.0)
    store = DictStore()
    loader = make_loader(make_config(tmp_path), store)
    done = loader.run_blocking()
    assert assert_exact(emu) == 5_000
    summary = done.summary
    assert (summary["processed"], summary["succeeded"], summary["dead_lettered"]) == (
        5_000,
        5_000,
        0,
    )
    assert summary["state"] == "success"
    assert CHECKPOINT_KEY not in store  # cleared, so a later clear of the task starts over
    assert summary["jobs_total"] >= 5
    published = loader.published  # type: ignore[attr-defined]
    assert published[-1]["succeeded"] == 5_000
    assert [p["succeeded"] for p in published] == sorted(p["succeeded"] for p in published)


def test_resume_from_checkpoint_reattaches_jobs_and_stays_exact(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(EmulatorConfig(time_scale=0.0), rows=3_000, accounts=40)
    store = DictStore()
    config = make_config(tmp_path, records_per_job=400, max_in_flight=2)
    first = make_loader(config, store)
    # Run until the second chunk has jobs in flight, then "crash" (drop the loader).
    chunks_seen = 0
    while True:
        outcome = first.step()
        if isinstance(outcome, Wait) and outcome.job_ids:
            chunks_seen = store[CHECKPOINT_KEY]["chunks_done"]
            if chunks_seen >= 1:
                break
            first.wait(outcome)
        elif not isinstance(outcome, Continue | Wait):
            raise AssertionError("finished before the crash point")
    in_flight = list(store[CHECKPOINT_KEY]["chunk"]["jobs"].values())
    assert in_flight
    jobs_before = len(emu.admin.get("/jobs").json()["jobs"])
    second = make_loader(config, store)
    done = second.run_blocking()
    assert assert_exact(emu) == 3_000
    assert done.summary["succeeded"] + done.summary["dead_lettered"] == 3_000
    assert done.summary["processed"] == 3_000
    # The resumed try re-attached the in-flight jobs instead of sending their records again.
    created_after = len(emu.admin.get("/jobs").json()["jobs"]) - jobs_before
    assert created_after <= (3_000 // 400) + 2


def test_required_field_violation_is_dead_lettered_rest_loads(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(rows=1_200, accounts=10)
    bad_key = sorted(source_rows(emu))[100]
    with emu.state.connect() as conn:
        conn.execute(
            'UPDATE "Opportunity_Source__dlm" SET "Name__c" = NULL WHERE "ExternalId__c" = ?',
            (bad_key,),
        )
        conn.commit()
    mapping = {
        "key_column": "ExternalId__c",
        "fields": {
            "ExternalId__c": "ExternalId__c",
            "Name": {"source": "Name__c", "on_null": "blank"},
            "StageName": "StageName__c",
            "CloseDate": {"source": "CloseDate__c", "type": "date"},
            "AccountId": "AccountId__c",
        },
    }
    config = make_config(tmp_path, mapping=mapping, failure_threshold=0.01)
    loader = make_loader(config)
    done = loader.run_blocking()
    assert done.summary["dead_lettered"] == 1
    assert done.summary["succeeded"] == 1_199
    landed = salesforce_rows(emu)
    assert bad_key not in landed and len(landed) == 1_199
    files = loader.dead_letters.files()
    assert len(files) == 1
    text = Path(files[0].removeprefix("file://")).read_text(encoding="utf-8")
    assert bad_key in text and "REQUIRED_FIELD_MISSING" in text
