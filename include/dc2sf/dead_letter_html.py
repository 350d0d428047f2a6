"""HTML of the dead-letter pages: the file lists of a run and one file as a table.

Dead letters hold hostile data by design (the rows Salesforce refused: markup, formulas, control
characters, megabytes in one field), so every value is escaped here, in one place: HTML-escaped,
control and bidirectional-override characters shown as visible ``\\xNN`` / ``\\u202E`` marks
(they could otherwise hide or reorder text), long values cut with their real length stated. The
pages carry no script at all and are served with a Content-Security-Policy that forbids one.
Formula prefixes (``=``, ``+``) are harmless in HTML and are shown as they are; the download is
the raw file.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from include.dc2sf.dead_letter_view import Cell, FileInfo, Page
from include.dc2sf.logic.progress import format_count

#: Columns the writer puts first; ``sf__Error`` is the one a reader looks for.
ERROR_COLUMN = "sf__Error"
#: Characters of one value the table shows; the download has all of them.
MAX_CELL_CHARS = 300
_BIDI = {0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


@dataclass(frozen=True, slots=True)
class SourceView:
    """One source of dead letters as a page shows it (links relative to the page)."""

    anchor: str
    title: str
    note: str
    url: str
    folder: str | None
    files: Sequence[FileInfo]
    error: str | None
    file_url: dict[str, tuple[str, str]]  # name → (view, download)


def _visible_char(char: str) -> str:
    code = ord(char)
    if char in "\n\t":
        return char
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"<span class='ctl'>\\x{code:02x}</span>"
    if code in _BIDI:
        return f"<span class='ctl'>\\u{code:04X}</span>"
    return html.escape(char)


def show_value(cell: Cell) -> str:
    """One value as safe HTML: escaped, control characters visible, cut with its real length."""
    shown = "".join(_visible_char(c) for c in cell.text)
    if cell.length > len(cell.text):
        shown += (
            f"<span class='cut'>… ({format_count(cell.length - len(cell.text))} more "
            "characters: download the file for the full value)</span>"
        )
    return shown


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def document(title: str, plugin_root: str, back: tuple[str, str], body: str) -> str:
    """A whole page: the plugin's stylesheets, a back link, no script."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='stylesheet' href='{_e(plugin_root)}static/progress.css'>"
        f"<link rel='stylesheet' href='{_e(plugin_root)}static/dead_letters.css'>"
        f"<title>{_e(title)}</title></head><body><main class='dead-letters'>"
        f"<nav class='crumbs'><a href='{_e(back[0])}'>← {_e(back[1])}</a></nav>"
        f"<h1>{_e(title)}</h1>{body}</main></body></html>"
    )


def render_sources(sources: Sequence[SourceView]) -> str:
    """Each source as a section: its files with row counts, view and download links."""
    if not sources:
        return "<p id='none'>This run has recorded no dead letters.</p>"
    sections = []
    for source in sources:
        if source.error:
            listing = f"<p class='error'>{_e(source.error)}</p>"
        elif not source.files:
            listing = "<p>No dead-letter files (yet).</p>"
        else:
            rows = "".join(
                f"<tr data-file='{_e(f.name)}'><td><a class='view' href='{_e(source.file_url[f.name][0])}'>"
                f"{_e(f.name)}</a></td><td class='num'>{format_count(f.rows)}</td>"
                f"<td class='num'>{format_count(f.size)}</td><td><a class='download' "
                f"href='{_e(source.file_url[f.name][1])}' download>Download CSV</a></td></tr>"
                for f in source.files
            )
            total = sum(f.rows for f in source.files)
            listing = (
                "<table class='files'><thead><tr><th>File</th><th class='num'>Rows</th>"
                "<th class='num'>Bytes</th><th>Download</th></tr></thead>"
                f"<tbody>{rows}</tbody><tfoot><tr><td>Total</td><td class='num'>"
                f"{format_count(total)}</td><td></td><td></td></tr></tfoot></table>"
            )
        folder = f"<p class='folder'>Folder: <code>{_e(source.folder)}</code></p>" * bool(
            source.folder
        )
        sections.append(
            f"<section id='{_e(source.anchor)}' class='source'>"
            f"<h2><a href='{_e(source.url)}'>{_e(source.title)}</a></h2>"
            f"<p class='note'>{_e(source.note)}</p>{folder}{listing}</section>"
        )
    return "".join(sections) + (
        "<p class='note'>Each CSV lists the partition, the key, the Salesforce error "
        f"(<code>{ERROR_COLUMN}</code>) and the values that were sent. Fix the data or the "
        "mapping, then trigger the range again: upserts make re-sending loaded rows harmless.</p>"
    )


def render_page(page: Page, *, download_url: str, page_url: str, limit: int) -> str:
    """One page of a file as a table, with the error column marked and paging links."""
    error_at = page.header.index(ERROR_COLUMN) if ERROR_COLUMN in page.header else -1
    head = "".join(
        f"<th{' class=err' if i == error_at else ''} scope='col'>{_e(name)}</th>"
        for i, name in enumerate(page.header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=err' if i == error_at else ''}>{show_value(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in page.rows
    )
    first, last = page.offset + 1, page.offset + len(page.rows)
    shown = (
        f"Rows {format_count(first)}–{format_count(last)} of {format_count(page.total_rows)}"
        if page.rows
        else f"No rows here; the file has {format_count(page.total_rows)}"
    )
    links = []
    if page.offset > 0:
        links.append(
            f"<a rel='prev' href='{_e(page_url)}?offset={max(0, page.offset - limit)}"
            f"&amp;limit={limit}'>← Previous {limit}</a>"
        )
    if last < page.total_rows:
        links.append(
            f"<a rel='next' href='{_e(page_url)}?offset={last}&amp;limit={limit}'>"
            f"Next {limit} →</a>"
        )
    pager = f"<p class='pager'><span class='shown'>{shown}</span> {' '.join(links)}</p>"
    return (
        f"<p><a id='download' href='{_e(download_url)}' download>Download CSV</a> "
        "(the file as written, every value complete)</p>"
        f"{pager}<div class='table-wrap'><table id='letters'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>{pager}"
        f"<p class='note'>Values longer than {MAX_CELL_CHARS} characters are cut here; control "
        "characters are shown as <span class='ctl'>\\xNN</span>.</p>"
    )
