"""The whole benchmark: PostgreSQL (if a database scenario is selected), every server up, every (server,
scenario) pair validated, then per scenario a warm-up per server and alternating measured rounds.

Results are one JSON-able dict: environment, settings, each server's command, and per scenario and server the
validation outcome, the warm-up, every measured run and the medians (see report.py for how it is shown).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import wsload
from benchmarks.infra import HOST, Postgres, nginx_version, postgres_version
from benchmarks.measure import (
    LOAD_CPU,
    SERVER_CPU,
    WRK_TIMEOUT_S,
    Load,
    Record,
    describe,
    run_wrk,
    run_wsload,
    summarize,
)
from benchmarks.scenarios import SCENARIOS, Reply, Scenario, WorldLookup
from benchmarks.servers import DB_POOL, SERVERS, Server, stop_all

PACKAGES = (
    "tiercel", "robyn", "granian", "socketify", "fastapi", "starlette", "uvicorn", "uvloop", "httptools",
    "orjson", "asyncpg", "jinja2", "matplotlib",
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
        "loadavg_at_start": os.getloadavg(),
    }


# ------------------------------------------------------------------------ validation


def fetch(server: Server, scenario: Scenario) -> Reply:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=VALIDATE_TIMEOUT_S)
    try:
        conn.request(scenario.method, scenario.path, body=scenario.body, headers=scenario.headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def validate(server: Server, scenario: Scenario, lookup: WorldLookup | None) -> str | None:
    """Why one request of ``scenario`` got a wrong answer from ``server``, or None when it is right.
    The WebSocket scenario is checked by wsload: upgrade, a few echoes, the closing handshake."""
    if scenario.websocket or scenario.check is None:
        return wsload.check(HOST, server.port, scenario.path, VALIDATE_TIMEOUT_S)
    try:
        reply = fetch(server, scenario)
    except (OSError, http.client.HTTPException) as exc:
        return f"request failed: {exc!r}"
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:120]!r}"
    return scenario.check(reply, lookup)


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
    load_min = n_pairs * (settings.warmup_s + settings.runs * settings.duration_s) / 60
    log(
        f"{n_pairs} (server, scenario) pairs: {settings.warmup_s} s warm-up + {settings.runs} x {settings.duration_s} s"
        f" each, about {load_min:.1f} min of load; wrk -t{settings.threads} -c{settings.connections} on CPU "
        f"{LOAD_CPU}, servers on CPU {SERVER_CPU}; load average {env['loadavg_at_start'][0]:.2f}"
        + (f"; ws: wsload, {settings.ws_window} messages in flight per connection" if "ws" in pairs else "")
    )
    results: dict[str, dict[str, Record]] = {s.name: {label: {} for label in pairs[s.name]} for s in scenarios}
    servers: list[Server] = []

    with tempfile.TemporaryDirectory(prefix="tiercel-bench-") as tmp, contextlib.ExitStack() as stack:
        postgres = None
        if any(s.db for s in scenarios):
            postgres = stack.enter_context(Postgres())
            log(f"PostgreSQL on {HOST}:{postgres.port} (CPU {LOAD_CPU})")
        stack.callback(stop_all, servers)
        for label, spec in specs.items():
            servers.append(Server(label, spec, Path(tmp) / label.replace("#", "-"), postgres.dsn if postgres else None))
        _start(servers)
        for scenario in scenarios:
            _validate(scenario, servers, results[scenario.name], postgres.world_numbers if postgres else None)
        for scenario in scenarios:
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
        "servers": {
            s.label: {"name": s.spec.name, "summary": s.spec.summary, "command": s.argv, "failure": s.failure}
            for s in servers
        },
        "scenarios": {
            s.name: {"method": s.method, "path": s.path, "summary": s.summary, "db": s.db, "websocket": s.websocket}
            for s in scenarios
        },
        "results": results,
    }


def _start(servers: list[Server]) -> None:
    """Start every server at once, then wait for each to answer (a failure is kept in ``server.failure``)."""
    for server in servers:
        server.start()
    for server in servers:
        ready = server.wait_ready()
        log(f"{server.label}: ready on {server.base_url}" if ready else f"{server.label}: FAILED {server.failure}")


def _validate(
    scenario: Scenario, servers: list[Server], entries: dict[str, Record], lookup: WorldLookup | None
) -> None:
    """One checked request per server serving ``scenario``; the reason of a failure goes in its entry."""
    for server in servers:
        if server.label in entries:
            failure = f"server {server.failure}" if server.failure else validate(server, scenario, lookup)
            entries[server.label]["validation"] = failure
            if failure:
                log(f"{scenario.name:<10} {server.label:<14} FAILED validation: {failure}")


def _measure_scenario(
    scenario: Scenario, servers: list[Server], entries: dict[str, Record], settings: Settings
) -> None:
    """A warm-up per server, then the alternating measured rounds, then the medians."""
    measured = [s for s in servers if s.label in entries and not entries[s.label]["validation"]]
    unit = "msg" if scenario.websocket else "req"
    for server in measured:
        entry = entries[server.label]
        entry["runs"] = []
        if settings.warmup_s:
            entry["warmup"] = _measure(server, scenario, settings, settings.warmup_s)
            log(f"{scenario.name:<10} {server.label:<14} warm-up {describe(entry['warmup'], unit)}")
    for round_no in range(1, settings.runs + 1):
        for server in measured:
            record = _measure(server, scenario, settings, settings.duration_s)
            record["round"] = round_no
            entries[server.label]["runs"].append(record)
            log(f"{scenario.name:<10} {server.label:<14} [{round_no}/{settings.runs}] {describe(record, unit)}")
    for server in measured:
        entries[server.label]["median"] = summarize(entries[server.label]["runs"])


def _measure(server: Server, scenario: Scenario, settings: Settings, duration: int) -> Record:
    """One wrk (or wsload) run against ``server``; a server that has died gets a failed record instead."""
    if not server.alive():
        return {"ok": False, "failure": f"server {server.failure}"}
    if scenario.websocket:
        url = f"ws://{HOST}:{server.port}{scenario.path}"
        record = run_wsload(server.pid, url, duration, settings.connections, settings.ws_window)
    else:
        record = run_wrk(
            server.pid, Load(server.base_url + scenario.path, scenario.wrk_script), duration, settings.connections,
            settings.threads,
        )  # fmt: skip
    if not server.alive():
        record.update(ok=False, failure=f"server {server.failure}")
    return record
