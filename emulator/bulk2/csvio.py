"""CSV in and out of Bulk API 2.0 (reference §3.5 input rules, §3.6 result layouts).

Input: UTF-8, the job's ``columnDelimiter``, the job's ``lineEnding`` (it must match the file, or
the job fails the way Salesforce reports it), RFC-4180 quoting with doubled quotes. Output: the
``sf__`` column names and every value double-quoted, the uploaded header tokens echoed as they
were [reference §3.6, partly inferred]. Result files use comma + LF whatever the job's input
options [inferred: simple-salesforce parses them with the default ``csv`` dialect].
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

DELIMITERS = {
    "BACKQUOTE": "`",
    "CARET": "^",
    "COMMA": ",",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class CsvFormatError(Exception):
    """The upload cannot be read at all; the job fails with this ``errorMessage``."""


def _check_line_ending(text: str, line_ending: str) -> None:
    """Salesforce rejects a file whose header line does not end with the declared ending."""
    newline = text.find("\n")
    if newline < 0:
        return
    crlf = newline > 0 and text[newline - 1] == "\r"
    if crlf != (line_ending == "CRLF"):
        raise CsvFormatError(
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
            f"is {line_ending}"
        )


def parse(data: bytes, delimiter: str, line_ending: str) -> tuple[list[str], list[list[str]]]:
    """Header tokens and data rows (lists of raw strings; ``#N/A`` is left to the DML layer)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"ClientInputError : Invalid UTF-8 in upload: {exc.reason}") from exc
    _check_line_ending(text, line_ending)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[delimiter], strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CsvFormatError("InvalidBatch : Empty CSV file")
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise CsvFormatError(f"ClientInputError : Invalid CSV: {exc}") from exc
    return header, rows


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def write_results(
    prefix: Sequence[str], header: Sequence[str], rows: Iterable[Sequence[str]]
) -> str:
    """A result file: quoted ``sf__`` names, echoed header tokens, every value quoted."""
    if not prefix and not header:
        return ""  # a job that never received data has no header to echo
    out = io.StringIO()
    out.write(",".join([*(_quote(p) for p in prefix), *header]))
    out.write("\n")
    for row in rows:
        out.write(",".join(_quote(v) for v in row))
        out.write("\n")
    return out.getvalue()


def write_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str, line_ending: str
) -> str:
    """Query-job results: header + rows with the job's delimiter and line ending, all quoted."""
    sep = DELIMITERS[delimiter]
    end = LINE_ENDINGS[line_ending]
    out = io.StringIO()
    out.write(sep.join(_quote(h) for h in header) + end)
    for row in rows:
        out.write(sep.join("" if v is None else _quote(str(v)) for v in row) + end)
    return out.getvalue()
