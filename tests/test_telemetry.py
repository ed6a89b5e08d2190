"""Observability (bindings/telemetry): access log lines, and Prometheus metrics in one process and summed across a
supervisor's workers and their restarts."""

from __future__ import annotations

import os
import re
import signal
import time

import httpx
from server_processes import APP_DIR, Load, children, tiercel, wait_for

from tiercel import TestClient, Tiercel


def test_access_log_lines(run_script):
    p = run_script(*tiercel("--access-log"), cwd=APP_DIR)
    with httpx.Client(base_url=p.url) as c:
        c.get("/pid")
        c.get("/nowhere?x=1")
        c.get("/boom")
        c.post("/pid", content=b"12345")
    assert p.wait_for_output('"POST /pid HTTP/1.1" 405', 5)  # flushed within a second
    lines = [line for line in p.output if '"' in line and " - - [" in line]
    stamp = r"^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d\d\d\d:\d\d:\d\d:\d\d \+0000\] "
    for request, status in [("GET /pid", 200), ("GET /nowhere?x=1", 404), ("GET /boom", 500), ("POST /pid", 405)]:
        pattern = stamp + re.escape(f'"{request} HTTP/1.1" {status} ') + r"\d+ \d+\.\d\d\d$"
        assert any(re.match(pattern, line.strip()) for line in lines), (request, lines)
    # Off by default.
    q = run_script(*tiercel(), cwd=APP_DIR)
    httpx.get(q.url + "/pid")
    time.sleep(1.2)
    assert not any(" - - [" in line for line in q.output)


def test_metrics_across_workers_and_restarts(run_script):
    p = run_script(*tiercel("--processes", "2", "--metrics", "/metrics"), cwd=APP_DIR)
    with httpx.Client(base_url=p.url) as c:
        for _ in range(30):
            assert c.get("/pid").status_code == 200
        for _ in range(5):
            c.get("/nowhere")
    # New connections until both workers have answered some: the counts must add up across them.
    with Load(p.url, threads=4) as load:
        wait_for(lambda: len(load.pids) == 2, 20, "both workers to answer")
    assert load.errors == []
    pid_requests = 30 + load.ok

    def metric(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{") and line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    text = httpx.get(p.url + "/metrics").text
    assert metric(text, 'tiercel_requests_total{route="/pid",method="GET",status="2xx"}') == pid_requests
    assert metric(text, 'tiercel_requests_total{route="",method="",status="4xx"}') == 5
    assert metric(text, 'tiercel_request_duration_seconds_count{route="/pid",method="GET"}') == pid_requests
    assert metric(text, "tiercel_open_connections") >= 1
    assert metric(text, "tiercel_worker_restarts_total") == 0
    # A worker dies: its counts are kept, and the restart is counted.
    victim = next(iter(children(p.proc.pid)))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(p.proc.pid) - {victim}) == 2, 10, "a replacement worker")
    time.sleep(0.3)
    text = httpx.get(p.url + "/metrics").text
    assert metric(text, 'tiercel_requests_total{route="/pid",method="GET",status="2xx"}') == pid_requests
    assert metric(text, 'tiercel_requests_total{route="/metrics",method="GET",status="2xx"}') == 1
    assert metric(text, "tiercel_worker_restarts_total") == 1
    assert p.stop(signal.SIGTERM) == 0


def test_metrics_in_process():
    app = Tiercel(__file__)
    app.get("/a/:x")(lambda x: x)
    with TestClient(app, metrics="/metrics") as client:
        client.get("/a/1")
        client.get("/a/2")
        text = client.get("/metrics").text
    assert 'tiercel_requests_total{route="/a/:x",method="GET",status="2xx"} 2' in text
    assert "# TYPE tiercel_request_duration_seconds histogram" in text
