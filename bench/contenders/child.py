"""Start ``python -m bench.contenders`` on a spec and collect its result (the child interface)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.contenders.common import ContenderSpec


@dataclass
class Child:
    """A running contender process, its result file and its log."""

    process: subprocess.Popen[bytes]
    result_path: Path
    log_path: Path

    def result(self) -> dict[str, Any]:
        """Wait for the child; its result, or an error with the log's tail."""
        if self.process.wait() != 0 or not self.result_path.exists():
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(
                f"contender process failed (exit {self.process.returncode}):\n{tail}"
            )
        return dict(json.loads(self.result_path.read_text(encoding="utf-8")))


def start(spec: ContenderSpec, folder: Path, env: dict[str, str] | None = None) -> Child:
    """Write ``spec`` into ``folder`` and start the child on it (``env``: its whole environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path, result_path, log_path = (
        folder / "spec.json",
        folder / "result.json",
        folder / "child.log",
    )
    result_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(dataclasses.asdict(spec)), encoding="utf-8")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.contenders", str(spec_path), str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Child(process, result_path, log_path)
