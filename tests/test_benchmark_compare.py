"""Comparing a change with its base in the benchmark: the `pipelined` scenario's wrk script really pipelines (16
requests in one write before any answer), and `tiercel-base` runs only when it is named, with the interpreter
BENCH_BASE_PYTHON names (see benchmarks/README.md)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from benchmarks.__main__ import parse_args  # noqa: E402
from benchmarks.scenarios import SCENARIOS, WRK_PIPELINE  # noqa: E402


def test_pipeline_script_sends_sixteen_requests_in_one_write() -> None:
    assert SCENARIOS["pipelined"].wrk_script == WRK_PIPELINE
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c1", "-d2", "-s", str(WRK_PIPELINE), f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            listener.settimeout(10)
            data = b""
            while not data:  # wrk opens (and closes) a first connection before its threads start
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(10)
                    while chunk := conn.recv(65536):
                        data += chunk
                        if data.count(b"\r\n\r\n") >= 16:
                            break
            assert data.count(b"GET / HTTP/1.1\r\n") == 16, data  # and no 17th before an answer
        finally:
            wrk.kill()
            wrk.wait()


def test_tiercel_base_runs_only_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_BASE_PYTHON", raising=False)
    assert "tiercel-base" not in parse_args(["run"]).servers
    with pytest.raises(SystemExit):
        parse_args(["run", "--servers", "tiercel-base,tiercel"])
    monkeypatch.setenv("BENCH_BASE_PYTHON", sys.executable)
    assert parse_args(["run", "--servers", "tiercel-base,tiercel"]).servers == ["tiercel-base", "tiercel"]
