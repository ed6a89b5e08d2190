"""Test fixtures: real Tiercel servers on free ports, started and stopped the honest way.

`serve(app)` runs the app's engine on its own asyncio loop in a background thread (real sockets, real
clients); `run_script(path)` starts a Python file as a subprocess and waits for its readiness line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tiercel import Tiercel
from tiercel.server import Server
from tiercel.server import loop_factory as _loop_factory

LOOP_KINDS = ["asyncio", "uvloop"]


class EarlyTimersLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose timers fire a few milliseconds early, as uvloop's may (it counts whole
    milliseconds from a cached clock): the engine must not take such a timer for one still to come."""

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return super().call_at(when - 0.003, callback, *args, context=context)


class RunningServer:
    """An app served in a background thread; `.url`, `.port`, `.stop()`."""

    def __init__(self, app: Tiercel, loop_kind: str = "asyncio", **settings: Any):
        self.app = app
        self.loop_kind = loop_kind
        self.server: Server = app.server("127.0.0.1", 0, **settings)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="tiercel-test-server", daemon=True)
        self.profile: Callable[..., Any] | None = None

    def _run(self) -> None:
        loop = EarlyTimersLoop() if self.loop_kind == "early-timers" else _loop_factory(self.loop_kind)()
        self.loop = loop
        asyncio.set_event_loop(loop)
        if self.profile is not None:
            sys.setprofile(self.profile)
        try:
            loop.run_until_complete(self.server.serve(lambda s: self._ready.set()))
        except BaseException as e:  # surfaced to the test by start()/stop()
            self._error = e
            self._ready.set()
        finally:
            sys.setprofile(None)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> RunningServer:
        self.thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("server did not become ready in 30 s")
        if self._error is not None:
            raise self._error
        return self

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Runs `fn` on the server's loop thread and returns its result."""
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(_as_coro(fn), self.loop)
        return fut.result(10)

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(30)
        if self.thread.is_alive():
            raise TimeoutError("server thread did not stop in 30 s")
        if self._error is not None:
            raise self._error


async def _as_coro(fn: Callable[[], Any]) -> Any:
    return fn()


@pytest.fixture
def serve() -> Iterator[Callable[..., RunningServer]]:
    """serve(app, loop_kind="asyncio", **settings) -> a started RunningServer, stopped after the test."""
    servers: list[RunningServer] = []

    def start(app: Tiercel, loop_kind: str = "asyncio", **settings: Any) -> RunningServer:
        s = RunningServer(app, loop_kind, **settings).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Subprocess:
    """A Python script run as a server process; waits for "Tiercel listening on http://HOST:PORT". `python` is the
    interpreter (this one by default; tests/test_wheel.py runs a fresh virtualenv's)."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None, python: str = sys.executable
    ):
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("TIERCEL_PORT", "0")
        self.proc = subprocess.Popen(
            [python, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, text=True, cwd=cwd
        )
        self.output: list[str] = []
        self._new_output = threading.Condition()
        self.port = 0
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"Tiercel listening on https?://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            self.proc.wait(10)
            self.proc.stdout.close()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new_output:
                self.output.append(line)
                self._new_output.notify_all()

    def wait_for_output(self, text: str, timeout: float) -> bool:
        """Blocks until a line containing `text` was printed (or the timeout passes)."""
        with self._new_output:
            return self._new_output.wait_for(lambda: any(text in line for line in self.output), timeout)

    def wait_for_lines(self, text: str, count: int, timeout: float) -> bool:
        """Blocks until `count` lines containing `text` were printed (or the timeout passes)."""
        with self._new_output:
            return self._new_output.wait_for(lambda: sum(text in line for line in self.output) >= count, timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = 2, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return rc


@pytest.fixture
def run_script() -> Iterator[Callable[..., Subprocess]]:
    procs: list[Subprocess] = []

    def start(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> Subprocess:
        p = Subprocess(list(args), env, cwd)
        procs.append(p)
        return p

    yield start
    for p in procs:
        with contextlib.suppress(Exception):
            p.stop()


def raw_request(port: int, data: bytes, *, timeout: float = 5.0, until_close: bool = True) -> bytes:
    """Sends `data` on a fresh connection and returns everything received until the server closes
    (or, with until_close=False, until one complete response is in)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not until_close and _complete_responses(b"".join(chunks)) >= 1:
                break
        return b"".join(chunks)


def _complete_responses(data: bytes) -> int:
    return len(split_responses(data)[0])


def split_responses(data: bytes) -> tuple[list[tuple[int, dict[str, str], bytes]], bytes]:
    """Splits a byte stream of Content-Length-framed responses -> ([(status, headers, body)], rest)."""
    out = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out, data
        head = data[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if len(data) < end + 4 + n:
            return out, data
        out.append((status, headers, data[end + 4 : end + 4 + n]))
        data = data[end + 4 + n :]


# ---- a real browser: headless Chromium whose network reaches nothing but loopback ----------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not CHROMIUM or not os.path.exists(CHROMEDRIVER):
        pytest.skip("headless Chromium is not installed (Debian packages chromium and chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400", "--hide-scrollbars",
        # Nothing but the server: every other host name fails to resolve, and every request not to loopback (which
        # Chromium never proxies) goes to a proxy that is not there.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
