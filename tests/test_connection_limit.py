"""max_connections with real worker processes on the supervisor's shared socket: a worker at the limit stops
accepting (and stays idle) while its sibling serves everyone else."""

from __future__ import annotations

import select
import socket
import time

import httpx
from server_processes import APP_DIR, tiercel, wait_for

LIMIT = 50


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def get_pid(sock: socket.socket) -> str:
    """GET /pid on a kept-alive connection: the worker that accepted it."""
    sock.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the connection was closed"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
    while len(body) < length:
        body += sock.recv(4096)
    return body.decode()


def test_a_saturated_worker_leaves_new_connections_to_its_sibling(run_script):
    p = run_script(*tiercel("--processes", "2", "--max-connections", str(LIMIT), "--metrics", "/metrics"), cwd=APP_DIR)
    opened: list[socket.socket] = []
    try:
        # Fill one worker (the first to answer): keep the connections that reach it, close the others.
        full = ""
        for _ in range(20 * LIMIT):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            pid = get_pid(s)
            full = full or pid
            if pid != full:
                s.close()
                continue
            opened.append(s)
            if len(opened) == LIMIT:
                break
        assert len(opened) == LIMIT
        # The storm: idle connections until the full worker has seen one over its limit and stopped accepting.
        storm = [socket.create_connection(("127.0.0.1", p.port), timeout=5) for _ in range(10)]
        opened += storm
        readable, _, _ = select.select(storm, [], [], 0.3)
        assert readable == [], "connections over the limit were closed"
        while not p.wait_for_output(f"max_connections ({LIMIT}) reached", 0.05):
            assert len(storm) < 40, "the full worker never reported the limit"
            storm.append(socket.create_connection(("127.0.0.1", p.port), timeout=5))
            opened.append(storm[-1])
        # A normal client is served at once, by the other worker, every time.
        with httpx.Client(timeout=2) as client:
            for _ in range(20):
                r = httpx.get(p.url + "/pid", timeout=2)  # a new connection each time
                assert r.status_code == 200
                assert r.text != full
            # The paused worker does not spin on its pending connection.
            before = cpu_ticks(int(full))
            time.sleep(1.0)
            used = cpu_ticks(int(full)) - before
            assert used <= 10, f"the worker at its limit used {used} ticks of CPU in 1 s"
            # Counted in the metrics (shared by the workers: the other one answers).

            def limited() -> bool:
                text = client.get(p.url + "/metrics").text
                values = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("tiercel_conn"))
                times = int(values["tiercel_connections_limited_total"])
                return times >= 1 and float(values["tiercel_connections_limited_seconds_total"]) >= 1.0

            wait_for(limited, 10, "the time at the limit in the metrics")
        # None of the storm was closed: they wait in the backlog, or are served by the other worker.
        readable, _, _ = select.select(storm, [], [], 0.2)
        assert readable == []
        # Slots freed on the full worker: it accepts again and answers.
        for s in opened[:10]:
            s.close()
        wait_for(lambda: httpx.get(p.url + "/pid", timeout=5).text == full, 10, "the worker to accept again")
        assert sum(f"max_connections ({LIMIT}) reached" in line for line in p.output) == 1
    finally:
        for s in opened:
            s.close()
    assert p.stop() == 0


def open_file_limits(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def started_with_file_limit(run_script, soft: int, hard: int, max_connections: int):
    """runtime_app under the CLI, in a process whose open-file limit is (soft, hard) from the start."""
    code = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); "
        "sys.argv = ['tiercel', *sys.argv[1:]]; runpy.run_module('tiercel', run_name='__main__')"
    )
    flags = ["--max-connections", str(max_connections), "--port", "0"]
    return run_script("-c", code, *tiercel(*flags)[2:], cwd=APP_DIR)


def test_the_open_file_limit_is_raised_to_fit_max_connections(run_script):
    p = started_with_file_limit(run_script, 48, 4096, 1000)
    assert httpx.get(p.url + "/pid").status_code == 200
    assert open_file_limits(p.proc.pid) == (1064, 4096)  # max_connections and the headroom
    assert not any("open-file limit" in line for line in p.output), p.output


def test_an_open_file_limit_below_max_connections_is_named_at_start(run_script):
    p = started_with_file_limit(run_script, 48, 48, 1000)
    assert httpx.get(p.url + "/pid").status_code == 200  # it still serves, within its means
    assert p.wait_for_output("the open-file limit (ulimit -n) is 48, below max_connections (1000)", 5), p.output
