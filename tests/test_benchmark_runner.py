"""What the benchmark runner records about each server (benchmarks/runner.py): commands without this machine's
paths, so that committed results name no directory of the machine that made them."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from benchmarks.runner import _portable  # noqa: E402
from benchmarks.servers import REPO_ROOT  # noqa: E402


def test_recorded_commands_keep_no_machine_paths():
    run_dir = os.path.join(tempfile.gettempdir(), "tiercel-bench-abc123")
    argv = ["taskset", "-c", "0", sys.executable, str(REPO_ROOT / "benchmarks" / "apps" / "tiercel_bench.py"),
            "-c", os.path.join(run_dir, "nginx", "nginx.conf"), "--port", "8080"]  # fmt: skip
    assert _portable(argv) == [
        "taskset", "-c", "0", "python", "benchmarks/apps/tiercel_bench.py", "-c", "<run>/nginx/nginx.conf",
        "--port", "8080",
    ]  # fmt: skip
