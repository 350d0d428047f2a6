"""Seeds runs with dead letters for the dead-letter view tests: hostile rows, forged paths, storage.

The files are written by the loader's own :class:`DeadLetterWriter` (so the view reads exactly the
format production writes), the XComs the way the load and plan tasks push them. Two storages:

* ``file://`` under the test's Airflow home (the default kind of root);
* ``memory://``, fsspec's in-memory filesystem registered with Airflow's ObjectStoragePath the way a
  provider registers ``s3`` or ``gs``: what works on it goes through the same non-local code path
  as a bucket (no local ``realpath``, listing and reading through the filesystem object).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import progress_seeding as s

from include.dc2sf.engine.dead_letters import PLAN_FOLDER, DeadLetter, DeadLetterWriter

DAG_ID = s.DEAD_LETTERS_DAG_ID
#: A run id as Airflow makes them: its colons and plus must survive folders, URLs and file names.
FILE_RUN = "manual__2026-12-04T10:00:00+00:00"
FILE_RUN_Q = quote(FILE_RUN, safe="")
MEMORY_RUN = "manual__dead_letters_memory"
MEMORY_ROOT = "memory://dc2sf-dead-letters/root"
#: A run without conf: its root is the DAG's Param default (fixture_dags/progress_fixture.py).
PARAM_RUN = "manual__dead_letters_param_default"
PARAM_DEFAULT_ROOT = "memory://dc2sf-param-default/root"
HEADER = ("Name", "Amount", "Description")

#: Values a dead letter carries by design: markup, script, formulas, control and bidi characters.
HOSTILE = {
    "script": "<script>window.__pwned = 1</script>",
    "img": '"><img src=x onerror="window.__pwned=2">',
    "formula": '=HYPERLINK("http://evil.example","click")',
    "control": "bell\x07 escape\x1b[31m nul-free\x0b end",
    "bidi": "invoice \u202egnp.exe",
    "newlines": "line one\nline two\r\nline three",
}
HUGE_CHARS = 1_000_000  # over the csv module's default 128 KiB field limit


@dataclass
class DeadLetterScenario:
    """What was written where, so the tests compare the view with it."""

    file_root: Path
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # source → name → bytes
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # source → name → rows
    plan_rows: int = 0
    memory_files: dict[str, bytes] = field(default_factory=dict)
    param_default_files: dict[str, bytes] = field(default_factory=dict)
    outside_file: Path | None = None


@contextlib.contextmanager
def memory_storage() -> Iterator[None]:
    """Registers fsspec's ``memory`` filesystem with ObjectStoragePath, like a provider would."""
    from airflow.sdk.io import fs as airflow_fs
    from fsspec.implementations.memory import MemoryFileSystem

    registry: Any = airflow_fs._register_filesystems()
    registry["memory"] = lambda conn_id, options: MemoryFileSystem()
    try:
        yield
    finally:
        registry.pop("memory", None)
        MemoryFileSystem.store.clear()
        MemoryFileSystem.pseudo_dirs[:] = [""]


def _letter(key: str, error: str, *values: str) -> DeadLetter:
    return DeadLetter(key=key, error=error, values=tuple(values))


def _read(url: str) -> bytes:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url).read_bytes()


