"""Reading a run's dead-letter files for the progress view: locate, list, page, stream.

Everything goes through ``ObjectStoragePath``, the way the loader writes them, so a root on
``file://``, ``s3://`` or ``gs://`` (any filesystem an Airflow provider registers) is read by the
same code.

Why the checks: the api-server must never become a way to read arbitrary files. A request names a
*source* (the plan, or a partition's map index) and a file *name*, never a path. The folder is
taken from what the run recorded (its ``progress`` / ``null_keys`` XComs), and accepted only when
it is the folder :func:`~include.dc2sf.engine.dead_letters.dead_letter_folder` gives for that
run, that source and one of the run's dead-letter roots; XComs can be written through the REST
API, so a recorded path alone proves nothing. A file must then be a plain ``*.csv`` name that the
storage lists directly inside that folder (on a local disk, not a symlink leading elsewhere).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from airflow.sdk import ObjectStoragePath

from include.dc2sf.engine.dead_letters import count_rows, dead_letter_folder, read_rows

#: The names the writer gives (``chunk-000003-round-01.csv``); anything else is not served.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.csv")
DOWNLOAD_CHUNK_BYTES = 64 * 1024


class UntrustedLocation(Exception):
    """A recorded location that is not this run's dead-letter folder under one of its roots."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    rows: int
    size: int | None


@dataclass(frozen=True, slots=True)
class Cell:
    """A value as far as the view shows it, and how long it really is."""

    text: str
    length: int


@dataclass(frozen=True, slots=True)
class Page:
    header: list[str]
    rows: list[list[Cell]]
    offset: int
    total_rows: int


def _location(url: str) -> tuple[str, str]:
    """What a URL points at, for comparing two spellings: scheme and normalised path.

    The connection id some roots carry (``s3://conn@bucket/...``) names credentials, not a place,
    so it is left out; local paths are resolved (``..`` and symlinks) like the OS would.
    """
    parts = urlsplit(url)
    scheme = parts.scheme or "file"
    if scheme in ("file", "local"):
        return "file", os.path.realpath(unquote(parts.path))
    bucket = parts.netloc.rpartition("@")[2]
    return scheme, posixpath.normpath(f"/{bucket}/{unquote(parts.path).lstrip('/')}")


def trusted_folder(
    recorded: str, roots: Sequence[str], run_id: str, folder_name: str
) -> ObjectStoragePath:
    """The run's folder for ``folder_name`` under the root the run ``recorded`` it in.

    The returned path is built from the root (keeping its connection id), never from ``recorded``.
    """
    wanted = _location(recorded)
    for root in roots:
        folder = dead_letter_folder(root, run_id, folder_name)
        if _location(str(folder)) == wanted:
            return folder
    raise UntrustedLocation(
        f"{recorded!r} is not the {folder_name} dead-letter folder of this run under its "
        "dead_letter_root"
    )


def _is_local(path: ObjectStoragePath) -> bool:
    return (path.protocol or "file") in ("file", "local")


def _files(folder: ObjectStoragePath) -> dict[str, ObjectStoragePath]:
    if not folder.exists():
        return {}
    found: dict[str, ObjectStoragePath] = {}
    for path in folder.iterdir():
        if not FILE_NAME.fullmatch(path.name) or not path.is_file():
            continue
        if _is_local(path) and os.path.dirname(os.path.realpath(path.path)) != os.path.realpath(
            folder.path
        ):
            continue  # a symlink out of the folder
        found[path.name] = path
    return dict(sorted(found.items()))


def list_files(folder: ObjectStoragePath) -> list[FileInfo]:
    """The dead-letter CSVs in ``folder`` with their row counts (reads each file once)."""
    infos = []
    for name, path in _files(folder).items():
        try:
            size: int | None = path.stat().st_size
        except (OSError, NotImplementedError):
            size = None
        infos.append(FileInfo(name=name, rows=count_rows(path), size=size))
    return infos


def find_file(folder: ObjectStoragePath, name: str) -> ObjectStoragePath:
    """The file ``name`` as the storage lists it in ``folder``; FileNotFoundError otherwise.

    ``name`` is only ever compared with listed names, never joined onto a path.
    """
    if FILE_NAME.fullmatch(name):
        path = _files(folder).get(name)
        if path is not None:
            return path
    raise FileNotFoundError(name)


def read_page(path: ObjectStoragePath, *, offset: int, limit: int, max_chars: int) -> Page:
    """Rows ``offset`` .. ``offset + limit`` of a file and its total row count.

    Values are cut at ``max_chars`` while reading, so a page of huge values stays small; the file
    is streamed to the end to count its rows.
    """
    header: list[str] = []
    rows: list[list[Cell]] = []
    total = 0
    with contextlib.closing(read_rows(path)) as reader:
        for number, row in enumerate(reader):
            if number == 0:
                header = row
                continue
            total += 1
            if offset < total <= offset + limit:
                rows.append([Cell(text=value[:max_chars], length=len(value)) for value in row])
    return Page(header=header, rows=rows, offset=offset, total_rows=total)


def iter_bytes(path: ObjectStoragePath) -> Iterator[bytes]:
    """The file's bytes, unchanged, in chunks (a download never holds the file in memory)."""
    with path.open("rb") as handle:
        while chunk := handle.read(DOWNLOAD_CHUNK_BYTES):
            yield chunk
