"""The servers under test (one table: SERVERS) and the process that runs one of them.

Every server is one process (plus whatever it forks) started as `taskset -c SERVER_CPU <command>` in its own
session, with BENCH_HOST / BENCH_PORT (and BENCH_DB_DSN / BENCH_DB_POOL when a database scenario is selected)
in its environment; see the contract in benchmarks/README.md. A server that serves TLS scenarios is started a
second time for them, with the run's certificate: BENCH_TLS_CERT / BENCH_TLS_KEY in its environment, and
whatever its command needs besides (Granian's --ssl-* options, nginx's TLS config).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.infra import APPS_DIR, HOST, TlsFiles, free_port, nginx_command
from benchmarks.measure import SERVER_CPU
from benchmarks.scenarios import SCENARIOS

REPO_ROOT = APPS_DIR.parent.parent
DB_POOL = 16
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# (port, private work directory, the certificate when it serves TLS) -> argv
Command = Callable[[int, Path, TlsFiles | None], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    name: str
    command: Command
    scenarios: tuple[str, ...]
    summary: str
    # The `memory` scenario's instances get these on top of the contract's BENCH_* (see benchmarks/memory.py).
    memory_env: dict[str, str] = field(default_factory=dict)
    in_default: bool = True  # part of a run that names no servers
    env: dict[str, str] = field(default_factory=dict)  # every instance's, on top of the contract's BENCH_*


def _script(file: str) -> Command:
    # The app reads its certificate from the environment (BENCH_TLS_CERT / BENCH_TLS_KEY).
    return lambda port, workdir, tls: [sys.executable, str(APPS_DIR / file)]


# `tiercel-base` is Tiercel as another interpreter has it installed: the python of a venv built from the base of a
# change, to compare the change with its base in one run, runs alternating (see benchmarks/README.md).
BASE_PYTHON = "BENCH_BASE_PYTHON"


def _base_script(file: str) -> Command:
    return lambda port, workdir, tls: [os.environ[BASE_PYTHON], str(APPS_DIR / file)]


def _uvicorn(app: str) -> Command:
    # `python -m uvicorn` with one worker serves in the very process we start; TLS with Python's ssl module.
    return lambda port, workdir, tls: [
        sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning", "--workers", "1",
        *(["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)] if tls else []),
    ]  # fmt: skip


def _tiercel_cli(app: str) -> Command:
    # The Tiercel CLI serving an ASGI application (mounted at "/" in a host app), one process.
    return lambda port, workdir, tls: [
        sys.executable, "-m", "tiercel", app, "--host", HOST, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def _granian(interface: str, app: str, ws: bool) -> Command:
    # Websockets are on by default in Granian; off (--no-ws) where the app has no WebSocket endpoint.
    # TLS with rustls; `--http auto` (the default) offers HTTP/2 and HTTP/1.1 by ALPN.
    return lambda port, workdir, tls: [
        sys.executable, "-m", "granian", "--interface", interface, "--host", HOST, "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--log-level", "warning", *([] if ws else ["--no-ws"]),
        *(["--ssl-certificate", str(tls.cert), "--ssl-keyfile", str(tls.key)] if tls else []), app,
    ]  # fmt: skip


# The memory scenario's 10,000 idle connections take a few seconds to open (more on a busy machine): where a server's
# keep-alive timeout is shorter than that (Tiercel and uvicorn: 5 s), its memory instances get 60 s.
KEEP_ALIVE_60S = {"tiercel": {"TIERCEL_TIMEOUT_KEEP_ALIVE": "60"}, "uvicorn": {"UVICORN_TIMEOUT_KEEP_ALIVE": "60"}}
# Granian's backpressure (requests processed at once per worker, default backlog/workers = 1,024) also counts idle
# keep-alive connections: the memory scenario's 10,000 would wait at the 1,025th.
GRANIAN_MEMORY_ENV = {"GRANIAN_BACKPRESSURE": "20000"}

ALL = tuple(SCENARIOS)
MODELS = tuple(name for name, s in SCENARIOS.items() if s.models)  # for the frameworks (validated bodies)
DOCS = tuple(name for name, s in SCENARIOS.items() if s.docs)  # for the frameworks that publish an OpenAPI document
PLAIN = tuple(name for name, s in SCENARIOS.items() if not s.tls and not s.models and not s.docs)
TLS = tuple(name for name, s in SCENARIOS.items() if s.tls)  # for the servers that terminate TLS themselves
TLS_H1 = tuple(name for name, s in SCENARIOS.items() if s.tls and not s.http2)  # for those without HTTP/2


def _without(*names: str) -> tuple[str, ...]:
    """The plain-HTTP scenarios (but the models ones) but ``names``."""
    return tuple(s for s in PLAIN if s not in names)



SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            "tiercel",
            _script("tiercel_bench.py"),
            ALL,
            "Tiercel, `apps/tiercel_bench.py`",
            # Its default max_connections is exactly the memory scenario's 10,000.
            memory_env={"TIERCEL_MAX_CONNECTIONS": "20000", **KEEP_ALIVE_60S["tiercel"]},
        ),
        ServerSpec(
            "tiercel-base",
            _base_script("tiercel_bench.py"),
            ALL,
            f"Tiercel as `${BASE_PYTHON}` has it installed (the base of a change), `apps/tiercel_bench.py`",
            memory_env={"TIERCEL_MAX_CONNECTIONS": "20000", **KEEP_ALIVE_60S["tiercel"]},
            in_default=False,
        ),
        ServerSpec(
            "tiercel-msgspec",
            _script("tiercel_bench.py"),
            MODELS,
            "Tiercel, `apps/tiercel_bench.py` with msgspec Structs for the validate models (`BENCH_MODELS=msgspec`)",
            env={"BENCH_MODELS": "msgspec"},
        ),
        ServerSpec(
            "robyn", _script("robyn_bench.py"), (*PLAIN, *MODELS), "Robyn, `apps/robyn_bench.py`, 1 process, 1 worker"
        ),
        ServerSpec(
            "granian-rsgi",
            _granian("rsgi", "benchmarks.apps.granian_rsgi_bench:app", ws=True),
            (*_without("middleware", "const"), *TLS),
            "Granian's own RSGI protocol, `apps/granian_rsgi_bench.py`, no framework",
            memory_env=GRANIAN_MEMORY_ENV,
        ),
        ServerSpec(
            "granian-asgi",
            _granian("asgi", "benchmarks.apps.asgi_raw:app", ws=False),
            _without("middleware", "const", "file", "sse", "ws"),
            "Granian ASGI, raw ASGI app `apps/asgi_raw.py`, no framework",
            memory_env=GRANIAN_MEMORY_ENV,
        ),
        ServerSpec(
            "uvicorn-raw",
            _uvicorn("benchmarks.apps.asgi_raw:app"),
            (*_without("middleware", "const", "file", "sse", "ws"), *TLS_H1),
            "uvicorn (httptools, uvloop, no access log), raw ASGI app `apps/asgi_raw.py`, no framework",
            memory_env=KEEP_ALIVE_60S["uvicorn"],
        ),
        ServerSpec(
            "fastapi",
            _uvicorn("benchmarks.apps.fastapi_bench:app"),
            (*_without("const", "file", "sse", "ws"), *MODELS, *DOCS),
            "FastAPI `apps/fastapi_bench.py` on the same uvicorn command",
            memory_env=KEEP_ALIVE_60S["uvicorn"],
        ),
        ServerSpec(
            "tiercel-asgi",
            _tiercel_cli("benchmarks.apps.asgi_raw:app"),
            _without("middleware", "const", "file", "sse", "ws"),
            "Tiercel's CLI serving the raw ASGI app `apps/asgi_raw.py` (mounted at /: native scope, receive, send)",
            in_default=False,
        ),
        ServerSpec(
            "tiercel-fastapi",
            _tiercel_cli("benchmarks.apps.fastapi_bench:app"),
            (*_without("const", "file", "sse", "ws"), *MODELS, *DOCS),
            "FastAPI `apps/fastapi_bench.py` served by Tiercel's CLI instead of uvicorn",
            in_default=False,
        ),
        ServerSpec(
            "litestar",
            _uvicorn("benchmarks.apps.litestar_bench:app"),
            (*_without("const", "file", "sse", "ws"), *MODELS),
            "Litestar `apps/litestar_bench.py` (msgspec Structs) on the same uvicorn command",
            memory_env=KEEP_ALIVE_60S["uvicorn"],
        ),
        ServerSpec(
            "socketify",
            _script("socketify_bench.py"),
            _without("const", "file", "sse"),
            "socketify (uWebSockets), `apps/socketify_bench.py`",
        ),
        ServerSpec(
            "nginx",
            nginx_command,
            ("plaintext", "pipelined", "const", "file", "memory", *TLS),
            "nginx, `apps/nginx.conf.template` (TLS: `apps/nginx-tls.conf.template`), one process (no master), "
            "`return 200`; the file from disk",
        ),
    )
}


class Server:
    """One running server, pinned to SERVER_CPU, in its own session (so its process group is its own and
    the driver's Ctrl-C does not reach it: the driver stops it). With ``tls``, it serves HTTPS only, with that
    certificate."""

    def __init__(
        self,
        label: str,
        spec: ServerSpec,
        workdir: Path,
        db_dsn: str | None,
        tls: TlsFiles | None = None,
        env: dict[str, str] | None = None,  # on top of the contract's variables
    ) -> None:
        self.label = label
        self.spec = spec
        self.tls = tls
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.argv: list[str] = []
        self.env = {**os.environ, **spec.env, **(env or {}), "BENCH_HOST": HOST, "BENCH_PORT": str(self.port)}
        if db_dsn:
            self.env.update(BENCH_DB_DSN=db_dsn, BENCH_DB_POOL=str(DB_POOL))
        if tls:
            self.env.update(tls.env())
        self.proc: subprocess.Popen[bytes] | None = None
        self.failure: str | None = None  # why it is not (or no longer) usable

    @property
    def name(self) -> str:
        """The label, and whether this is the TLS instance: 'tiercel', 'tiercel (TLS)'."""
        return f"{self.label} (TLS)" if self.tls else self.label

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A client connection to the server: over TLS (checking the certificate against the run's CA) when it
        serves TLS."""
        if self.tls is None:
            return http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        return http.client.HTTPSConnection(HOST, self.port, timeout=timeout, context=context)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Start the process (not waiting for it to serve); on failure, ``failure`` says why."""
        try:
            self.workdir.mkdir(parents=True)
            self.argv = ["taskset", "-c", str(SERVER_CPU), *self.spec.command(self.port, self.workdir, self.tls)]
            with open(self.log_path, "wb") as log:
                # taskset execs the server, so proc.pid is the server itself.
                self.proc = subprocess.Popen(
                    self.argv,
                    cwd=REPO_ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            self.failure = f"could not be started: {exc}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def alive(self) -> bool:
        """False (and ``failure`` set) once the process has exited."""
        if self.proc is not None and self.proc.poll() is not None and self.failure is None:
            code = self.proc.returncode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            tail = self.log_tail()
            self.failure = f"{how} (log: {tail.splitlines()[-1][:200]!r})\n{tail}"
        return self.failure is None

    def wait_ready(self) -> bool:
        """Poll a TCP connect (+ TLS handshake) + `GET /` until the server answers HTTP at all (validation checks
        the answers). On failure, ``failure`` says why."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no attempt yet"
        while self.alive():
            conn = self.connection(timeout=2.0)
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                return True
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            finally:
                conn.close()
            if time.monotonic() > deadline:
                self.failure = f"not answering after {READY_TIMEOUT_S:.0f} s (last: {last})\n{self.log_tail()}"
                return False
            time.sleep(0.05)  # poll interval, not a readiness guess
        return False


def stop_all(servers: list[Server]) -> None:
    """SIGINT every server, wait up to STOP_TIMEOUT_S for all, then SIGKILL the process groups (a server's
    leftover children included)."""
    running = [s for s in servers if s.proc is not None]
    for server in running:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for server in running:
        assert server.proc is not None
        try:
            server.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"warning: {server.name} ignored SIGINT for {STOP_TIMEOUT_S:.0f} s; killing it", file=sys.stderr)
        # The server is its session's and process group's leader: its pid is the group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
