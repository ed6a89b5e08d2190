"""The benchmark's `memory` scenario (benchmarks/memory.py) against the real Tiercel bench app, with a few hundred
connections instead of 10,000: the reply parsing, a clean run, a server that closes idle connections during the hold
(the run must fail, not be measured with fewer), and the whole `run --scenarios memory` path into its report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from test_benchmark_app import running  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.__main__ import parse_args  # noqa: E402
from benchmarks.infra import HOST  # noqa: E402
from benchmarks.memory import IdleError, parse_reply, run_memory  # noqa: E402
from benchmarks.runner import Settings, run  # noqa: E402
from benchmarks.servers import SERVERS, Server, ServerSpec  # noqa: E402

CONNECTIONS = 300


def hello(status: int, headers: dict[str, str], body: bytes) -> str | None:
    return None if (status, body) == (200, b"Hello, World!") else f"{status} {body!r}"


def running_spec(spec: ServerSpec, workdir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    yield from running(Server(spec.name, spec, workdir, None, env=env))


@pytest.fixture
def tiercel(tmp_path: Path) -> Iterator[Server]:
    yield from running_spec(SERVERS["tiercel"], tmp_path / "tiercel")


def test_parse_reply() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\n"
    assert parse_reply(head + b"hel") is None
    assert parse_reply(head + b"hello") == (200, {"content-length": "5", "x-a": "b"}, b"hello")
    assert parse_reply(b"HTTP/1.1 404 Not") is None
    with pytest.raises(IdleError, match="after the reply"):
        parse_reply(head + b"hello!")
    with pytest.raises(IdleError, match="without Content-Length"):
        parse_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(IdleError, match="status line"):
        parse_reply(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_idle_connections_cost_the_server_memory(tiercel: Server) -> None:
    record = run_memory(tiercel.pid, HOST, tiercel.port, CONNECTIONS, hello)
    assert record["ok"], record
    assert record["connections"] == CONNECTIONS and record["closed_early"] == 0
    assert record["rss_held_kib"] > record["rss_before_kib"] > 0
    assert record["bytes_per_conn"] == (record["rss_held_kib"] - record["rss_before_kib"]) * 1024 / CONNECTIONS


def test_a_wrong_reply_fails_the_run(tiercel: Server) -> None:
    record = run_memory(tiercel.pid, HOST, tiercel.port, CONNECTIONS, lambda *reply: "not the one")
    assert not record["ok"]
    assert record["failure"] == "wrong reply: not the one"


def test_connections_closed_during_the_hold_fail_the_run(tmp_path: Path) -> None:
    """A keep-alive timeout shorter than the hold: the server closes them all before the RSS is read."""
    short = {"TIERCEL_TIMEOUT_KEEP_ALIVE": "0.2"}
    for server in running_spec(SERVERS["tiercel"], tmp_path / "short-keep-alive", short):
        record = run_memory(server.pid, HOST, server.port, CONNECTIONS, hello)
        assert not record["ok"]
        assert record["closed_early"] == CONNECTIONS
        assert f"closed (or wrote on) {CONNECTIONS} of {CONNECTIONS}" in record["failure"]


def test_arguments() -> None:
    args = parse_args(["run", "--scenarios", "memory", "--memory-connections", "500", "--servers", "tiercel,nginx"])
    assert (args.scenarios, args.servers, args.memory_connections) == (["memory"], ["tiercel", "nginx"], 500)
    assert parse_args(["run"]).memory_connections == 10_000
    with pytest.raises(SystemExit):
        parse_args(["run", "--scenarios", "memory", "--memory-connections", "0"])


def test_run_reports_bytes_per_connection() -> None:
    """`run --scenarios memory` end to end: a fresh Tiercel per round, two rounds, the medians and the report."""
    settings = Settings(
        servers=["tiercel"], scenarios=["memory"], warmup_s=0, duration_s=1, runs=2, connections=1, threads=1,
        ws_window=1, memory_connections=CONNECTIONS,
    )  # fmt: skip
    affinity = os.sched_getaffinity(0)
    try:
        results = run(settings, "test")
    finally:
        os.sched_setaffinity(0, affinity)  # run() pins the driver to the load CPU
    entry = results["results"]["memory"]["tiercel"]
    assert entry["validation"] is None
    assert [r["ok"] for r in entry["runs"]] == [True, True], entry["runs"]
    median = entry["median"]
    assert median["connections"] == CONNECTIONS and median["bytes_per_conn"] > 0
    text = report.markdown(results, None)
    assert "## memory" in text and "![" not in text and "CPU µs per request" not in text
    assert f"| tiercel | {CONNECTIONS} | {median['bytes_per_conn']:,.0f} |" in text
