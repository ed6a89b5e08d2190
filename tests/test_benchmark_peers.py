"""The peer apps on uvicorn that the test dependencies cover (FastAPI, Litestar: benchmarks/apps/fastapi_bench.py,
litestar_bench.py), and the raw ASGI app and the FastAPI one served by Tiercel's CLI, pass the check of every
plain-HTTP scenario they serve, against a real PostgreSQL cluster started for this module, as `python -m benchmarks
run` validates them before measuring. And a short run of a validate scenario end to end: measured for Litestar and
Tiercel (every answer a 422, which wrk must not count as errors).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from test_benchmark_app import running  # noqa: E402

from benchmarks.infra import Postgres  # noqa: E402
from benchmarks.runner import Settings, run, validate  # noqa: E402
from benchmarks.scenarios import SCENARIOS  # noqa: E402
from benchmarks.servers import SERVERS, Server  # noqa: E402

PEERS = ("fastapi", "litestar", "tiercel-asgi", "tiercel-fastapi")  # the last two: ASGI apps on Tiercel's CLI
PAIRS = [(peer, name) for peer in PEERS for name in SERVERS[peer].scenarios if not SCENARIOS[name].tls]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with Postgres() as pg:
        yield pg


@pytest.fixture(scope="module")
def peers(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    root = tmp_path_factory.mktemp("peers")
    started: dict[str, Server] = {}
    runs = [running(Server(peer, SERVERS[peer], root / peer, postgres.dsn)) for peer in PEERS]
    try:
        for peer, gen in zip(PEERS, runs, strict=True):
            started[peer] = next(gen)
        yield started
    finally:
        for gen in runs:
            gen.close()  # kills the server


def test_litestar_serves_what_fastapi_serves() -> None:
    # but FastAPI's /openapi.json (Litestar serves its document elsewhere, /schema/openapi.json)
    docs = {name for name, s in SCENARIOS.items() if s.docs}
    assert set(SERVERS["litestar"].scenarios) == set(SERVERS["fastapi"].scenarios) - docs
    assert {"validate", "validate_invalid", "db", "middleware"} <= set(SERVERS["litestar"].scenarios)


@pytest.mark.parametrize(("peer", "name"), PAIRS)
def test_scenario_reply_is_valid(peers: dict[str, Server], postgres: Postgres, peer: str, name: str) -> None:
    assert validate(peers[peer], SCENARIOS[name], postgres.world_numbers) is None


def test_a_run_measures_422s_and_fails_only_the_pairs_that_fail_validation() -> None:
    settings = Settings(
        servers=["tiercel", "litestar"], scenarios=["plaintext", "validate_invalid"], warmup_s=0, duration_s=1, runs=1,
        connections=4, threads=1, ws_window=1,
    )  # fmt: skip
    affinity = os.sched_getaffinity(0)
    try:
        results = run(settings, "test")["results"]
    finally:
        os.sched_setaffinity(0, affinity)  # run() pins the driver to the load CPU
    for server in ("tiercel", "litestar"):
        assert results["plaintext"][server]["median"] is not None, results["plaintext"][server]
    litestar = results["validate_invalid"]["litestar"]
    assert [r["ok"] for r in litestar["runs"]] == [True], litestar["runs"]
    assert litestar["runs"][0]["requests"] > 0 and litestar["runs"][0]["errors"]["status"] == 0
    tiercel = results["validate_invalid"]["tiercel"]
    assert tiercel["validation"] is None and tiercel["median"] is not None, tiercel
    assert tiercel["runs"][0]["errors"]["status"] == 0
