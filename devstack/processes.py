"""Start and stop the long-running processes of a local stack so that none outlives it.

Three layers, because each alone has a hole:

* every process starts in its own session (``setsid``): a terminal's Ctrl-C reaches only the
  harness, which then stops things in order, and ``killpg`` reaches a component's children
  (LocalExecutor workers, task supervisors) too;
* every process is a session leader, so the final sweep finds all it spawned by session id,
  including task processes (Airflow moves them to their own process group) and orphans
  re-parented to init; every process also carries ``DEVSTACK_STACK_ID=<id>`` in its environment
  as a second net for anything that calls ``setsid``;
* on Linux, a tiny launcher sets ``PR_SET_PDEATHSIG`` before exec'ing the real command, so if the
  harness itself is SIGKILLed (a CI runner cancelling a job) the kernel SIGTERMs the components.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

__all__ = [
    "STACK_ID_ENV",
    "free_port",
    "sigint_deferred",
    "spawn",
    "stack_processes",
    "stop_all",
    "tail",
]

STACK_ID_ENV = "DEVSTACK_STACK_ID"

# Execs the real command after asking the kernel to SIGTERM it when the harness dies (Linux).
# A launcher instead of ``preexec_fn``: forking with a Python callback is unsafe when the
# harness has threads (the in-process emulator of the tests runs in one).
_PDEATHSIG_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))\n"  # PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"  # the harness died before prctl took effect
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's pick; small race, fine locally)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: str | Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, stdout+stderr to ``log``, stdin closed.

    ``env`` must already carry ``STACK_ID_ENV``. Note that PDEATHSIG fires when the *thread* that
    spawned the process exits: start stacks from a thread that lives as long as they do.
    """
    if STACK_ID_ENV not in env:
        raise ValueError(f"{STACK_ID_ENV} missing from the environment: the sweep needs it")
    argv = list(command)
    if sys.platform.startswith("linux"):
        argv = [sys.executable, "-c", _PDEATHSIG_LAUNCHER, str(os.getpid()), *argv]
    return subprocess.Popen(
        argv,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stack_processes(stack_id: str | None, sessions: Iterable[int] = ()) -> list[psutil.Process]:
    """Every live process of a stack: tagged with ``stack_id``, or in one of its ``sessions``.

    Both, because each misses something: Airflow renames processes with ``setproctitle``, which
    overwrites the memory ``/proc/<pid>/environ`` reads (the api-server and the LocalExecutor
    workers lose their tag), and a process that calls ``setsid`` leaves the session (none of
    Airflow 3.3's do; task processes only ``setpgid``, so they stay in the scheduler's session
    but leave its process group).
    """
    wanted = set(sessions)
    found: list[psutil.Process] = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if (wanted and os.getsid(proc.pid) in wanted) or (
                stack_id and proc.environ().get(STACK_ID_ENV) == stack_id
            ):
                found.append(proc)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return found


def stop_all(
    procs: Iterable[subprocess.Popen[bytes]], *, stack_id: str | None, grace: float
) -> None:
    """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds, then kill any
    process still in one of their sessions or tagged with ``stack_id``. Processes are signalled together: stopping four
    Airflow components one after another would add their shutdown times up."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        # The leader may be gone while its group lives on (children still exiting).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    # Each process was started as a session leader, so its pid is its session id: this also
    # reaches task processes, which move to their own process group (killpg misses them).
    leftovers = stack_processes(stack_id, sessions=[p.pid for p in procs])
    for leftover in leftovers:
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    psutil.wait_procs(leftovers, timeout=5)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Ignore a second Ctrl-C while stopping: an impatient user would otherwise abort the
    clean-up half way. Only the main thread may touch signal handlers; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file (reads at most the last 64 KiB)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
