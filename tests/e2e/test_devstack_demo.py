"""``make demo`` (``python -m devstack.demo``): its options, and one small held run end to end,
used the way the README tells a user to use it.

The end-to-end run is ``make demo DEMO_ARGS="--hold"`` at a size CI affords (a few thousand rows,
two partitions, no stagger). It goes through the real load DAG, so it fails when the DAG does. While
it holds, the test does what the README's Quick start says: it sources the ``cli.env`` line the
demo printed, in a shell whose environment still has the Makefile's ``AIRFLOW_HOME=.airflow``, and
runs every ``airflow dags trigger ...`` and ``python -m include.dc2sf.report ...`` command the
README shows, as written, from a directory outside the repo. Then Ctrl-C: the demo must say it
deleted its home, delete it, and leave no process behind.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack.airflow_stack import REPO_ROOT, stack_processes
from devstack.demo import announce, home_fate, parse_args
from devstack.emulator_process import FAULT_PROFILES, resolve_faults
from devstack.rest import AirflowClient

ARTIFACT = REPO_ROOT / "test-artifacts" / "devstack-demo.out"
README = REPO_ROOT / "README.md"
FENCED_BASH = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
CLI_PREFIXES = ("airflow dags trigger ", "python -m include.dc2sf.report")


def readme_commands(text: str) -> list[str]:
    """The README's CLI commands a user would paste: every ``airflow dags trigger <dag> ...`` and
    ``python -m include.dc2sf.report ...`` in a bash block (backslash continuations joined) or in
    inline code, in the README's order, except those with a ``...`` placeholder to fill in."""
    found: list[tuple[int, str]] = []
    for block in FENCED_BASH.finditer(text):
        joined = re.sub(r"\\\n\s*", " ", block.group(1))
        offset = block.start()
        found += [(offset, line.strip()) for line in joined.splitlines()]
    fenced = [(m.start(), m.end()) for m in FENCED_BASH.finditer(text)]
    for code in INLINE_CODE.finditer(text):
        if not any(start <= code.start() < end for start, end in fenced):
            found.append((code.start(), code.group(1).strip()))
    commands = []
    for _, command in sorted(found, key=lambda item: item[0]):
        if not command.startswith(CLI_PREFIXES) or "..." in command or "…" in command:
            continue
        if command.startswith("airflow") and len(shlex.split(command)) < 4:
            continue  # `airflow dags trigger` named in prose, not a command
        commands.append(command)
    return commands


def trigger_target(command: str) -> tuple[str, dict[str, object]]:
    """``airflow dags trigger <dag> --conf '<json>'`` → (dag id, conf)."""
    argv = shlex.split(command)
    conf = json.loads(argv[argv.index("--conf") + 1]) if "--conf" in argv else {}
    return argv[3], conf


def test_defaults_are_the_documented_demo() -> None:
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


