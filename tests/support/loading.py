"""Helpers to run a partition load against an emulator and compare Salesforce with the source."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emulator.testing import EmulatorServer
from include.dc2sf import defaults
from include.dc2sf.engine.config import LoadConfig, RetrySettings
from include.dc2sf.engine.dead_letters import DeadLetterWriter
from include.dc2sf.engine.loader import PartitionLoader
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.retry import CallCounter, RetryPolicy
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.mapping import MappingSpec

FAST_RETRY = RetryPolicy(
    max_attempts=10, initial_wait_seconds=0.01, max_wait_seconds=0.1, limit_wait_seconds=0.1
)

#: Source column → Opportunity field, for comparing what landed with what was read.
COMPARED = {
    "ExternalId__c": "ExternalId__c",
    "Name__c": "Name",
    "StageName__c": "StageName",
    "Amount__c": "Amount",
    "CloseDate__c": "CloseDate",
    "AccountId__c": "AccountId",
    "Probability__c": "Probability",
    "Description__c": "Description",
    "IsPrivate__c": "IsPrivate",
}


class DictStore(dict):
    """The task state store's interface over a dict (what PartitionLoader needs)."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def make_config(
    tmp_path: Any,
    *,
    partition: int = 0,
    key_range: KeyRange | None = None,
    mapping: dict[str, Any] | None = None,
    **overrides: Any,
) -> LoadConfig:
    settings: dict[str, Any] = {
        "source_dmo": defaults.SOURCE_DMO,
        "records_per_job": 1_000,
        "max_in_flight": 3,
        "page_size": 700,
        "poll_interval_seconds": 0.02,
        "retry": RetrySettings(
            record_retries=5, initial_backoff_seconds=0.01, max_backoff_seconds=0.05
        ),
    }
    settings.update(overrides)
    return LoadConfig(
        partition=partition,
        key_range=key_range or KeyRange(),
        mapping=MappingSpec.from_dict(mapping or defaults.OPPORTUNITY_MAPPING),
        target_object=defaults.TARGET_OBJECT,
        external_id_field=defaults.EXTERNAL_ID_FIELD,
        dead_letter_root=f"file://{tmp_path}/dead_letters",
        **settings,
    )


def make_loader(
    config: LoadConfig, store: DictStore | None = None, run_id: str = "test_run"
) -> PartitionLoader:
    counter = CallCounter()
    salesforce = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=counter)
    datacloud = DataCloudHook(salesforce_hook=salesforce, retry_policy=FAST_RETRY, counter=counter)
    writer = DeadLetterWriter(
        config.dead_letter_root, run_id, config.partition, config.mapping.header
    )
    published: list[dict[str, Any]] = []
    loader = PartitionLoader(
        config,
        salesforce=salesforce,
        datacloud=datacloud,
        store=store if store is not None else DictStore(),
        dead_letters=writer,
        publish=published.append,
        check_limits=True,
    )
    loader.published = published  # type: ignore[attr-defined]
    return loader


def source_rows(emu: EmulatorServer) -> dict[str, tuple]:
    columns = ", ".join(f'"{c}"' for c in COMPARED)
    with emu.state.connect() as conn:
        rows = conn.execute(f'SELECT {columns} FROM "{defaults.SOURCE_DMO}"').fetchall()
    return {row[0]: tuple(row) for row in rows}


def salesforce_rows(emu: EmulatorServer, keys: Iterable[str] | None = None) -> dict[str, tuple]:
    columns = ", ".join(f'"{f}"' for f in COMPARED.values())
    with emu.state.connect() as conn:
        rows = conn.execute(f"SELECT {columns} FROM sobject_opportunity").fetchall()
    found: dict[str, tuple] = {}
    for row in rows:
        assert row[0] not in found, f"duplicate Opportunity for key {row[0]!r}"
        found[row[0]] = tuple(row)
    if keys is not None:
        wanted = set(keys)
        found = {k: v for k, v in found.items() if k in wanted}
    return found


def assert_exact(emu: EmulatorServer, keys: Iterable[str] | None = None) -> int:
    """Every source row (or those of `keys`) is in Salesforce once, field for field."""
    source = source_rows(emu)
    if keys is not None:
        source = {k: source[k] for k in keys}
    landed = salesforce_rows(emu, source)
    missing = sorted(set(source) - set(landed))
    assert not missing, f"{len(missing)} rows missing, e.g. {missing[:5]}"
    differing = [k for k in source if _normalise(source[k]) != _normalise(landed[k])]
    assert not differing, (
        f"{len(differing)} rows differ, e.g. {source[differing[0]]} vs {landed[differing[0]]}"
    )
    return len(source)


def _normalise(row: tuple) -> tuple:
    """Salesforce keeps no empty text: an empty string is stored as null (on insert an empty cell
    means null; `#N/A` clears on update). So '' and None compare equal; everything else exactly."""
    return tuple(round(v, 6) if isinstance(v, float) else (None if v == "" else v) for v in row)


class FileStore(DictStore):
    """A DictStore persisted to a JSON file after every write (atomic rename), so a process that is
    killed leaves exactly what a task state store would hold."""

    def __init__(self, path: Any) -> None:
        import json
        from pathlib import Path

        super().__init__()
        self.path = Path(path)
        if self.path.exists():
            self.update(json.loads(self.path.read_text()))

    def _flush(self) -> None:
        import json
        import os

        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(self)))
        os.replace(tmp, self.path)

    def set(self, key: str, value: Any) -> None:
        super().set(key, value)
        self._flush()

    def delete(self, key: str) -> None:
        super().delete(key)
        self._flush()


def read_dead_letters(urls: Iterable[str]) -> list[dict[str, str]]:
    """Every row of the given dead-letter files (`file://` URLs), as dicts."""
    import csv
    from pathlib import Path

    rows: list[dict[str, str]] = []
    for url in urls:
        with Path(url.removeprefix("file://")).open(encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows
