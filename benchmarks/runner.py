"""The whole benchmark: PostgreSQL (if a database scenario is selected), a certificate (if a TLS scenario is), every
server up (twice for one serving plain and TLS scenarios), every (server, scenario) pair validated, then per scenario
a warm-up per server and alternating measured rounds.

Results are one JSON-able dict: environment, settings, each server's command, and per scenario and server the
validation outcome, the warm-up, every measured run and the medians (see report.py for how it is shown).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import os
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import memory, wsload
from benchmarks.infra import HOST, Postgres, make_tls_files, nginx_version, postgres_version
from benchmarks.measure import (
    LOAD_CPU,
    SERVER_CPU,
    WRK_TIMEOUT_S,
    Load,
    Record,
    describe,
    run_h2load,
    run_wrk,
    run_wsload,
    summarize,
)
from benchmarks.scenarios import SCENARIOS, Reply, Scenario, WorldLookup
from benchmarks.servers import DB_POOL, REPO_ROOT, SERVERS, Server, ServerSpec, stop_all

PACKAGES = (
    "tiercel", "robyn", "granian", "socketify", "fastapi", "starlette", "litestar", "uvicorn", "uvloop", "httptools",
    "pydantic", "msgspec", "orjson", "asyncpg", "jinja2", "matplotlib", "trustme", "cryptography",
)  # fmt: skip
VALIDATE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Settings:
    servers: list[str]  # names from SERVERS; a repeated name is measured again as name#2 (an A/A noise check)
    scenarios: list[str]
    warmup_s: int
    duration_s: int
    runs: int
    connections: int  # wrk's connections, and the WebSocket connections of `ws`
    threads: int
    ws_window: int  # `ws`: messages in flight on each WebSocket connection
    memory_connections: int = memory.CONNECTIONS  # `memory`: idle keep-alive connections held


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def labels_for(names: list[str]) -> list[str]:
    """Unique labels: a repeated name becomes 'name#2', 'name#3', ..."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


# ----------------------------------------------------------------------- environment


def _first_line(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else None


def _cpuinfo_model() -> str | None:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _mem_total_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return None


def environment() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpuinfo_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {d: version(d) for d in PACKAGES},
        "nginx": nginx_version(),
        "postgres": postgres_version(),
        "wrk": (_first_line(["wrk", "-v"]) or "").split(" Copyright")[0] or None,
        "h2load": _first_line(["h2load", "--version"]),
        "openssl": ssl.OPENSSL_VERSION,
        "loadavg_at_start": os.getloadavg(),
    }


# ------------------------------------------------------------------------ validation


def _request(conn: http.client.HTTPConnection, scenario: Scenario) -> Reply:
    conn.request(scenario.method, scenario.path, body=scenario.body, headers=scenario.headers)
    resp = conn.getresponse()
    return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


def fetch(server: Server, scenario: Scenario) -> Reply:
    """One request of ``scenario`` on a new connection (over TLS to a TLS instance)."""
    conn = server.connection(VALIDATE_TIMEOUT_S)
    try:
        return _request(conn, scenario)
    finally:
        conn.close()


def load_tool(scenario: Scenario) -> str:
    """The load generator of ``scenario`` as the report names it: 'wrk', 'wsload', 'h2load --h1', 'h2load -m16'."""
    if scenario.websocket:
        return "wsload"
    if not scenario.h2load:
        return "wrk"
    flags = ([] if scenario.http2 else ["--h1"]) + ([f"-m{scenario.streams}"] if scenario.streams > 1 else [])
    return " ".join(["h2load", *flags])


def validate_http2(server: Server, scenario: Scenario, lookup: WorldLookup | None, kept: Record) -> str | None:
    """``validate`` for an HTTP/2 scenario: two requests on one HTTP/2 connection (httpx, ALPN h2), each reply checked,
    and what the handshake settled in ``kept["tls"]``."""
    import httpx  # the HTTP/2 scenarios' checks only (httpx[http2] is in benchmarks/requirements.txt)

    assert server.tls is not None
    try:
        with httpx.Client(http1=False, http2=True, verify=ssl.create_default_context(cafile=str(server.tls.ca)),
                          timeout=VALIDATE_TIMEOUT_S) as client:  # fmt: skip
            responses = [
                client.request(
                    scenario.method, server.base_url + scenario.path, content=scenario.body, headers=scenario.headers
                )  # fmt: skip
                for _ in range(2)
            ]
            kept["tls"] = ssl_info(responses[-1].extensions["network_stream"].get_extra_info("ssl_object"))
    except httpx.HTTPError as exc:
        return f"request failed: {exc!r}"
    for response in responses:
        if response.http_version != "HTTP/2":
            return f"the server answered over {response.http_version}, not HTTP/2"
    replies = [Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content) for r in responses]
    return check_replies(replies, scenario, lookup)


