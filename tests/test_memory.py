"""What connections cost in memory, measured on a real server process: an idle keep-alive connection holds no read
or write buffer (a few KB in all, where it held a 16 KiB read buffer), and what a burst of connections used is given
back to the system once it is over (RSS stayed at the burst's peak until exit)."""

from __future__ import annotations

import resource
import socket
import time

import pytest

APP = """
import os
from tiercel import Tiercel
app = Tiercel(__file__)
@app.get('/')
def index():
    return 'Hello, World!'
@app.get('/big')
def big():
    return b'x' * 65536
app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']))
"""

CONNECTIONS = 3000


@pytest.fixture
def server(run_script, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 200:
        pytest.fail(f"the file descriptor limit ({hard}) is below the {CONNECTIONS} connections this test opens")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, CONNECTIONS + 200), hard))  # the server inherits it
    try:
        script = tmp_path / "app.py"
        script.write_text(APP)
        yield run_script(str(script))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def keep_alive(port: int, count: int, path: str = "/") -> list[socket.socket]:
    """`count` connections, each having sent one request and read its whole answer, left open."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for s in socks:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
        while len(body) < length:
            body += s.recv(65536)
    return socks


def settled_rss(pid: int, seconds: float = 1.0) -> int:
    """RSS once the server has had a moment (its memory is given back a little after connections close)."""
    time.sleep(seconds)
    return rss_kib(pid)


def test_an_idle_keep_alive_connection_holds_a_few_kilobytes(server):
    for s in keep_alive(server.port, 200):  # warm-up: the first connections grow tables once
        s.close()
    before = settled_rss(server.proc.pid)
    socks = keep_alive(server.port, CONNECTIONS)
    try:
        per_connection = (settled_rss(server.proc.pid, 0.5) - before) * 1024 / CONNECTIONS
    finally:
        for s in socks:
            s.close()
    assert per_connection <= 4096, f"{per_connection:.0f} bytes per idle keep-alive connection"


def test_a_burst_of_connections_gives_its_memory_back(server):
    for s in keep_alive(server.port, 200):
        s.close()
    idle = settled_rss(server.proc.pid)
    socks = keep_alive(server.port, CONNECTIONS) + keep_alive(server.port, 300, "/big")
    peak = rss_kib(server.proc.pid)
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while (now := rss_kib(server.proc.pid)) > idle * 1.2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now <= idle * 1.2, f"RSS {now} KiB after the burst (idle {idle} KiB, peak {peak} KiB)"
    # And the server still serves.
    for s in keep_alive(server.port, 1):
        s.close()
