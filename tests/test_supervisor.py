"""The supervisor (tiercel.supervisor) with real processes, signals and sockets: respawn, crash loop, heartbeat,
recycling, rolling restart, scaling, graceful and immediate stops."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from server_processes import APP_DIR, Load, children, tiercel, wait_for


def test_workers_serve_and_a_killed_worker_is_replaced(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    workers = children(p.proc.pid)
    assert len(workers) == 2
    with Load(p.url) as load:
        time.sleep(0.3)
        victim = next(iter(workers))
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(p.proc.pid) - {victim}) == 2, 10, "a replacement worker")
        time.sleep(0.5)
        # New connections after the kill all succeed.
        load.errors.clear()
        ok_before = load.ok
        time.sleep(1.0)
        assert load.ok > ok_before and load.errors == []
    assert victim not in children(p.proc.pid)
    assert p.wait_for_output(f"worker {victim} was killed by SIGKILL: starting another", 5)
    assert p.stop(signal.SIGTERM) == 0


def test_sigterm_lets_in_flight_requests_finish(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    # Connected and sent before the signal (threads starting httpx clients could still be connecting when it
    # came, on a loaded machine, and find the listening socket closed).
    socks = [socket.create_connection(("127.0.0.1", p.port), timeout=10) for _ in range(8)]
    for s in socks:
        s.sendall(b"GET /slow?s=1.5 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    answers = []
    for s in socks:
        with s:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            answers.append(data)
    assert p.proc.wait(10) == 0
    for a in answers:
        head, _, body = a.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), a
        assert b"\r\nconnection: close" in head.lower() and body.startswith(b"slept 1.5"), a
    assert sum("shutdown handler ran" in line for line in p.output) == 2


def test_sighup_rolling_restart_refuses_nothing(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    before = children(p.proc.pid)
    with Load(p.url) as load:
        wait_for(lambda: load.ok >= 10, 15, "requests before the restart")
        p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(children(p.proc.pid)) == 2 and not children(p.proc.pid) & before, 15, "new workers")
        after = children(p.proc.pid)
        wait_for(lambda: sum(load.pids[str(pid)] for pid in after) >= 10, 15, "requests served by the new workers")
    assert load.errors == [], load.errors[:5]
    assert {int(pid) for pid in load.pids} & before  # the old workers served until they were replaced
    assert p.stop(signal.SIGTERM) == 0


def test_heartbeat_kills_a_stuck_worker(run_script):
    p = run_script(*tiercel("--processes", "2", "--heartbeat-timeout", "1.5"), cwd=APP_DIR)
    with pytest.raises(httpx.HTTPError):
        httpx.get(p.url + "/hang", timeout=6)  # the worker that took it is killed: the connection dies
    assert p.wait_for_output("its event loop stopped answering", 5)
    wait_for(lambda: len(children(p.proc.pid)) == 2, 10, "a replacement worker")
    assert httpx.get(p.url + "/pid").status_code == 200
    assert p.stop(signal.SIGTERM) == 0


def test_max_requests_recycles_workers_without_failures(run_script):
    p = run_script(*tiercel("--max-requests", "30", "--max-requests-jitter", "5"), cwd=APP_DIR)
    first = children(p.proc.pid)
    assert len(first) == 1
    with Load(p.url, threads=2) as load:
        wait_for(lambda: len(load.pids) >= 3, 30, "two recyclings")  # checked once a second by each worker
    assert load.errors == [], load.errors[:5]
    assert p.wait_for_output("asking to be replaced", 1)
    assert p.stop(signal.SIGTERM) == 0


def test_workers_dying_at_start_up_stop_the_supervisor(run_script):
    r = subprocess.run(
        [sys.executable, *tiercel("--processes", "2", "--port", "0")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUNTIME_APP_FAIL_STARTUP": "1"},
        cwd=APP_DIR,
    )
    assert r.returncode == 3
    assert "workers keep dying at start-up (5 in a row): giving up" in r.stderr
    assert "the database is unreachable" in r.stderr


def test_sigttin_and_sigttou_scale_the_workers(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    p.proc.send_signal(signal.SIGTTIN)
    wait_for(lambda: len(children(p.proc.pid)) == 3, 10, "3 workers")
    # One signal at a time: the kernel merges a signal sent again before the first was handled.
    p.proc.send_signal(signal.SIGTTOU)
    wait_for(lambda: len(children(p.proc.pid)) == 2, 10, "2 workers")
    p.proc.send_signal(signal.SIGTTOU)
    wait_for(lambda: len(children(p.proc.pid)) == 1, 10, "1 worker")
    assert httpx.get(p.url + "/pid").status_code == 200
    assert p.stop(signal.SIGTERM) == 0


def test_second_signal_exits_at_once(run_script):
    p = run_script(*tiercel("--processes", "2", "--timeout-graceful-shutdown", "30"), cwd=APP_DIR)

    def hold() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(p.url + "/slow?s=20", timeout=30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(10) == 1
    assert time.monotonic() - started < 5