def check_replies(replies: list[Reply], scenario: Scenario, lookup: WorldLookup | None) -> str | None:
    """The first thing wrong with ``replies`` to ``scenario`` (a status other than its own, or its check), or None."""
    assert scenario.check is not None
    for reply in replies:
        if reply.status != scenario.status:
            return f"HTTP {reply.status}: {reply.body[:120]!r}"
        problem = scenario.check(reply, lookup)
        if problem:
            return problem
    return None


def ssl_info(sock: ssl.SSLSocket | ssl.SSLObject | None) -> dict[str, Any] | None:
    """What a TLS handshake settled: version, cipher, ALPN (None without TLS)."""
    if sock is None:
        return None
    cipher = sock.cipher()
    return {"version": sock.version(), "cipher": cipher[0] if cipher else None, "alpn": sock.selected_alpn_protocol()}


def tls_session(conn: http.client.HTTPConnection) -> dict[str, Any] | None:
    """What the TLS handshake of an open connection settled (None for plain HTTP): version, cipher, ALPN."""
    return ssl_info(conn.sock) if isinstance(conn.sock, ssl.SSLSocket) else None


def tls_resumes(server: Server) -> bool | None:
    """Whether the server resumes a TLS session (a ticket or a cached session offered on a second connection, as
    wrk and h2load offer theirs when they reconnect), or None when that could not be found out."""
    assert server.tls is not None
    context = ssl.create_default_context(cafile=str(server.tls.ca))
    request = f"GET / HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nConnection: close\r\n\r\n".encode()
    session = None
    try:
        for _ in range(2):
            with (
                socket.create_connection((HOST, server.port), timeout=VALIDATE_TIMEOUT_S) as raw,
                context.wrap_socket(raw, server_hostname=HOST, session=session) as sock,
            ):
                sock.sendall(request)
                while sock.recv(65536):  # TLS 1.3 tickets come after the handshake: read up to the close
                    pass
                session = sock.session
                resumed = sock.session_reused
    except (OSError, ValueError):
        return None
    return resumed


def validate(server: Server, scenario: Scenario, lookup: WorldLookup | None, kept: Record | None = None) -> str | None:
    """Why one request of ``scenario`` got a wrong answer from ``server``, or None when it is right. The WebSocket
    scenario is checked by wsload: upgrade, a few echoes, the closing handshake. On a TLS instance, a keep-alive
    scenario gets a second request on the same connection (the first must leave it open), and what the handshake
    settled goes in ``kept["tls"]`` (version, cipher, ALPN; for a scenario that reconnects, whether the server
    resumes sessions)."""
    if scenario.websocket or scenario.check is None:
        return wsload.check(HOST, server.port, scenario.path, VALIDATE_TIMEOUT_S)
    kept = {} if kept is None else kept
    if scenario.http2:
        return validate_http2(server, scenario, lookup, kept)
    conn = server.connection(VALIDATE_TIMEOUT_S)
    try:
        conn.connect()
        info = tls_session(conn)
        replies = [_request(conn, scenario)]
        closing = "close" in scenario.headers.get("Connection", "")
        if info is not None:
            kept["tls"] = {**info, "resumes": tls_resumes(server)} if closing else info
        if server.tls and not closing:
            if conn.sock is None:
                return "the server closed the TLS connection after one keep-alive request"
            first = conn.sock
            replies.append(_request(conn, scenario))
            if conn.sock is not first:
                return "the second request on a keep-alive TLS connection needed a new connection"
    except (OSError, http.client.HTTPException) as exc:
        return f"request failed: {exc!r}"
    finally:
        conn.close()
    return check_replies(replies, scenario, lookup)


# ----------------------------------------------------------------------------- run


