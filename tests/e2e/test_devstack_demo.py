"""``make demo`` (``python -m devstack.demo``): its options, and one small run end to end.

The end-to-end run is the acceptance check of issue 5's "`make demo` works; its output ends with
the reconciliation", at a size CI affords (a few thousand rows, two partitions, no stagger). It
goes through the real load DAG, so it fails when the DAG does, which is the point.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from devstack.airflow_stack import REPO_ROOT, stack_processes
from devstack.demo import parse_args
from devstack.emulator_process import FAULT_PROFILES, resolve_faults

ARTIFACT = REPO_ROOT / "test-artifacts" / "devstack-demo.out"


def test_defaults_are_the_issue_s_demo() -> None:
    args = parse_args([])
    assert (args.rows, args.accounts, args.partitions) == (200_000, 2_000, 5)
    assert args.run_conf == {"partitions": 5, "stagger_minutes": 0.1}
    assert args.faults == "none"


def test_options_come_from_arguments_or_demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_ROWS", "1234")
    monkeypatch.setenv("DEMO_FAULTS", "light")
    args = parse_args(["--partitions", "3", "--stagger", "0", "--conf", '{"dry_run": true}'])
    assert args.rows == 1234 and args.faults == "light"
    assert args.run_conf == {"partitions": 3, "stagger_minutes": 0.0, "dry_run": True}


@pytest.mark.parametrize("argv", [["--conf", "[1]"], ["--conf", "{"], ["--rows", "0"]])
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_fault_profiles_resolve_to_emulator_json() -> None:
    assert resolve_faults("none") is None and resolve_faults(None) is None
    for name, profile in FAULT_PROFILES.items():
        if profile:
            assert json.loads(resolve_faults(name) or "") == profile
    assert resolve_faults('{"seed": 1}') == '{"seed": 1}'
    with pytest.raises(ValueError, match="unknown fault profile"):
        resolve_faults("extreme")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_small_demo_loads_every_row_and_leaves_nothing_running() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.demo",
            "--rows",
            "4000",
            "--accounts",
            "40",
            "--partitions",
            "2",
            "--stagger",
            "0",
            "--poll",
            "2",
            "--timeout",
            "200",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    output = result.stdout + result.stderr
    # Kept for CI: a slow or failed run is explained by its progress lines and task errors.
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(output)
    assert result.returncode == 0, output
    assert "Emulator org: 4,000 Opportunity records for 4,000 source rows -> OK" in output
    assert "Login       admin / " in output
    assert result.stdout.rstrip().splitlines()[-1].startswith("Demo finished in")
    sessions = [int(pid) for pid in re.findall(r"pid=(\d+)", output)]
    assert len(sessions) == 5  # emulator + four Airflow components
    assert stack_processes(None, sessions) == []
