"""Bulk API 2.0 ingest throughput of the emulator at zero simulated cost (target >= 50,000/s).

Goes through the real HTTP routes in-process (FastAPI TestClient: create, one PUT of the whole
CSV, UploadComplete, poll) with ``records_per_second_per_worker = 0``, so only the emulator's
own work is measured: CSV parsing, validation, parent resolution, SQLite writes in 200-record
transactions, result bookkeeping. Prints records/s of processing (UploadComplete -> JobComplete)
and end to end (PUT included), plus process CPU seconds, for an insert-heavy first upsert and an
update-heavy second one. A benchmark, not a test: it prints, asserts nothing.

    .venv/bin/python bench/emulator_ingest.py --records 500000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.bulk2.calibration import HEADER, make_rows
from emulator.bulk2.config import BulkProcessingConfig
from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.testing import core_login, in_process

V = "/services/data/v59.0/jobs/ingest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    config = EmulatorConfig(
        time_scale=0.0, bulk=BulkProcessingConfig(records_per_second_per_worker=0)
    )
    rows = make_rows(args.records, args.accounts, seed=1)
    data = (HEADER + "".join(line for line, _ in rows)).encode()
    results = []
    with in_process(config) as (state, client):
        create_accounts(state, args.accounts, seed=1)
        headers = {"Authorization": f"Bearer {core_login(client)}"}
        body = {
            "object": "Opportunity",
            "operation": "upsert",
            "externalIdFieldName": "ExternalId__c",
        }
        for round_no in range(args.rounds):
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            job_id = client.post(V, json=body, headers=headers).json()["id"]
            put = client.put(
                f"{V}/{job_id}/batches",
                content=data,
                headers={**headers, "Content-Type": "text/csv"},
            )
            assert put.status_code == 201, put.text
            t1 = time.perf_counter()
            client.patch(f"{V}/{job_id}", json={"state": "UploadComplete"}, headers=headers)
            while True:
                info = client.get(f"{V}/{job_id}", headers=headers).json()
                if info["state"] in ("JobComplete", "Failed", "Aborted"):
                    break
                time.sleep(0.02)
            t2 = time.perf_counter()
            cpu = time.process_time() - cpu0
            row = {
                "round": round_no,
                "kind": "insert" if round_no == 0 else "update",
                "records": args.records,
                "state": info["state"],
                "failed": info["numberRecordsFailed"],
                "upload_seconds": round(t1 - t0, 2),
                "processing_seconds": round(t2 - t1, 2),
                "processing_records_per_s": round(args.records / (t2 - t1)),
                "end_to_end_records_per_s": round(args.records / (t2 - t0)),
                "cpu_seconds": round(cpu, 2),
                "records_per_cpu_s": round(args.records / cpu),
            }
            results.append(row)
            print(
                f"round {round_no} ({row['kind']}): {info['state']}, {args.records:,} records; "
                f"processing {row['processing_records_per_s']:,}/s, end to end "
                f"{row['end_to_end_records_per_s']:,}/s, {row['records_per_cpu_s']:,} per CPU-s "
                "(target >= 50,000/s)",
                flush=True,
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