def run(settings: Settings, command: str) -> dict[str, Any]:
    """Run the benchmark; the servers and the database are gone when this returns or raises."""
    env = environment()
    # The driver itself (validation requests, the RSS sampler) stays off the server's CPU.
    os.sched_setaffinity(0, {LOAD_CPU})
    scenarios = [SCENARIOS[name] for name in settings.scenarios]
    labels = labels_for(settings.servers)
    specs = {label: SERVERS[name] for label, name in zip(labels, settings.servers, strict=True)}
    pairs = {s.name: [label for label in labels if s.name in specs[label].scenarios] for s in scenarios}
    n_pairs = sum(len(p) for p in pairs.values())
    n_load = sum(len(pairs[s.name]) for s in scenarios if not s.memory)  # memory: a few seconds per run
    load_min = n_load * (settings.warmup_s + settings.runs * settings.duration_s) / 60
    log(
        f"{n_pairs} (server, scenario) pairs: {settings.warmup_s} s warm-up + {settings.runs} x {settings.duration_s} s"
        f" each, about {load_min:.1f} min of load; wrk -t{settings.threads} -c{settings.connections} on CPU "
        f"{LOAD_CPU}, servers on CPU {SERVER_CPU}; load average {env['loadavg_at_start'][0]:.2f}"
        + (f"; ws: wsload, {settings.ws_window} messages in flight per connection" if "ws" in pairs else "")
        + (f"; memory: {settings.memory_connections:,} idle connections per run" if "memory" in pairs else "")
    )
    results: dict[str, dict[str, Record]] = {s.name: {label: {} for label in pairs[s.name]} for s in scenarios}
    # One instance per (label, TLS or not) that has a pair to serve: a server is started for TLS only when a TLS
    # scenario it serves is selected, and not at all when it serves none of the selected scenarios.
    # The memory scenario starts instances of its own (a fresh one per run, see _measure_memory).
    needed = {(label, s.tls) for s in scenarios if not s.memory for label in pairs[s.name]}
    servers: list[Server] = []
    if any(s.memory for s in scenarios):
        memory.raise_nofile(settings.memory_connections)  # before any server starts: they inherit it

    with tempfile.TemporaryDirectory(prefix="tiercel-bench-") as tmp, contextlib.ExitStack() as stack:
        postgres = None
        if any(s.db for s in scenarios):
            postgres = stack.enter_context(Postgres())
            log(f"PostgreSQL on {HOST}:{postgres.port} (CPU {LOAD_CPU})")
        tls = make_tls_files(Path(tmp) / "tls") if any(s.tls for s in scenarios) else None
        stack.callback(stop_all, servers)
        for label, spec in specs.items():
            for use_tls in (False, True):
                if (label, use_tls) in needed:
                    workdir = Path(tmp) / (label.replace("#", "-") + ("-tls" if use_tls else ""))
                    dsn = postgres.dsn if postgres else None
                    servers.append(Server(label, spec, workdir, dsn, tls if use_tls else None))
        memory_labels = {label for s in scenarios if s.memory for label in pairs[s.name]}
        for label in specs.keys() - {label for label, _ in needed} - memory_labels:
            log(f"{label}: serves none of the selected scenarios; not started")
        _start(servers)
        for scenario in scenarios:
            if not scenario.memory:
                _validate(scenario, servers, results[scenario.name], postgres.world_numbers if postgres else None)
        for scenario in scenarios:
            if scenario.memory:
                _measure_memory(scenario, specs, results[scenario.name], settings, Path(tmp) / "memory")
            else:
                _measure_scenario(scenario, servers, results[scenario.name], settings)

    return {
        "command": command,
        "environment": env,
        "settings": {
            **asdict(settings),
            "server_cpu": SERVER_CPU,
            "load_cpu": LOAD_CPU,
            "db_pool": DB_POOL,
            "wrk_timeout_s": WRK_TIMEOUT_S,
        },
        "servers": _server_records(servers),
        "scenarios": {
            s.name: {
                "method": s.method,
                "path": s.path,
                "summary": s.summary,
                "db": s.db,
                "websocket": s.websocket,
                "tls": s.tls,
                "memory": s.memory,
                "load": "benchmarks/memory.py" if s.memory else load_tool(s),
            }
            for s in scenarios
        },
        "results": results,
    }


def _portable(argv: list[str]) -> list[str]:
    """A server's argv as the results record it: paths under the repository relative to it, this interpreter as
    `python`, and paths in the run's temporary directory as `<run>/...`, so no machine's paths are kept."""
    root, tmp = str(REPO_ROOT) + os.sep, tempfile.gettempdir() + os.sep
    out = []
    for arg in argv:
        if arg == sys.executable:
            arg = "python"
        elif arg.startswith(root):
            arg = arg[len(root) :]
        elif arg.startswith(tmp):  # <tmp>/tiercel-bench-1a2b3c/nginx/nginx.conf -> <run>/nginx/nginx.conf
            arg = "<run>/" + arg[len(tmp) :].partition("/")[2]
        out.append(arg)
    return out


def _server_records(servers: list[Server]) -> dict[str, Record]:
    """Per label: name, summary, command and failure (of the plain instance); ``tls``: those of the TLS one."""
    records: dict[str, Record] = {}
    for server in servers:
        record = records.setdefault(
            server.label, {"name": server.spec.name, "summary": server.spec.summary, "command": [], "failure": None}
        )
        if server.tls:
            record["tls"] = {"command": _portable(server.argv), "failure": server.failure}
        else:
            record.update(command=_portable(server.argv), failure=server.failure)
    return records


def _start(servers: list[Server]) -> None:
    """Start every server at once, then wait for each to answer (a failure is kept in ``server.failure``)."""
    for server in servers:
        server.start()
    for server in servers:
        ready = server.wait_ready()
        log(f"{server.name}: ready on {server.base_url}" if ready else f"{server.name}: FAILED {server.failure}")


