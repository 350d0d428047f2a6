"""Dead-letter routes of the progress plugin against the real api-server app.

What is checked: every route needs a login and access to the DAG; a run's files are listed per
source (the plan's NULL-key rows included) with their row counts; a file is shown as an escaped,
paged table and downloaded byte for byte; nothing outside the run's own dead-letter folder is ever
read, whatever the request or a forged XCom says; and a ``memory://`` root (a non-local fsspec
filesystem, like ``s3://``) goes through the same routes.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from conftest import ACTIVE_RUN, Scenario, bearer
from dead_letter_seeding import (
    DAG_ID,
    FILE_RUN,
    FILE_RUN_Q,
    HOSTILE,
    HUGE_CHARS,
    MEMORY_RUN,
    PARAM_RUN,
    DeadLetterScenario,
)
from progress_seeding import FIXTURE_DAG_ID

from include.dc2sf.dead_letter_html import MAX_CELL_CHARS
from include.dc2sf.engine.dead_letters import safe_run_id
from include.dc2sf.progress_report import render_text

BASE = f"/dc2sf/runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters"
API = f"/dc2sf/api/runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters"
HOSTILE_FILE = "chunk-000000-round-01.csv"
PAGED_FILE = "chunk-000001-round-00.csv"
PLAN_FILE = "chunk-000000-round-00.csv"
ROUTES = [
    API,
    BASE,
    f"{BASE}/0",
    f"{BASE}/plan",
    f"{BASE}/0/{HOSTILE_FILE}",
    f"{BASE}/0/{HOSTILE_FILE}/download",
]
#: Every tag the pages may contain: no script, image, iframe, form, style or object, ever.
ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "link",
    "title",
    "body",
    "main",
    "nav",
    "h1",
    "h2",
    "p",
    "a",
    "span",
    "div",
    "code",
    "section",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
}


class _Page(HTMLParser):
    """Tags, attributes and the cells of ``#letters`` of one page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.header: list[str] = []
        self._in_letters = False
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table" and attributes.get("id") == "letters":
            self._in_letters = True
        elif self._in_letters and tag == "tr":
            self.rows.append([])
        elif self._in_letters and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_letters = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _get(client: Any, token: str, path: str, **params: Any) -> Any:
    return client.get(path, headers=bearer(token), params=params or None)


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_needs_a_login(
    client: Any, dead_letters: DeadLetterScenario, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert b"REQUIRED_FIELD_MISSING" not in response.content


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_needs_read_access_to_the_dag(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario, path: str
) -> None:
    response = _get(client, tokens["outsider"], path)
    assert response.status_code == 403
    assert b"k-script" not in response.content


# --- listing -------------------------------------------------------------------------------------


def test_listing_per_source_with_row_counts(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    response = _get(client, tokens["viewer"], API)
    assert response.status_code == 200, response.text
    sources = {s["key"]: s for s in response.json()["sources"]}
    assert list(sources) == ["plan", "0", "1", "2"]
    for key in ("plan", "0"):
        files = {f["name"]: f["rows"] for f in sources[key]["files"]}
        assert files == dead_letters.rows[key], key
        assert sources[key]["error"] is None
        for f in sources[key]["files"]:
            assert f["size"] == len(dead_letters.files[key][f["name"]])
            assert f["view_url"] == f"runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/{key}/{f['name']}"
            assert f["download_url"] == f["view_url"] + "/download"
    assert sources["plan"]["recorded_rows"] == dead_letters.plan_rows == 2
    # The symlink out of the folder and the non-CSV file are not dead letters.
    assert "escape.csv" not in str(sources["0"]) and "notes.txt" not in str(sources["0"])
    # Forged (1) and another run's (2) folders: refused, said so, nothing listed.
    for key in ("1", "2"):
        assert sources[key]["files"] == []
        assert "outside this run's dead-letter root" in sources[key]["error"]


def test_listing_page(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    response = _get(client, tokens["viewer"], BASE)
    assert response.status_code == 200
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = _Page(response.text)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    sections = [a.get("id") for tag, a in page.tags if tag == "section"]
    assert sections == ["source-plan", "source-0", "source-1", "source-2"]
    views = [a["href"] for tag, a in page.tags if tag == "a" and a.get("class") == "view"]
    # Relative links (the page works under any base URL and in the UI's iframe).
    assert views == [
        f"../../../runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/plan/{PLAN_FILE}",
        f"../../../runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/0/{HOSTILE_FILE}",
        f"../../../runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/0/{PAGED_FILE}",
    ]
    assert f"<td class='num'>{sum(dead_letters.rows['0'].values())}</td>" in response.text


def test_one_partition_page(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    page = _Page(_get(client, tokens["viewer"], f"{BASE}/0").text)
    assert [a.get("id") for tag, a in page.tags if tag == "section"] == ["source-0"]
    downloads = [a["href"] for tag, a in page.tags if tag == "a" and a.get("class") == "download"]
    assert downloads == [
        f"../../../../runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/0/{name}/download"
        for name in (HOSTILE_FILE, PAGED_FILE)
    ]


def test_progress_report_links_dead_letters(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    report = _get(client, tokens["viewer"], f"/dc2sf/api/runs/{DAG_ID}/{FILE_RUN_Q}").json()
    assert report["dead_letters_url"] == f"runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters"
    assert report["plan_dead_letters"]["rows"] == dead_letters.plan_rows
    assert report["plan_dead_letters"]["file"].endswith(f"/plan/{PLAN_FILE}")
    parts = {p["map_index"]: p for p in report["partitions"]}
    assert parts[0]["dead_letter_url"] == f"runs/{DAG_ID}/{FILE_RUN_Q}/dead-letters/0"
    # The terminal report names them too (it renders the same JSON).
    text = render_text(report)
    assert f"NULL-key rows dead-lettered by plan: 2 ({report['plan_dead_letters']['file']})" in text


# --- one file ------------------------------------------------------------------------------------


def test_hostile_values_are_escaped(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    response = _get(client, tokens["viewer"], f"{BASE}/0/{HOSTILE_FILE}")
    assert response.status_code == 200
    text = response.text
    page = _Page(text)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    assert not [name for _, a in page.tags for name in a if name.startswith("on")]
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in text
    assert "\x07" not in text and "\x1b" not in text and "\u202e" not in text
    header, *rows = page.rows
    assert header[:3] == ["partition", "key", "sf__Error"]
    assert "<th class=err scope='col'>sf__Error</th>" in text
    by_key = {row[1]: row for row in rows}
    assert by_key["k-script"][3] == HOSTILE["script"]  # shown as text, exactly
    assert by_key["k-formula"][3] == HOSTILE["formula"]
    assert by_key["k-control"][3] == "bell\\x07 escape\\x1b[31m nul-free\\x0b end"
    assert by_key["k-bidi"][3] == "invoice \\u202Egnp.exe"
    assert by_key["k-newlines"][3] == "line one\nline two\\x0d\nline three"
    huge = by_key["k-huge"][5]
    assert huge.startswith("x" * MAX_CELL_CHARS + "… (")
    assert f"{HUGE_CHARS - MAX_CELL_CHARS:,} more characters" in huge
    assert len(text) < 100_000  # the megabyte value is not in the page


def test_paging(client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario) -> None:
    path = f"{BASE}/0/{PAGED_FILE}"
    first = _Page(_get(client, tokens["viewer"], path).text)
    assert [row[1] for row in first.rows[1:]] == [f"k{i:04d}" for i in range(100)]
    middle_response = _get(client, tokens["viewer"], path, offset=100, limit=100)
    middle = _Page(middle_response.text)
    assert [row[1] for row in middle.rows[1:]] == [f"k{i:04d}" for i in range(100, 200)]
    assert "Rows 101–200 of 250" in middle_response.text
    links = {a.get("rel"): a["href"] for tag, a in middle.tags if tag == "a" and a.get("rel")}
    assert links["prev"].endswith(f"/{PAGED_FILE}?offset=0&limit=100")
    assert links["next"].endswith(f"/{PAGED_FILE}?offset=200&limit=100")
    last = _Page(_get(client, tokens["viewer"], path, offset=200, limit=100).text)
    assert [row[1] for row in last.rows[1:]] == [f"k{i:04d}" for i in range(200, 250)]
    assert not [a for tag, a in last.tags if tag == "a" and a.get("rel") == "next"]
    assert _get(client, tokens["viewer"], path, limit=100_000).status_code == 422
    assert _get(client, tokens["viewer"], path, offset=-1).status_code == 422


@pytest.mark.parametrize("source", ["0", "plan"])
def test_download_is_the_file_as_written(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario, source: str
) -> None:
    for name, written in dead_letters.files[source].items():
        response = _get(client, tokens["viewer"], f"{BASE}/{source}/{name}/download")
        assert response.status_code == 200
        assert response.content == written
        folder = "plan" if source == "plan" else "partition-000"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="dead-letters_{safe_run_id(FILE_RUN)}_{folder}_{name}"'
        )
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_memory_storage_goes_through_the_same_routes(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    """A ``memory://`` root exists only in this process's fsspec store: no local path involved."""
    base = f"/dc2sf/runs/{DAG_ID}/{MEMORY_RUN}/dead-letters"
    listing = _get(client, tokens["viewer"], f"/dc2sf/api/runs/{DAG_ID}/{MEMORY_RUN}/dead-letters")
    (source,) = listing.json()["sources"]
    assert source["folder"].startswith("memory://dc2sf-dead-letters/root/")
    (name,) = dead_letters.memory_files
    assert source["files"] == [
        {
            "name": name,
            "rows": 4,
            "size": len(dead_letters.memory_files[name]),
            "view_url": f"runs/{DAG_ID}/{MEMORY_RUN}/dead-letters/0/{name}",
            "download_url": f"runs/{DAG_ID}/{MEMORY_RUN}/dead-letters/0/{name}/download",
        }
    ]
    view = _get(client, tokens["viewer"], f"{base}/0/{name}")
    assert view.status_code == 200
    assert "&lt;script&gt;" in view.text and "<script>" not in view.text
    download = _get(client, tokens["viewer"], f"{base}/0/{name}/download")
    assert download.content == dead_letters.memory_files[name]


def test_the_dags_default_root_is_one_of_the_runs_roots(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario
) -> None:
    """A run without ``dead_letter_root`` in its conf wrote under the DAG's Param default."""
    base = f"/dc2sf/runs/{DAG_ID}/{PARAM_RUN}/dead-letters"
    (name, written), *_ = dead_letters.param_default_files.items()
    assert _get(client, tokens["viewer"], f"{base}/0/{name}/download").content == written


# --- nothing else is ever read -------------------------------------------------------------------

TRAVERSALS = [
    "..%2F..%2Fsecret.csv",
    "%2E%2E%2F%2E%2E%2Fsecret.csv",
    "..%5C..%5Csecret.csv",
    "%2Fetc%2Fpasswd",
    f"{HOSTILE_FILE}%00.csv",
    "escape.csv",  # a symlink in the folder, pointing out of it
    "notes.txt",
    "%2E%2E",  # a literal ".." is resolved by the client (and any browser) before it is sent
]


@pytest.mark.parametrize("name", TRAVERSALS)
@pytest.mark.parametrize("suffix", ["", "/download"])
def test_names_never_leave_the_folder(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario, name: str, suffix: str
) -> None:
    response = _get(client, tokens["admin"], f"{BASE}/0/{name}{suffix}")
    assert response.status_code in (404, 405), response.status_code
    assert b"SECRET" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize(
    ("path", "status"),
    [
        # Forged XCom: the folder is the Airflow home, the file a CSV in it.
        ("1", 403),
        ("1/secret.csv", 403),
        ("1/secret.csv/download", 403),
        # Another run's folder under the same root.
        ("2", 403),
        (f"2/{PLAN_FILE}/download", 403),
        # No such source.
        ("9", 404),
        ("..%2F1", 404),
        (f"..%2Fplan/{PLAN_FILE}", 404),
    ],
)
def test_recorded_locations_are_checked(
    client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario, path: str, status: int
) -> None:
    response = _get(client, tokens["admin"], f"{BASE}/{path}")
    assert response.status_code == status
    assert b"SECRET" not in response.content and b"OTHER_RUN" not in response.content


def test_unknown_run(client: Any, tokens: dict[str, str], dead_letters: DeadLetterScenario) -> None:
    missing = f"/dc2sf/runs/{DAG_ID}/{quote('no-such-run')}/dead-letters"
    assert _get(client, tokens["admin"], missing).status_code == 404
    assert _get(client, tokens["admin"], f"{missing}/0/{HOSTILE_FILE}/download").status_code == 404


def test_only_partitions_with_dead_letters_are_sources(
    client: Any, tokens: dict[str, str], scenario: Scenario
) -> None:
    """The progress tests' run: p1 has one file (its XCom also lists /etc/passwd), p2 has none."""
    base = f"/dc2sf/runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}/dead-letters"
    listing = _get(
        client, tokens["viewer"], f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}/dead-letters"
    )
    sources = {s["key"]: [f["name"] for f in s["files"]] for s in listing.json()["sources"]}
    assert sources == {"0": [], "1": ["chunk-000000-round-01.csv"]}
    assert _get(client, tokens["viewer"], f"{base}/2").status_code == 404
    download = _get(client, tokens["viewer"], f"{base}/1/chunk-000000-round-01.csv/download")
    assert b"REQUIRED_FIELD_MISSING" in download.content
    assert _get(client, tokens["viewer"], f"{base}/1/passwd/download").status_code == 404
