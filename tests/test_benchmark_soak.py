"""The benchmark's `soak` command (benchmarks/soak.py, soakload.py, wrk_soak.lua) against the real Tiercel soak app,
for a second or two instead of minutes: the mix validates, wrk's answers are matched (and a wrong one is caught),
soakload's abandoned requests and WebSocket sessions go through (and a refused connection is an error), and a whole
short soak ends with no errors and the fds back where they started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from test_benchmark_app import running  # noqa: E402

from benchmarks import soak, soakload  # noqa: E402
from benchmarks.__main__ import parse_args  # noqa: E402
from benchmarks.infra import HOST, free_port  # noqa: E402
from benchmarks.scenarios import Reply  # noqa: E402
from benchmarks.servers import Server  # noqa: E402

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (benchmarks/setup.sh)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(Server("tiercel", soak.SPEC, tmp_path_factory.mktemp("soak") / "plain", None))


@pytest.fixture(scope="module")
def replies(server: Server) -> dict[str, Reply]:
    replies, problem = soak.validate_mix(server)
    assert problem is None
    return replies


def test_arguments() -> None:
    args = parse_args(["soak"])
    assert (args.command, args.duration, args.warmup, args.tls, args.json) == ("soak", 60, 5, True, None)
    args = parse_args(["soak", "--duration", "300", "--warmup", "0", "--no-tls", "--json", "out.json"])
    assert (args.duration, args.warmup, args.tls, args.json) == (300, 0, False, Path("out.json"))
    with pytest.raises(SystemExit):
        parse_args(["soak", "--duration", "0"])


def test_every_kind_of_the_mix_validates(replies: dict[str, Reply]) -> None:
    assert {kind.name: replies[kind.name].status for kind in soak.MIX} == {
        "plain": 200, "json": 200, "post_1k": 200, "not_found": 404, "error_500": 500, "stream": 200,
    }  # fmt: skip
    assert replies["stream"].headers.get("transfer-encoding") == "chunked"


def wrk_mix(server: Server, mix_file: Path) -> tuple[dict[str, int], dict[str, int]]:
    argv = ["wrk", "-t1", "-c4", "-d1s", "-s", str(soak.WRK_SOAK), server.base_url + "/", "--", str(mix_file)]
    proc = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)
    return soak.parse_wrk_soak(proc.stdout)


@needs_wrk
def test_wrk_matches_every_answer(server: Server, replies: dict[str, Reply], tmp_path: Path) -> None:
    soak.write_mix(tmp_path / "mix", replies)
    counts, errors = wrk_mix(server, tmp_path / "mix")
    assert set(counts) == {kind.name for kind in soak.MIX}
    assert min(counts.values()) > 10, counts
    assert not any(errors.values()), errors


@needs_wrk
def test_wrk_counts_an_answer_that_differs(server: Server, replies: dict[str, Reply], tmp_path: Path) -> None:
    """The mix file expects another JSON body: every real JSON answer is unexpected, the others still match."""
    wrong = dict(replies, json=Reply(200, {}, b'{"message":"Hello, Wrld!"}'))
    soak.write_mix(tmp_path / "mix", wrong)
    counts, errors = wrk_mix(server, tmp_path / "mix")
    assert counts["json"] == 0 and counts["plain"] > 10
    unexpected = [(what, n) for what, n in errors.items() if what.startswith("unexpected answer")]
    assert len(unexpected) == 1 and unexpected[0][1] > 10
    assert "Hello, World!" in unexpected[0][0]  # the first unexpected answer is quoted


def test_soakload_abandons_requests_and_runs_websocket_sessions(server: Server) -> None:
    result = soakload.run(HOST, server.port, duration=1.0, abandon_rate=20, ws_rate=10)
    counts = result["counts"]
    assert 0 < counts["abandoned"] <= 20 and 0 < counts["cut_post"] <= 20 and 0 < counts["ws_session"] <= 10, counts
    assert result["errors"] == dict.fromkeys(soakload.KINDS, 0) and result["first_error"] is None


def test_soakload_counts_refused_connections() -> None:
    result = soakload.run(HOST, free_port(), duration=0.2, abandon_rate=10, ws_rate=10)
    assert result["errors"] == result["counts"] and min(result["counts"].values()) > 0
    assert "ConnectionRefusedError" in str(result["first_error"])


def test_server_figures_from_proc(server: Server) -> None:
    memory = soak.memory_kib(server.pid)
    assert memory["VmHWM"] >= memory["VmRSS"] > 0
    assert soak.settled_fds(server.pid, target=soak.fd_count(server.pid)) == soak.fd_count(server.pid)


def test_failed() -> None:
    clean = {"errors": {}, "warmup": {"errors": {}}, "servers": {"tiercel": {"fds_start": 21, "fds_end": 21}}}
    assert not soak.failed(clean)
    assert soak.failed({**clean, "errors": {"wrk read": 1}})
    assert soak.failed({**clean, "warmup": {"errors": {"ws_session": 1}}})
    assert soak.failed({**clean, "servers": {"tiercel": {"fds_start": 21, "fds_end": 22}}})


@needs_wrk
@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load not installed (benchmarks/setup.sh)")
def test_a_short_soak_is_clean() -> None:
    """The whole command's work for 2 s (TLS and HTTP/2 included): no errors, fds back, the report says ok."""
    affinity = os.sched_getaffinity(0)
    try:
        result = soak.soak(duration=2, warmup=0, use_tls=True)
    finally:
        os.sched_setaffinity(0, affinity)  # soak() pins the driver to the load CPU
    assert "setup" not in result, result
    assert result["errors"] == {}, result["errors"]
    kinds = {kind.name for kind in soak.MIX} | {"ws_echo", "https_keepalive", "h2_stream", "https_handshake"}
    assert kinds | set(soakload.KINDS) == set(result["counts"]) and min(result["counts"].values()) > 0
    for entry in result["servers"].values():
        assert entry["fds_end"] == entry["fds_start"]
        assert entry["rss_peak_kib"] >= entry["rss_end_kib"] > 0
        assert entry["rss_trace_kib"] and entry["rss_mid_kib"] in entry["rss_trace_kib"]
    assert soak.describe(result).endswith("soak: ok: no errors, fds back to their start count")
