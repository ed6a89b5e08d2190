"""The benchmark's Tiercel app (benchmarks/apps/tiercel_bench.py) passes every scenario's check, against a real
PostgreSQL cluster started for this module: the same validation `python -m benchmarks run` does before it
measures, plus the database scenarios under concurrent requests and a clean shutdown that closes the pool.
The validate scenarios are served with pydantic models (the `tiercel` server) and msgspec Structs (`tiercel-msgspec`).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from benchmarks.infra import Postgres, make_tls_files  # noqa: E402
from benchmarks.runner import fetch, validate  # noqa: E402
from benchmarks.scenarios import SCENARIOS  # noqa: E402
from benchmarks.servers import SERVERS, Server  # noqa: E402

DB_SCENARIOS = [s for s in SCENARIOS.values() if s.db]


def check_models_reply(server: Server, name: str) -> None:
    assert validate(server, SCENARIOS[name], None) is None


@pytest.fixture(scope="module")
def postgres():
    with Postgres() as pg:
        yield pg


def running(server: Server) -> Iterator[Server]:
    """Starts `server`, yields it once it answers, and kills it afterwards."""
    server.start()
    try:
        assert server.wait_ready(), server.failure
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


@pytest.fixture(scope="module")
def bench_server(postgres, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench") / "tiercel"
    yield from running(Server("tiercel", SERVERS["tiercel"], workdir, postgres.dsn))


@pytest.fixture(scope="module")
def tls_bench_server(tmp_path_factory):
    """The app's TLS instance, as the runner starts it for the TLS scenarios: the run's certificate in BENCH_TLS_*."""
    root = tmp_path_factory.mktemp("bench-tls")
    tls = make_tls_files(root / "certs")
    yield from running(Server("tiercel", SERVERS["tiercel"], root / "tiercel", None, tls=tls))


@pytest.mark.parametrize("name", [name for name, s in SCENARIOS.items() if not s.tls and not s.models])  # docs too
def test_scenario_reply_is_valid(bench_server, postgres, name):
    assert validate(bench_server, SCENARIOS[name], postgres.world_numbers) is None


@pytest.fixture(scope="module")
def msgspec_bench_server(tmp_path_factory):
    """The `tiercel-msgspec` server: the same app with msgspec Structs as the validate models."""
    workdir = tmp_path_factory.mktemp("bench-msgspec") / "tiercel-msgspec"
    yield from running(Server("tiercel-msgspec", SERVERS["tiercel-msgspec"], workdir, None))


@pytest.mark.parametrize("name", [name for name, s in SCENARIOS.items() if s.models])
def test_models_scenario_reply(bench_server, msgspec_bench_server, name):
    check_models_reply(bench_server, name)
    check_models_reply(msgspec_bench_server, name)


@pytest.mark.parametrize("name", [name for name, s in SCENARIOS.items() if s.tls])
def test_tls_scenario_reply_is_valid(tls_bench_server, name):
    """Validated as the runner does: over TLS, HTTP/1.1 keep-alive or reconnecting, or HTTP/2 by ALPN."""
    scenario = SCENARIOS[name]
    kept: dict = {}
    assert validate(tls_bench_server, scenario, None, kept) is None
    assert kept["tls"]["version"] == "TLSv1.3"
    if scenario.http2:
        assert kept["tls"]["alpn"] == "h2"


def test_database_scenarios_under_concurrency(bench_server, postgres):
    """48 clients at once on a pool of 16: every reply is a valid one (the pool queues, nothing fails). Concurrent
    updates may overwrite each other's rows, so their replies are checked for shape only (as `queries` replies)."""
    jobs = [s for s in DB_SCENARIOS for _ in range(12)]
    with ThreadPoolExecutor(48) as pool:
        replies = list(pool.map(lambda s: (s, fetch(bench_server, s)), jobs))
    for scenario, reply in replies:
        assert reply.status == 200, (scenario.name, reply.body[:200])
        check = SCENARIOS["queries"].check if scenario.name == "updates" else scenario.check
        assert check(reply, postgres.world_numbers) is None, scenario.name


def test_queries_parameter_rules(bench_server):
    """TechEmpower's rule for `queries`: missing or not an integer -> 1, otherwise clamped to 1..500."""
    import json

    for query, count in (("", 1), ("?queries=", 1), ("?queries=abc", 1), ("?queries=0", 1), ("?queries=3", 3),
                         ("?queries=501", 500)):  # fmt: skip
        reply = fetch(bench_server, dataclasses.replace(SCENARIOS["queries"], path="/queries" + query))
        assert reply.status == 200
        assert len(json.loads(reply.body)) == count, query


def test_sigint_runs_the_shutdown_handler_and_exits_cleanly(bench_server):
    """Last in the module: stopping the app closes the asyncpg pool through its shutdown handler."""
    proc = bench_server.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    log = bench_server.log_tail(50)
    assert "Traceback" not in log, log
    assert "stopped" in log
