"""examples/production: nginx (the example's nginx.conf, filled in) terminating TLS with a certificate from a test
CA (trustme), in front of Tiercel started by the example's run.sh (two workers, proxy headers, metrics). HTTPS
requests go through nginx from another loopback address (127.0.0.2, a client that is not the proxy): they reach
both workers, the app sees the client's address and scheme, and /metrics counts them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import trustme
from server_processes import quit_nginx, wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "production"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "127.0.0.2"  # all of 127.0.0.0/8 is loopback: the client connects from here, nginx from 127.0.0.1
# What Debian's /etc/nginx/nginx.conf puts around the files of conf.d/, with every path in the test's directory.
MAIN_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body_temp;
    proxy_temp_path {tmp}/proxy_temp;
    fastcgi_temp_path {tmp}/fastcgi_temp;
    uwsgi_temp_path {tmp}/uwsgi_temp;
    scgi_temp_path {tmp}/scgi_temp;
    include {tmp}/site.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(template: str, values: dict[str, str]) -> str:
    """`envsubst '$NAME ...'`: each ${NAME} replaced, nginx's own $variables left alone (an unknown ${...} fails)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class TiercelProcess:
    """`sh examples/production/run.sh` on a free port, its output in a file; `.port`, `.output()`, `.stop()`."""

    def __init__(self, log: Path) -> None:
        self.log = log
        env = dict(os.environ, PORT="0")  # the venv's `tiercel` first on PATH, as in an activated venv
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        with log.open("w") as out:
            self.proc = subprocess.Popen(["sh", str(EXAMPLE / "run.sh")], stdout=out, stderr=subprocess.STDOUT, env=env)
        self.port = 0
        try:
            wait_for(lambda: self.proc.poll() is not None or self._listening(), 20, "Tiercel to listen")
            assert self.port, self.output()
        except BaseException:
            self.stop()
            raise

    def _listening(self) -> bool:
        m = re.search(r"Tiercel listening on http://127\.0\.0\.1:(\d+)", self.output())
        self.port = int(m.group(1)) if m else 0
        return m is not None

    def output(self) -> str:
        return self.log.read_text()

    def workers(self) -> set[int]:
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return {int(p) for p in f.read().split()}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tiercel(tmp_path: Path) -> Iterator[TiercelProcess]:
    server = TiercelProcess(tmp_path / "tiercel.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def nginx(tmp_path: Path, tiercel: TiercelProcess, ca: trustme.CA) -> Iterator[tuple[int, int]]:
    """nginx with the example's template filled in, in front of `tiercel`; yields (https port, http port)."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(tmp_path / "cert.pem"), append=True)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    https, http = free_port(), free_port()
    values = {
        "SERVER_NAME": "localhost",
        "HTTP_LISTEN": f"127.0.0.1:{http}",
        "HTTPS_LISTEN": f"127.0.0.1:{https}",
        "TIERCEL_ADDR": f"127.0.0.1:{tiercel.port}",
        "TLS_CERT": str(tmp_path / "cert.pem"),
        "TLS_KEY": str(tmp_path / "key.pem"),
    }
    (tmp_path / "site.conf").write_text(render((EXAMPLE / "nginx.conf").read_text(), values))
    (tmp_path / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp_path))
    proc = subprocess.Popen(
        [NGINX, "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"], stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: proc.poll() is not None or (accepts(https) and accepts(http)), 10, "nginx to listen")
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail("nginx did not start: " + proc.stderr.read().decode())
        yield https, http
    finally:
        quit_nginx(proc)


def metric(text: str, series: str) -> float:
    """The value of one series (`name{labels}`) in Prometheus text; 0 when absent."""
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


def test_https_through_nginx_to_two_workers(tiercel, nginx, ca):
    https, http = nginx
    url = f"https://127.0.0.1:{https}"
    trust = ssl.create_default_context()
    ca.configure_trust(trust)  # the client trusts the test CA and nothing else
    transport = httpx.HTTPTransport(verify=trust, local_address=CLIENT)
    with httpx.Client(transport=transport, timeout=10) as client:
        # The app sees the client (127.0.0.2) and https, from nginx's X-Forwarded-For / -Proto: without the
        # proxy headers it would see nginx (127.0.0.1) and http. A forged X-Forwarded-For is ignored: nginx appends
        # the address it saw, and Tiercel reads from the right up to the first address it does not trust.
        for headers in ({}, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}):
            r = client.get(url + "/", headers=headers)
            assert r.status_code == 200 and r.json()["client"] == CLIENT and r.json()["scheme"] == "https"
            assert r.headers["strict-transport-security"] == "max-age=31536000"
        index_requests = 2

        # Both workers answer: requests in parallel make nginx open several connections to Tiercel.
        health_requests, workers_seen = 0, set()

        def health(_: int) -> int:
            r = client.get(url + "/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            return int(r.json()["worker"])

        with ThreadPoolExecutor(8) as pool:
            deadline = time.monotonic() + 15
            while len(workers_seen) < 2 and time.monotonic() < deadline:
                workers_seen |= set(pool.map(health, range(16)))
                health_requests += 16
        assert workers_seen == tiercel.workers() and len(workers_seen) == 2

        # The metrics: not through nginx, from Tiercel itself, summed over both workers.
        assert client.get(url + "/metrics").status_code == 403
        r = client.get(f"http://127.0.0.1:{http}/health")  # plain HTTP is sent to HTTPS
        assert r.status_code == 301 and r.headers["location"] == "https://127.0.0.1/health"  # the host asked for

    text = httpx.get(f"http://127.0.0.1:{tiercel.port}/metrics", timeout=10).text
    assert "# TYPE tiercel_requests_total counter" in text
    assert metric(text, 'tiercel_requests_total{route="/health",method="GET",status="2xx"}') == health_requests
    assert metric(text, 'tiercel_requests_total{route="/",method="GET",status="2xx"}') == index_requests
    assert metric(text, 'tiercel_requests_total{route="/metrics",method="GET",status="2xx"}') == 0  # nginx refused

    # The access log names the client too (lines are flushed within a second).
    wait_for(lambda: f'{CLIENT} - - [' in tiercel.output() and '"GET /health HTTP/1.1" 200' in tiercel.output(), 5,
             "the access log")  # fmt: skip
    assert tiercel.stop() == 0
