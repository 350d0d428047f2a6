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
from collections.abc import Sequence
from dataclasses import dataclass

from airflow.sdk import ObjectStoragePath


def default_dead_letter_root() -> str:
    """A local folder next to the Airflow home; set `dead_letter_root` to s3://… in production."""
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return f"file://{os.path.join(home, 'dead_letters')}"


@dataclass(frozen=True)
class DeadLetter:
    key: str
    error: str
    values: tuple[str, ...]


class DeadLetterWriter:
    """Writes one partition's dead letters under `<root>/<run>/partition-<i>/`."""

    def __init__(self, root: str, run_id: str, partition: int, header: Sequence[str]) -> None:
        safe_run = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in run_id)
        self.folder = ObjectStoragePath(root.rstrip("/")) / safe_run / f"partition-{partition:03d}"
        self.partition = partition
        self.header = tuple(header)

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
        total = 0
        for name in self.files():
            with ObjectStoragePath(name).open("r", encoding="utf-8", newline="") as handle:
                total += sum(1 for _ in csv.reader(handle)) - 1
        return total
