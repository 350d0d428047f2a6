"""Dead-letter files: permanently failed rows with their error, key and partition.

Written through `ObjectStoragePath`, so the root can be a local folder (`file:///...`, the default),
`s3://...` or `gs://...` without code changes. One file per chunk and round, with a deterministic
name: a resumed try that settles the same round again overwrites the file instead of duplicating
rows, and starting a chunk removes what an earlier, interrupted try left for it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from airflow.sdk import ObjectStoragePath


def default_dead_letter_root() -> str:
    """A local folder next to the Airflow home; set `dead_letter_root` to s3://… in production."""
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return f"file://{os.path.join(home, 'dead_letters')}"


#: Folder of the rows `plan` gives up on (NULL keys), next to the partitions' folders.
PLAN_FOLDER = "plan"


def partition_folder_name(partition: int) -> str:
    return f"partition-{partition:03d}"


def safe_run_id(run_id: str) -> str:
    """The run id as one path segment (``manual__2026-01-01T00:00:00+00:00`` has colons)."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in run_id)


def dead_letter_folder(root: str, run_id: str, name: str) -> ObjectStoragePath:
    """`<root>/<run>/<name>`: the one place that decides where a run's dead letters live.

    The writer puts files there and the progress view reads only there, so a path recorded in an
    XCom is trusted only when it is this folder for one of the run's roots.
    """
    return ObjectStoragePath(root.rstrip("/")) / safe_run_id(run_id) / name


#: A dead letter keeps the value that failed, however long: Python's csv reader refuses fields over
#: 128 KiB by default, so readers raise the (process-wide) limit to this first.
MAX_FIELD_CHARS = 256 * 1024 * 1024


def read_rows(path: ObjectStoragePath) -> Iterator[list[str]]:
    """Every row of a dead-letter file, header first, streamed (memory is one row at a time).

    Undecodable bytes become U+FFFD instead of failing: a reader of dead letters must show what is
    there, whatever it is.
    """
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        yield from csv.reader(handle)


def count_rows(path: ObjectStoragePath) -> int:
    """Data rows of one dead-letter file (its header excluded)."""
    return max(0, sum(1 for _ in read_rows(path)) - 1)


@dataclass(frozen=True)
class DeadLetter:
    key: str
    error: str
    values: tuple[str, ...]


class DeadLetterWriter:
    """Writes one partition's dead letters under `<root>/<run>/partition-<i>/`.

    `folder_name` overrides the folder for rows that belong to no partition (`PLAN_FOLDER`).
    """

    def __init__(
        self,
        root: str,
        run_id: str,
        partition: int,
        header: Sequence[str],
        *,
        folder_name: str | None = None,
    ) -> None:
        self.folder = dead_letter_folder(
            root, run_id, folder_name or partition_folder_name(partition)
        )
        self.partition = partition
        self.header = tuple(header)

    @classmethod
    def for_plan(cls, root: str, run_id: str, header: Sequence[str]) -> DeadLetterWriter:
        """The writer of rows `plan` gives up on (NULL keys): `<root>/<run>/plan/`."""
        return cls(root, run_id, 0, header, folder_name=PLAN_FOLDER)

    def _chunk_prefix(self, chunk_index: int) -> str:
        return f"chunk-{chunk_index:06d}-"

    def clear_chunk(self, chunk_index: int) -> None:
        """Remove files an interrupted earlier try wrote for this chunk."""
        if not self.folder.exists():
            return
        prefix = self._chunk_prefix(chunk_index)
        for path in self.folder.iterdir():
            if path.name.startswith(prefix):
                path.unlink()

    def write(
        self, chunk_index: int, round_number: int, letters: Sequence[DeadLetter]
    ) -> str | None:
        """Write the round's dead letters; returns the file's URL (None when there were none)."""
        if not letters:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self._chunk_prefix(chunk_index)}round-{round_number:02d}.csv"
        buffer = io.StringIO()
        # Quote everything: Python's writer leaves a lone CR unquoted with an LF terminator, and a
        # dead letter must read back exactly as the row that failed.
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(["partition", "key", "sf__Error", *self.header])
        for letter in letters:
            writer.writerow([self.partition, letter.key, letter.error, *letter.values])
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return str(path)

    def files(self) -> list[str]:
        if not self.folder.exists():
            return []
        return sorted(str(p) for p in self.folder.iterdir() if p.name.endswith(".csv"))

    def count_rows(self) -> int:
        return sum(count_rows(ObjectStoragePath(name)) for name in self.files())
