"""Scale-out behind nginx (Debian's package): deploy/nginx.conf.template load-balancing two Tiercel instances.
Traffic flows through; SIGTERM to one instance mid-load fails no client request; an instance killed outright
is routed around."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import string
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from server_processes import APP_DIR, Load, quit_nginx, tiercel, wait_for

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[int, int], str]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(backend_a: int, backend_b: int) -> str:
        port = free_port()
        conf = string.Template((ROOT / "deploy" / "nginx.conf.template").read_text()).substitute(
            port=port, backend_a=f"127.0.0.1:{backend_a}", backend_b=f"127.0.0.1:{backend_b}", workdir=tmp_path
        )
        (tmp_path / "nginx.conf").write_text(conf)
        proc = subprocess.Popen(
            [NGINX, "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ok(url + "/nginx-health"), 10, "nginx")
        return url

    yield start
    for p in procs:
        quit_nginx(p)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_instances_behind_nginx(run_script, nginx):
    port_a, port_b = free_port(), free_port()
    flags = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--processes", "2")
    a = run_script(*tiercel(*flags), env={"TIERCEL_PORT": str(port_a)}, cwd=APP_DIR)
    b = run_script(*tiercel(*flags), env={"TIERCEL_PORT": str(port_b)}, cwd=APP_DIR)
    url = nginx(port_a, port_b)

    # Traffic flows through both instances.
    owners = {httpx.get(url + "/pid").text for _ in range(40)}
    workers = {str(p) for inst in (a, b) for p in _children(inst.proc.pid)}
    assert owners <= workers and len(owners) >= 2

    # SIGTERM to one instance under load: no client sees a failure.
    with Load(url, threads=6) as load:
        wait_for(lambda: load.ok > 50, 10, "load")
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(15) == 0
        done = load.ok
        wait_for(lambda: load.ok > done + 100, 15, "requests after the stop")
    assert load.errors == [], load.errors[:5]

    # Start it again, then kill the other one outright: nginx routes around it.
    a2 = run_script(*tiercel(*flags), env={"TIERCEL_PORT": str(port_a)}, cwd=APP_DIR)
    wait_for(lambda: _ok(f"{a2.url}/pid"), 10, "the restarted instance")
    # nginx keeps a failed upstream out for fail_timeout (5 s): wait until it sends traffic to the new one again.
    a2_workers = {str(p) for p in _children(a2.proc.pid)}
    wait_for(lambda: httpx.get(url + "/pid").text in a2_workers, 15, "nginx to use the restarted instance")
    with Load(url, threads=6) as load:
        wait_for(lambda: load.ok > 50, 10, "load")
        _kill_tree(b.proc.pid)
        killed_at = load.ok
        wait_for(lambda: load.ok > killed_at + 100, 15, "requests after the kill")
    # Requests in flight on the killed instance at that moment may fail (at most one per client thread);
    # everything after is served by the other instance.
    assert len(load.errors) <= 6, load.errors[:6]
    for _ in range(30):
        assert httpx.get(url + "/pid").status_code == 200
    assert a2.stop(signal.SIGTERM) == 0


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def _kill_tree(pid: int) -> None:
    """SIGKILL a supervisor and its workers at once (a machine or container dying)."""
    victims = _children(pid) | {pid}
    for p in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    time.sleep(0.05)
