"""Query V2 rows/s served by the emulator (zero simulated cost), the way the loader reads.

Starts ``python -m emulator serve --http`` in a subprocess (so the client's JSON parsing does not
share the server's GIL), seeds N rows, then reads the whole DMO twice:
  * keyset pages: ``WHERE key > last ORDER BY key LIMIT page`` (the product's pattern);
  * one ``SELECT *`` followed through ``nextBatchId`` batches.
Prints rows/s for each. A benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/emulator_throughput.py --rows 500000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TABLE = '"Opportunity_Source__dlm"'


def start(rows: int, accounts: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--http",
            "--port",
            "0",
            "--time-scale",
            "0",
            "--rows",
            str(rows),
            "--accounts",
            str(accounts),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    return proc, first.split(" on ")[1].strip()


def login(session: requests.Session, base: str) -> tuple[str, str]:
    core = session.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "bench",
            "client_secret": "bench",
            "username": "bench@example.com",
            "password": "x",
        },
    ).json()["access_token"]
    dc = session.post(
        f"{base}/services/a360/token",
        data={"grant_type": "urn:salesforce:grant-type:external:cdp", "subject_token": core},
    ).json()
    return f"http://{dc['instance_url']}", dc["access_token"]


def keyset(session: requests.Session, tenant: str, page: int) -> int:
    last, total = "", 0
    while True:
        sql = (
            f"SELECT * FROM {TABLE} WHERE \"ExternalId__c\" > '{last}' "
            f'ORDER BY "ExternalId__c" LIMIT {page}'
        )
        body = session.post(f"{tenant}/api/v2/query", json={"sql": sql}).json()
        rows = list(body["data"])
        while not body["done"]:
            body = session.get(f"{tenant}/api/v2/query/{body['nextBatchId']}").json()
            rows.extend(body["data"])
        if not rows:
            return total
        total += len(rows)
        last = rows[-1][0]


def follow(session: requests.Session, tenant: str) -> int:
    body = session.post(f"{tenant}/api/v2/query", json={"sql": f"SELECT * FROM {TABLE}"}).json()
    total = body["rowCount"]
    while not body["done"]:
        body = session.get(f"{tenant}/api/v2/query/{body['nextBatchId']}").json()
        total += body["rowCount"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--page", type=int, default=50_000)
    args = parser.parse_args()
    started = time.perf_counter()
    proc, base = start(args.rows, args.accounts)
    try:
        session = requests.Session()
        for _ in range(600):
            try:
                session.get(f"{base}/__emulator__/health", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        print(f"emulator up with {args.rows:,} rows in {time.perf_counter() - started:.1f}s")
        tenant, token = login(session, base)
        session.headers["Authorization"] = f"Bearer {token}"
        for name, run in (
            ("keyset pages", lambda: keyset(session, tenant, args.page)),
            ("nextBatchId batches", lambda: follow(session, tenant)),
        ):
            t0 = time.perf_counter()
            n = run()
            dt = time.perf_counter() - t0
            print(
                f"Query V2 {name}: {n:,} rows in {dt:.2f}s = {n / dt:,.0f} rows/s "
                "(server + client JSON parsing)"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
