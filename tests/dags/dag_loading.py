"""Loads the DAG folder in a fresh interpreter with the network and the metadata DB made unusable.

Why a subprocess: Airflow binds its DB engine when `airflow` is first imported, so the only way to
prove that parsing a DAG file touches neither the DB nor the network is to parse it in an
interpreter where both are poisoned from the start. The child prints one JSON document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, socket, sys

class _NoNetwork(OSError):
    pass

def _refuse(*args, **kwargs):
    raise _NoNetwork(f"import-time network access: {args!r}")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags or []),
        "tasks": [
            {
                "task_id": t.task_id,
                "owner": t.owner,
                "retries": t.retries,
                "pool": t.pool,
                "conn_ids": sorted(
                    {
                        str(getattr(t, name))
                        for name in dir(t)
                        if name.endswith("conn_id")
                        and not name.startswith("_")
                        and isinstance(getattr(t, name, None), str)
                        and getattr(t, name)
                    }
                ),
            }
            for t in dag.tasks
        ],
    }
print(json.dumps({"import_errors": bag.import_errors, "dags": dags}))
"""


def load_dag_folder(dag_folder: Path | None = None) -> dict:
    """Parse the DAG folder with no network and a metadata DB that cannot be opened."""
    env = dict(os.environ)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "sqlite:////nonexistent-dir/forbidden.db"
    env["PYTHONPATH"] = str(REPO_ROOT)
    folder = dag_folder or REPO_ROOT / "dags"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"DAG folder could not be parsed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
