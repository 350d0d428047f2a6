"""The closest check to an Astro image build that runs without Docker (issue 9).

The Runtime image is Airflow plus ``requirements.txt``; a DAG file that imports something only
the dev environment has (pytest, the emulator's deps, a package a teammate installed by hand)
parses here and breaks on Astro. So this builds a *fresh* virtualenv with
``apache-airflow==<the Runtime's Airflow>`` and ``requirements.txt`` only, and parses every DAG file
and imports every plugin in it.

To avoid re-resolving the world, the repo's lock is passed as constraints (same versions as the
local environment), and uv's cache makes a rebuild mostly hard links. The venv is kept under the
temp dir, keyed by the hash of the inputs, so an unchanged project re-uses it (first build ~1-2 min
with a warm uv cache; re-use: seconds).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dag_loading import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

RUNTIME_AIRFLOW = "3.3.2"

CHECK = r"""
import importlib, json, pathlib, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
plugins = []
for path in sorted(pathlib.Path(sys.argv[2]).glob("*.py")):
    if path.name != "__init__.py":
        importlib.import_module(f"plugins.{path.stem}")
        plugins.append(path.stem)
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": bag.import_errors, "plugins": plugins}))
"""


def _uv() -> str:
    candidate = Path(sys.executable).parent / "uv"
    found = str(candidate) if candidate.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (make setup installs it into .venv)")
    return found


def _venv() -> Path:
    inputs = hashlib.sha256()
    for name in ("requirements.txt", "requirements-lock.txt"):
        inputs.update((REPO_ROOT / name).read_bytes())
    inputs.update(RUNTIME_AIRFLOW.encode())
    venv = Path(tempfile.gettempdir()) / "dc2sf-runtime-venv" / inputs.hexdigest()[:16]
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    uv = _uv()
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            f"apache-airflow=={RUNTIME_AIRFLOW}",
            "-r",
            str(REPO_ROOT / "requirements.txt"),
            "-c",
            str(REPO_ROOT / "requirements-lock.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (venv / ".complete").touch()
    return venv


def test_requirements_txt_alone_parses_every_dag_and_plugin(tmp_path: Path) -> None:
    venv = _venv()
    python = venv / "bin" / "python"
    # Nothing from the dev environment leaks in: only the repo root (as /usr/local/airflow is on
    # the image's path) and a throwaway home.
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
    }
    leaked = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('pytest') is None)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert leaked.stdout.strip() == "True", "the check venv must not contain dev tools"
    result = subprocess.run(
        [str(python), "-c", CHECK, str(REPO_ROOT / "dags"), str(REPO_ROOT / "plugins")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}, report["errors"]
    dag_files = [p for p in (REPO_ROOT / "dags").glob("*.py") if p.name != "__init__.py"]
    assert "datacloud_to_salesforce" in report["dags"]
    assert len(report["dags"]) >= len(dag_files)
    assert report["plugins"], "no plugin module imported"
    version = subprocess.run(
        [str(python), "-c", "import airflow; print(airflow.__version__)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert version.stdout.strip() == RUNTIME_AIRFLOW
