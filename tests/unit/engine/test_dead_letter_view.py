"""Locating, paging and showing dead letters: the checks the progress view relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.dc2sf.dead_letter_html import show_value
from include.dc2sf.dead_letter_view import (
    Cell,
    UntrustedLocation,
    find_file,
    list_files,
    read_page,
    trusted_folder,
)
from include.dc2sf.engine.dead_letters import DeadLetter, DeadLetterWriter

RUN = "manual__2026-12-04T10:00:00+00:00"
ROOTS = ["s3://aws_dl@acme-bucket/dead_letters", "file:///srv/airflow/dead_letters"]


@pytest.mark.parametrize(
    "recorded",
    [
        "s3://acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001",
        "s3://aws_dl@acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001/",
        "s3://acme-bucket/dead_letters/x/../manual__2026-12-04T10_00_00+00_00/partition-001",
    ],
)
def test_a_recorded_bucket_folder_is_read_with_the_roots_connection(recorded: str) -> None:
    folder = trusted_folder(recorded, ROOTS, RUN, "partition-001")
    assert folder.conn_id == "aws_dl"
    assert str(folder) == (
        "s3://aws_dl@acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001"
    )


@pytest.mark.parametrize(
    "recorded",
    [
        # another partition, another run, another bucket, a parent, a sibling via "..", a prefix
        "s3://acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-002",
        "s3://acme-bucket/dead_letters/manual__other/partition-001",
        "s3://evil-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001",
        "s3://acme-bucket/dead_letters",
        "s3://acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001/../../x",
        "s3://acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-0011",
        "gs://acme-bucket/dead_letters/manual__2026-12-04T10_00_00+00_00/partition-001",
        "file:///etc",
        "/srv/airflow/dead_letters/manual__other/partition-001",
    ],
)
def test_anything_else_is_refused(recorded: str) -> None:
    with pytest.raises(UntrustedLocation):
        trusted_folder(recorded, ROOTS, RUN, "partition-001")


def test_local_folders_compare_resolved(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/dl"
    folder = DeadLetterWriter(root, RUN, 1, ["Name"]).folder
    run_dir = folder.parent.name
    dotted = f"file://{tmp_path}/dl/elsewhere/../{run_dir}/partition-001"
    assert str(trusted_folder(dotted, [root], RUN, "partition-001")) == str(folder)
    (tmp_path / "link").symlink_to(tmp_path / "dl")
    linked = f"file://{tmp_path}/link/{run_dir}/partition-001"
    assert str(trusted_folder(linked, [root], RUN, "partition-001")) == str(folder)
    with pytest.raises(UntrustedLocation):
        trusted_folder(str(folder), [f"file://{tmp_path}/other"], RUN, "partition-001")


def test_paging_counts_every_row_and_cuts_long_values(tmp_path: Path) -> None:
    writer = DeadLetterWriter(f"file://{tmp_path}", RUN, 0, ["Name"])
    letters = [DeadLetter(f"k{i}", "ERR", (f"v{i}" * (i + 1),)) for i in range(25)]
    url = writer.write(0, 0, letters)
    assert url
    (path,) = list(writer.folder.iterdir())
    page = read_page(path, offset=10, limit=5, max_chars=8)
    assert page.header == ["partition", "key", "sf__Error", "Name"]
    assert page.total_rows == 25 and page.offset == 10
    assert [row[1].text for row in page.rows] == [f"k{i}" for i in range(10, 15)]
    assert page.rows[0][3] == Cell(text="v10v10v1", length=len("v10" * 11))
    assert [f.rows for f in list_files(writer.folder)] == [25]
    assert find_file(writer.folder, path.name).name == path.name
    for name in ("../x.csv", path.name + "/..", "x.txt", ""):
        with pytest.raises(FileNotFoundError):
            find_file(writer.folder, name)


def test_show_value_escapes_and_marks() -> None:
    assert show_value(Cell("<b>&'\"", 5)) == "&lt;b&gt;&amp;&#x27;&quot;"
    assert show_value(Cell("a\x00\x7f\u202eb", 5)) == (
        "a<span class='ctl'>\\x00</span><span class='ctl'>\\x7f</span>"
        "<span class='ctl'>\\u202E</span>b"
    )
    assert show_value(Cell("a\nb\tc", 5)) == "a\nb\tc"
    assert show_value(Cell("abc", 1_003)).startswith("abc<span class='cut'>… (1,000 more")
