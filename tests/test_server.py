"""Serving in one process (tiercel.server) under the CLI: graceful shutdown on SIGTERM, a Unix domain socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from server_processes import APP_DIR, tiercel


def test_single_process_graceful_shutdown(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR)
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(httpx.get(p.url + "/slow?s=1", timeout=10)))
    t.start()
    with httpx.Client() as idle:  # an idle keep-alive connection is closed at once, not after the grace period
        idle.get(p.url + "/pid")
        time.sleep(0.3)
        p.proc.send_signal(signal.SIGTERM)
        t.join(10)
        try:
            assert p.proc.wait(10) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not stop:\n" + "".join(p.output)) from None
    assert results[0].status_code == 200 and results[0].headers["connection"] == "close"


def test_unix_domain_socket(run_script, tmp_path):
    path = str(tmp_path / "tiercel.sock")
    proc = subprocess.Popen(
        [sys.executable, *tiercel("--uds", path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if k != "TIERCEL_PORT"}, cwd=APP_DIR,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while "Tiercel listening" not in line:
            assert line, "server did not start"
            line = proc.stdout.readline()
        assert f"unix:{path}" in line
        with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as c:
            assert c.get("http://x/pid").text == str(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not os.path.exists(path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