def _serving(scenario: Scenario, servers: list[Server], entries: dict[str, Record]) -> list[Server]:
    """The instances that serve ``scenario``: one per label with a pair, the TLS one for a TLS scenario."""
    return [s for s in servers if s.label in entries and bool(s.tls) == scenario.tls]


def _validate(
    scenario: Scenario, servers: list[Server], entries: dict[str, Record], lookup: WorldLookup | None
) -> None:
    """One checked request per server serving ``scenario``; the reason of a failure goes in its entry."""
    for server in _serving(scenario, servers, entries):
        kept: Record = {}
        failure = f"server {server.failure}" if server.failure else validate(server, scenario, lookup, kept)
        entries[server.label].update(kept, validation=failure)
        if failure:
            log(f"{scenario.name:<15} {server.label:<14} FAILED validation: {failure}")


def _measure_scenario(
    scenario: Scenario, servers: list[Server], entries: dict[str, Record], settings: Settings
) -> None:
    """A warm-up per server, then the alternating measured rounds, then the medians."""
    measured = [s for s in _serving(scenario, servers, entries) if not entries[s.label]["validation"]]
    unit = "msg" if scenario.websocket else "req"
    for server in measured:
        entry = entries[server.label]
        entry["runs"] = []
        if settings.warmup_s:
            entry["warmup"] = _measure(server, scenario, settings, settings.warmup_s)
            log(f"{scenario.name:<15} {server.label:<14} warm-up {describe(entry['warmup'], unit)}")
    for round_no in range(1, settings.runs + 1):
        for server in measured:
            record = _measure(server, scenario, settings, settings.duration_s)
            record["round"] = round_no
            entries[server.label]["runs"].append(record)
            log(f"{scenario.name:<15} {server.label:<14} [{round_no}/{settings.runs}] {describe(record, unit)}")
    for server in measured:
        entries[server.label]["median"] = summarize(entries[server.label]["runs"])


def _measure_memory(
    scenario: Scenario, specs: dict[str, ServerSpec], entries: dict[str, Record], settings: Settings, workdir: Path
) -> None:
    """Alternating rounds of one memory run per server, each on a fresh instance (started, validated, measured,
    stopped): memory a server freed after one run's connections could be reused by the next without showing in its
    RSS. The first instance's validation is the pair's."""

    def reply_check(status: int, headers: dict[str, str], body: bytes) -> str | None:
        return check_replies([Reply(status, headers, body)], scenario, None)

    for round_no in range(1, settings.runs + 1):
        for label in [label for label in entries if entries[label].get("validation", None) is None]:
            spec = specs[label]
            server = Server(label, spec, workdir / f"{label.replace('#', '-')}-{round_no}", None, env=spec.memory_env)
            entry = entries[label]
            try:
                server.start()
                failure = f"server {server.failure}" if not server.wait_ready() else validate(server, scenario, None)
                if round_no == 1:
                    entry.update(validation=failure, runs=[], memory_env=spec.memory_env)
                if failure:
                    log(f"{scenario.name:<15} {label:<14} FAILED validation: {failure}")
                    if round_no > 1:
                        entry["runs"].append({"ok": False, "failure": failure, "round": round_no})
                    continue
                record = memory.run_memory(server.pid, HOST, server.port, settings.memory_connections, reply_check)
                if not server.alive():
                    record.update(ok=False, failure=f"server {server.failure}")
            finally:
                stop_all([server])
            record["round"] = round_no
            entry["runs"].append(record)
            log(f"{scenario.name:<15} {label:<14} [{round_no}/{settings.runs}] {memory.describe(record)}")
    for entry in entries.values():
        if not entry.get("validation"):
            entry["median"] = summarize(entry.get("runs", []))


def _measure(server: Server, scenario: Scenario, settings: Settings, duration: int) -> Record:
    """One wrk (or wsload, or h2load) run against ``server``; a server that has died gets a failed record instead."""
    if not server.alive():
        return {"ok": False, "failure": f"server {server.failure}"}
    if scenario.websocket:
        url = f"ws://{HOST}:{server.port}{scenario.path}"
        record = run_wsload(server.pid, url, duration, settings.connections, settings.ws_window)
    elif scenario.h2load:
        load = Load(
            server.base_url + scenario.path, headers=scenario.headers, h1=not scenario.http2, streams=scenario.streams
        )
        log_file = server.workdir / "h2load-requests.log"  # per-request times, for the percentiles; overwritten
        record = run_h2load(server.pid, load, duration, settings.connections, settings.threads, log_file)
    else:
        record = run_wrk(
            server.pid, Load(server.base_url + scenario.path, scenario.wrk_script), duration, settings.connections,
            settings.threads,
        )  # fmt: skip
    if not server.alive():
        record.update(ok=False, failure=f"server {server.failure}")
    return record
