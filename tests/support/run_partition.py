"""Run one partition load in its own process (for crash tests): `python -m tests.support.run_partition
STORE_JSON DEAD_LETTER_DIR RECORDS_PER_JOB MAX_IN_FLIGHT`. Connections come from the environment."""

from __future__ import annotations

import json
import sys

from tests.support.loading import FileStore, make_config, make_loader


def main(argv: list[str]) -> None:
    store_path, dead_dir, per_job, in_flight = argv
    config = make_config(
        dead_dir, records_per_job=int(per_job), max_in_flight=int(in_flight), page_size=500
    )
    done = make_loader(config, FileStore(store_path)).run_blocking()
    print(json.dumps(done.summary))


if __name__ == "__main__":
    main(sys.argv[1:])
