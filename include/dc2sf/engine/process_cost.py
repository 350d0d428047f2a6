"""What the process running a load costs: peak memory and CPU, read from the kernel.

The load task reports these with its summary (so an operator sizing Airflow workers sees what one
partition took), and the benchmarks read the same figures for their contenders: one definition of
"peak memory", whoever measures it.
"""

from __future__ import annotations

import resource
import sys


def _proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from ``/proc/self/status`` (Linux), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    """Peak RSS of this process's own memory (``VmHWM``).

    Why not ``ru_maxrss``: Linux carries it across ``exec`` from the process that spawned us, so
    a child started by a parent that once held 200 MB reports at least 200 MB whatever it uses
    itself. ``VmHWM`` belongs to the address space the process has now. ``ru_maxrss`` is the
    fallback where ``/proc`` is missing (macOS reports it in bytes, Linux in KiB).
    """
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0


def current_rss_mb() -> float:
    """RSS right now (``VmRSS``): the baseline after imports."""
    current = _proc_status_mb("VmRSS")
    return peak_rss_mb() if current is None else current


def cpu_seconds() -> float:
    """User + system CPU of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
