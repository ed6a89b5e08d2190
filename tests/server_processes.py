"""Helpers for tests that run tests/apps/runtime_app.py under the CLI (one process or a supervisor): its command
line, a process's children, waiting for a condition, and a load of requests on fresh connections."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

import httpx

APP_DIR = os.path.join(os.path.dirname(__file__), "apps")


def tiercel(*flags: str) -> list[str]:
    return ["-m", "tiercel", "runtime_app:app", "--app-dir", APP_DIR, *flags]


def children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Load:
    """Requests on fresh connections from a few threads until stopped; counts outcomes."""

    def __init__(self, url: str, path: str = "/pid", threads: int = 4) -> None:
        self.url, self.path = url, path
        self.ok = 0
        self.errors: list[str] = []
        self.pids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while self.running:
            try:
                r = httpx.get(self.url + self.path, timeout=10)  # a new connection each time
                with self.lock:
                    if r.status_code == 200:
                        self.ok += 1
                        self.pids[r.text] += 1
                    else:
                        self.errors.append(f"status {r.status_code}")
            except httpx.HTTPError as e:
                with self.lock:
                    self.errors.append(repr(e))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        for t in self.threads:
            t.join(15)


def quit_nginx(proc: subprocess.Popen[bytes]) -> None:
    """Stops an nginx the test started (SIGQUIT: graceful), killing it if it has not exited in 10 s."""
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
