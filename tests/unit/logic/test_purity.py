"""The pure-logic layer imports no Airflow, no HTTP client and no pandas (fast, testable anywhere)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import include.dc2sf.logic as logic

FORBIDDEN_PREFIXES = (
    "airflow",
    "requests",
    "httpx",
    "urllib3",
    "aiohttp",
    "simple_salesforce",
    "pandas",
)


def test_logic_modules_import_nothing_forbidden() -> None:
    modules = sorted(
        f"include.dc2sf.logic.{info.name}" for info in pkgutil.iter_modules(logic.__path__)
    )
    assert len(modules) >= 11
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="."
    )
    loaded = json.loads(result.stdout)
    offending = [name for name in loaded if name.split(".")[0] in FORBIDDEN_PREFIXES]
    assert offending == []
