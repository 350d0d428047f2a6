"""Which is faster for one Data Cloud page → Bulk CSV: the compiled mapper, values + csv.writer,
or pandas?

Run from the repo root: ``.venv/bin/python -m bench.mapping_hot_path [--rows 10000] [--repeat 5]``.

All three paths map the same 10,000-row page with the same spec (text, hostile text, constant,
number with scale, date from ``%d/%m/%Y``, ISO datetime, boolean, relationship column) and must
produce byte-identical CSV and the same rejected rows; the script checks that before timing, so
no path can win by doing less. It prints the best-of-N wall time of each (runs interleaved).
The result is recorded in the docstring of ``include/dc2sf/logic/mapping.py``.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections.abc import Callable

import pandas as pd

from include.dc2sf.logic.mapping import (
    CLEAR_FIELD,
    MappingSpec,
    SourcePage,
    format_number,
    render_bulk_csv,
    render_bulk_lines,
)

SPEC = MappingSpec.from_dict(
    {
        "key_column": "ExternalId__c",
        "fields": {
            "ExternalId__c": "ExternalId__c",
            "Name": "Name__c",
            "Description": {"source": "Description__c", "on_null": "blank"},
            "StageName": {"constant": "Prospecting"},
            "Amount": {"source": "Amount__c", "type": "number", "scale": 2},
            "CloseDate": {"source": "CloseDate__c", "type": "date", "input_format": "%d/%m/%Y"},
            "LastActivity__c": {"source": "LastActivity__c", "type": "datetime"},
            "IsPrivate": {"source": "IsPrivate__c", "type": "boolean"},
            "Account.ExternalId__c": "AccountExternalId__c",
        },
    }
)
COLUMNS = (
    "ExternalId__c",
    "Name__c",
    "Description__c",
    "Amount__c",
    "CloseDate__c",
    "LastActivity__c",
    "IsPrivate__c",
    "AccountExternalId__c",
)
HOSTILE = ['say "hi", ok', "line1\nline2", "cr\ronly", "ünïcødé ✓ 𝄞", "", None, "x" * 2_000]


BOOLEAN_WORDS = {True: "true", False: "false", "yes": "true", "no": "false"}


def make_page(rows: int, hostile_share: float, seed: int = 7) -> SourcePage:
    """A page with ``hostile_share`` of its descriptions drawn from HOSTILE, the rest plain text."""
    rng = random.Random(seed)
    data = []
    for index in range(rows):
        description = (
            rng.choice(HOSTILE)
            if rng.random() < hostile_share
            else f"Renewal for account {index % 500}, owner team {index % 7}"
        )
        data.append(
            (
                f"externalOpp{index:07d}",
                f"Deal {index}",
                description,
                rng.choice([None, round(rng.uniform(0, 1e6), 4), 12, "1234.5"]),
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 30)}",
                rng.choice([None, "2024-05-01T13:45:00.123+02:00", "2024-05-01T10:00:00"]),
                rng.choice([True, False, None, "yes"]),
                f"acct{rng.randint(0, 500):05d}",
            )
        )
    data[5] = (*data[5][:4], "31/02/2024", *data[5][5:])  # one invalid date → rejected row
    return SourcePage(COLUMNS, data)


def pure_python_path(page: SourcePage) -> tuple[str, list[str]]:
    """The product's path: the compiled page mapper's CSV lines, joined under the header."""
    mapped = SPEC.apply(page)
    return render_bulk_lines(SPEC.header, [record.line for record in mapped.records]), [
        row.key for row in mapped.rejected
    ]


def csv_writer_path(page: SourcePage) -> tuple[str, list[str]]:
    """Values, then the C ``csv`` writer (``render_bulk_csv``): the path before the compiled one."""
    mapped = SPEC.apply_values(page)
    return render_bulk_csv(SPEC.header, [record.values for record in mapped.records]), [
        row.key for row in mapped.rejected
    ]


def _null_policy(series: pd.Series, on_null: str) -> pd.Series:
    return series.where(series.notna(), CLEAR_FIELD if on_null == "clear" else "")


def pandas_path(page: SourcePage) -> tuple[str, list[str]]:
    frame = pd.DataFrame(list(page.rows), columns=list(page.columns), dtype=object)
    out = pd.DataFrame(index=frame.index)
    bad = pd.Series(False, index=frame.index)
    for mapping in SPEC.fields:
        if mapping.source is None:
            out[mapping.target] = mapping.convert(mapping.constant)
            continue
        column = frame[mapping.source]
        present = column.notna() & (column != "")
        if mapping.kind == "text":
            too_long = (column.str.len() > mapping.max_length).fillna(False).astype(bool)
            bad |= present & (too_long | (column == CLEAR_FIELD))
            converted = column
        elif mapping.kind == "number":
            scale = mapping.scale
            converted = column.map(
                lambda v, s=scale: format_number(v, s) if v is not None else None
            )
        elif mapping.kind == "date":
            parsed = pd.to_datetime(column, format=mapping.input_format, errors="coerce")
            bad |= present & parsed.isna()
            converted = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), None)
        elif mapping.kind == "datetime":
            parsed = pd.to_datetime(column, format="ISO8601", utc=True, errors="coerce")
            bad |= present & parsed.isna()
            text = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
            converted = text.where(parsed.notna(), None)
        else:
            converted = column.map(lambda v: BOOLEAN_WORDS.get(v) if v is not None else None)
        out[mapping.target] = _null_policy(converted.astype(object), mapping.on_null)
    sink: list[str] = []

    class Sink:
        write = sink.append

    out[~bad].to_csv(Sink(), index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    # pandas hands each row to the csv writer, which writes it in one call: swap CRLF for LF
    # exactly as render_bulk_csv does (every CR/LF inside a value is quoted).
    csv_text = "\n".join(line[:-2] for line in sink) + "\n"
    return csv_text, frame.loc[bad, "ExternalId__c"].tolist()


def best_of_interleaved(
    functions: list[Callable[[SourcePage], object]], page: SourcePage, repeat: int
) -> list[float]:
    """Best time of each function, runs alternated so load from other processes hits both alike."""
    timings: list[list[float]] = [[] for _ in functions]
    for _ in range(repeat):
        for function, samples in zip(functions, timings, strict=True):
            started = time.perf_counter()
            function(page)
            samples.append(time.perf_counter() - started)
    return [min(samples) for samples in timings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    for label, hostile_share in (
        ("typical (1% hostile text)", 0.01),
        ("hostile-heavy (every row)", 1.0),
    ):
        page = make_page(args.rows, hostile_share)
        python_csv, python_rejected = pure_python_path(page)
        pandas_csv, pandas_rejected = pandas_path(page)
        writer_csv, writer_rejected = csv_writer_path(page)
        assert python_rejected == pandas_rejected == writer_rejected == ["externalOpp0000005"], (
            python_rejected,
            pandas_rejected,
        )
        assert python_csv == pandas_csv == writer_csv, "the paths disagree; fix before timing"
        python_seconds, pandas_seconds, writer_seconds = best_of_interleaved(
            [pure_python_path, pandas_path, csv_writer_path], page, args.repeat
        )
        winner = "pure python" if python_seconds <= pandas_seconds else "pandas"
        ratio = max(python_seconds, pandas_seconds) / min(python_seconds, pandas_seconds)
        print(
            f"{label}: rows={args.rows} fields={len(SPEC.fields)} csv_bytes={len(python_csv.encode())}"
        )
        print(
            f"  compiled mapper, lines  : {python_seconds * 1000:8.1f} ms (best of {args.repeat})"
        )
        print(
            f"  values + csv.writer     : {writer_seconds * 1000:8.1f} ms (best of {args.repeat})"
        )
        print(
            f"  pandas                  : {pandas_seconds * 1000:8.1f} ms (best of {args.repeat})"
        )
        print(f"  faster: {winner} ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