def seed(home: Path) -> DeadLetterScenario:
    """Runs on a ``file://`` root with every hostile case, on a ``memory://`` root given in conf,
    and on the ``memory://`` root of the DAG's Param default (no conf)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = home / "dl-file-root"
    sc = DeadLetterScenario(file_root=root)
    plan = [
        {"partition": i, "range_start": None, "range_end": None, "start_inclusive": False}
        for i in range(3)
    ]
    s.create_run(
        FILE_RUN, dag_id=DAG_ID, start=now, plan=plan, conf={"dead_letter_root": f"file://{root}"}
    )

    # Partition 0: one file of hostile rows (and one huge value), one of 250 plain rows for paging.
    writer = DeadLetterWriter(f"file://{root}", FILE_RUN, 0, HEADER)
    hostile = [
        _letter(f"k-{name}", f"FIELD_CUSTOM_VALIDATION_EXCEPTION:{value}", value, "=1+1", value)
        for name, value in HOSTILE.items()
    ]
    hostile.append(_letter("k-huge", "STRING_TOO_LONG:Description", "big", "1", "x" * HUGE_CHARS))
    first = writer.write(0, 1, hostile)
    paged = [
        _letter(f"k{i:04d}", "REQUIRED_FIELD_MISSING:Name", "", str(i), f"row {i}")
        for i in range(250)
    ]
    second = writer.write(1, 0, paged)
    assert first and second
    # Not a dead-letter file: never listed nor served.
    (Path(writer.folder.path) / "notes.txt").write_text("not a dead letter")
    sc.outside_file = home / "secret.csv"
    sc.outside_file.write_text("partition,key,sf__Error\n0,secret,SECRET\n")
    (Path(writer.folder.path) / "escape.csv").symlink_to(sc.outside_file)
    sc.files["0"] = {Path(u).name: _read(u) for u in (first, second)}
    sc.rows["0"] = {Path(first).name: len(hostile), Path(second).name: len(paged)}
    s.push_progress(
        FILE_RUN,
        0,
        s.progress_value(
            0,
            started=now,
            updated=now,
            state="failed",
            processed=300,
            succeeded=300 - len(hostile) - len(paged),
            dead_lettered=len(hostile) + len(paged),
            dead_letter_files=[first, second],
            dead_letter_folder=str(writer.folder),
        ),
        dag_id=DAG_ID,
    )
    # Partition 1: a forged folder (XComs can be written through the REST API).
    s.push_progress(
        FILE_RUN,
        1,
        s.progress_value(
            1,
            started=now,
            updated=now,
            dead_lettered=1,
            dead_letter_files=[f"file://{sc.outside_file}"],
            dead_letter_folder=f"file://{home}",
        ),
        dag_id=DAG_ID,
    )
    # Partition 2: the folder of *another run* under the same root.
    other = DeadLetterWriter(f"file://{root}", "manual__someone_else", 2, HEADER)
    other_file = other.write(0, 0, [_letter("k-other", "OTHER_RUN", "a", "b", "c")])
    s.push_progress(
        FILE_RUN,
        2,
        s.progress_value(
            2,
            started=now,
            updated=now,
            dead_lettered=1,
            dead_letter_files=[other_file],
            dead_letter_folder=str(other.folder),
        ),
        dag_id=DAG_ID,
    )
    # Plan: rows with a NULL key, written as planning.dead_letter_null_keys writes them.
    plan_writer = DeadLetterWriter.for_plan(f"file://{root}", FILE_RUN, HEADER)
    nulls = [_letter("", "NULL_SOURCE_KEY: key is NULL", f"no key {i}", "1", "") for i in range(2)]
    plan_file = plan_writer.write(0, 0, nulls)
    assert plan_file
    sc.plan_rows = len(nulls)
    sc.files[PLAN_FOLDER] = {Path(plan_file).name: _read(plan_file)}
    sc.rows[PLAN_FOLDER] = {Path(plan_file).name: len(nulls)}
    s.push_xcom(
        FILE_RUN, "plan", -1, "null_keys", {"rows": len(nulls), "file": plan_file}, dag_id=DAG_ID
    )

    # The memory:// run: one partition, one file, read through the registered filesystem.
    sc.memory_files = _seed_one_file_run(
        MEMORY_RUN, MEMORY_ROOT, [hostile[0], *paged[:3]], plan, now, round_=2
    )
    # A run without a root in its conf: its folder comes from the DAG's Param default.
    sc.param_default_files = _seed_one_file_run(PARAM_RUN, PARAM_DEFAULT_ROOT, paged[:2], plan, now)
    return sc


def _seed_one_file_run(
    run_id: str,
    root: str,
    letters: list[DeadLetter],
    plan: list[dict[str, Any]],
    now: dt.datetime,
    *,
    round_: int = 0,
) -> dict[str, bytes]:
    """A one-partition run whose partition 0 wrote ``letters`` to one file under ``root``.

    ``root`` goes into the run's conf unless it is the DAG's Param default. Returns
    {file name: bytes as written}.
    """
    conf = None if root == PARAM_DEFAULT_ROOT else {"dead_letter_root": root}
    s.create_run(run_id, dag_id=DAG_ID, start=now, plan=plan[:1], conf=conf)
    writer = DeadLetterWriter(root, run_id, 0, HEADER)
    written = writer.write(0, round_, letters)
    assert written
    s.push_progress(
        run_id,
        0,
        s.progress_value(
            0,
            started=now,
            updated=now,
            dead_lettered=len(letters),
            dead_letter_files=[written],
            dead_letter_folder=str(writer.folder),
        ),
        dag_id=DAG_ID,
    )
    return {written.rsplit("/", 1)[1]: _read(written)}