@pytest.mark.parametrize(
    "argv", [["--conf", "[1]"], ["--conf", "{"], ["--rows", "0"], ["--log-every", "0"]]
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_keep_home_comes_from_the_flag_or_demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args([]).keep_home is False
    assert parse_args(["--keep-home"]).keep_home is True
    monkeypatch.setenv("DEMO_KEEP_HOME", "1")
    assert parse_args([]).keep_home is True


def test_the_home_s_fate_is_said_at_start_and_at_exit(tmp_path: Path) -> None:
    """A user must learn before and after that the dead letters go with the home."""
    home = tmp_path / "airflow-devstack-x"
    home.mkdir()
    stack = SimpleNamespace(
        home=home,
        keep_home=None,
        ui_url="http://127.0.0.1:1/",
        username="admin",
        password="pw",
        log_dir=home / "logs",
        cli_env_path=home / "cli.env",
        started_in=1.0,
    )
    said: list[str] = []
    announce(stack, said.append)  # type: ignore[arg-type]
    assert (
        f"Home        {home}  (metadata DB, task logs, dead letters): "
        "DELETED when the demo ends; --keep-home keeps it"
    ) in said
    assert f"              source {home / 'cli.env'}" in said
    stack.keep_home = True
    said.clear()
    announce(stack, said.append)  # type: ignore[arg-type]
    assert any(line.endswith("kept when the demo ends (--keep-home)") for line in said)

    assert home_fate(stack).startswith(f"Kept the demo's Airflow home {home} ")  # type: ignore[arg-type]
    assert f"rm -rf {home}" in home_fate(stack)  # type: ignore[arg-type]
    home.rmdir()
    assert home_fate(stack) == (  # type: ignore[arg-type]
        f"Deleted the demo's Airflow home {home} (metadata DB, task logs, dead letters); "
        "--keep-home keeps it."
    )


def test_fault_profiles_resolve_to_emulator_json() -> None:
    assert resolve_faults("none") is None and resolve_faults(None) is None
    for name, profile in FAULT_PROFILES.items():
        if profile:
            assert json.loads(resolve_faults(name) or "") == profile
    assert resolve_faults('{"seed": 1}') == '{"seed": 1}'
    with pytest.raises(ValueError, match="unknown fault profile"):
        resolve_faults("extreme")


def test_the_readme_s_cli_commands_are_found() -> None:
    commands = readme_commands(README.read_text())
    triggers = [c for c in commands if c.startswith("airflow")]
    reports = [c for c in commands if c.startswith("python")]
    assert len(triggers) >= 3 and len(reports) >= 1, commands
    assert all(
        trigger_target(c)[0] in ("datacloud_to_salesforce", "cleanup_test_load") for c in triggers
    )
    assert any("\\" in block for block in FENCED_BASH.findall(README.read_text()))  # joined


class HeldDemo:
    """``python -m devstack.demo --hold`` in its own session, read line by line."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.demo", "--hold", *argv],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def read_until(self, marker: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if marker in line:
                return
        pytest.fail(f"the demo ended before {marker!r}:\n{self.output}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=90)
        self.lines.append(rest)
        return self.proc.returncode

    def sessions(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"pid=(\d+)", self.output)]


@pytest.fixture
def held_demo() -> Iterator[HeldDemo]:
    demo = HeldDemo(
        [
            *("--rows", "4000", "--accounts", "40", "--partitions", "2", "--stagger", "0"),
            *("--poll", "2", "--log-every", "5", "--timeout", "200"),
        ]
    )
    try:
        yield demo
    finally:
        if demo.proc.poll() is None:
            demo.interrupt()
        # Kept for CI: a slow or failed run is explained by its progress lines and task errors.
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(demo.output)
        for leftover in stack_processes(None, demo.sessions()):
            leftover.kill()


def _shell(env_file: str, command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in bash after ``source <env_file>``, as pasted into a new terminal. The test's
    own environment is inherited: under ``make test`` it carries the Makefile's
    ``AIRFLOW_HOME=.airflow``, which the sourced file must override."""
    return subprocess.run(
        ["bash", "-c", f"source {shlex.quote(env_file)} && {command}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.timeout(480)
def test_held_demo_loads_every_row_and_the_readme_s_commands_work_as_written(
    held_demo: HeldDemo, tmp_path: Path
) -> None:
    held_demo.read_until("Holding: UI at")
    output = held_demo.output
    assert "Emulator org: 4,000 Opportunity records for 4,000 source rows -> OK" in output, output
    assert "Login       admin / " in output
    assert "Demo finished in" in output and "(exact)" in output
    home = Path(re.search(r"^Home        (\S+)  \(metadata DB", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert "DELETED when the demo ends; --keep-home keeps it" in output
    env_file = re.search(r"^ +source (\S+/cli\.env)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert Path(env_file).parent == home and home.is_dir()
    saved_env = tmp_path / "cli.env"  # the demo deletes its own copy with its home
    saved_env.write_text(Path(env_file).read_text())
    # The log-reader output: each partition's state changes, with its outcome, and summaries.
    assert re.search(r"^\[\d\d:\d\d\] p0 \(-inf, \S+\]: running$", output, re.MULTILINE), output
    assert re.search(r"p1 \(\S+, \+inf\): success: 2,000 / 2,000 loaded, 0 dead-lettered", output)
    assert re.search(r"^\[\d\d:\d\d\] total: 4,000 / 4,000 loaded", output, re.MULTILINE), output

    commands = readme_commands(README.read_text())
    reports = [c for c in commands if c.startswith("python")]
    triggers = [c for c in commands if c.startswith("airflow")]
    # The report first, while the newest run is the demo's finished one (`--watch` then returns).
    for command in reports:
        result = _shell(env_file, command, tmp_path)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "PARTITION PROGRESS" in result.stdout and "Run state: success" in result.stdout
        assert "Total Loaded: 4,000 records" in result.stdout
    for command, code, message in [
        (
            "AIRFLOW_PASSWORD=wrong python -m include.dc2sf.report --latest",
            2,
            "login as 'admin' failed",
        ),
        ("python -m include.dc2sf.report --run-id no-such-run", 2, "not found"),
    ]:
        result = _shell(env_file, command, tmp_path)
        assert (result.returncode, result.stdout) == (code, ""), (command, result.stderr)
        assert message in result.stderr

    for command in triggers:
        result = _shell(env_file, command, tmp_path)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    url, password = _shell(
        env_file, 'echo "$AIRFLOW_URL"; echo "$AIRFLOW_PASSWORD"', tmp_path
    ).stdout.split()
    client = AirflowClient(url, "admin", password)
    with client:
        runs: dict[str, list[dict[str, object]]] = {}
        for dag_id in {trigger_target(c)[0] for c in triggers}:
            body = client.request(
                "GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"order_by": "run_after"}
            ).json()
            runs[dag_id] = [r for r in body["dag_runs"] if r.get("note") != "make demo"]
        for command in triggers:
            dag_id, conf = trigger_target(command)
            assert conf in [r["conf"] for r in runs[dag_id]], (command, runs[dag_id])
        # The demo's scheduler takes the CLI's runs: the first one gets planned.
        first = str(runs["datacloud_to_salesforce"][0]["dag_run_id"])
        deadline = time.monotonic() + 120
        while True:
            plan = client.task_instances("datacloud_to_salesforce", first)
            states = {ti["task_id"]: ti.get("state") for ti in plan}
            if states.get("plan") == "success":
                break
            assert states.get("plan") not in ("failed", "upstream_failed"), states
            assert time.monotonic() < deadline, states
            time.sleep(2)

    # Ctrl-C ends a held demo with the load's status, says the home is gone, and it is.
    assert held_demo.interrupt() == 0, held_demo.output
    output = held_demo.output
    assert (
        f"Deleted the demo's Airflow home {home} (metadata DB, task logs, dead letters)" in output
    )
    assert not home.exists()
    sessions = held_demo.sessions()
    assert len(sessions) >= 5  # emulator + four Airflow components (again on a port retry)
    assert stack_processes(None, sessions) == []
    # With the demo gone, the same report command says the server cannot be reached.
    gone = _shell(str(saved_env), reports[0], tmp_path)
    assert gone.returncode == 3 and "cannot reach" in gone.stderr, gone.stderr
