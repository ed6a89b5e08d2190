"""Helpers shared by the peer benchmark apps (see /tmp/shared_notes/bench_contract.md): the constant bodies, the
environment (BENCH_DB_DSN, BENCH_DB_POOL), the `queries` parameter rule, and the database work of the TechEmpower
scenarios, so every peer sends the same SQL through asyncpg and renders the same Jinja2 template. Nothing here knows
about a web framework; each app keeps its own routing, request parsing and response building.

Import it as `from . import bench_common` (module target, e.g. `benchmarks.apps.fastapi_bench:app`) or as
`import bench_common` (the app run as a script, whose directory is then sys.path[0]).
"""

from __future__ import annotations

import os
import random
from operator import itemgetter
from pathlib import Path
from typing import Any

import asyncpg
from jinja2 import Environment, FileSystemLoader

APPS_DIR = Path(__file__).resolve().parent

HELLO = "Hello, World!"
HELLO_BYTES = HELLO.encode()
BIG_BODY = b"x" * 65536  # the `big` scenario's body, built once at import
# The `file` scenario: a 1 MiB file, written (once) by static_dir(); SSE_EVENTS events for the `sse` scenario.
FILE_NAME = "1m.bin"
FILE_BYTES = bytes(i % 251 for i in range(1 << 20))
SSE_EVENTS = 10_000
# The soak's /stream (apps/tiercel_soak.py): 16 chunks of 1 KiB, each starting with its number.
STREAM_CHUNKS = [f"chunk {i:02d} ".encode().ljust(1024, b"x") for i in range(16)]


def static_dir() -> str:
    """The directory holding FILE_NAME (env BENCH_STATIC_DIR, else build/bench-static), created when missing."""
    directory = Path(os.environ.get("BENCH_STATIC_DIR") or APPS_DIR.parent.parent / "build" / "bench-static")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    if not path.exists() or path.stat().st_size != len(FILE_BYTES):
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(FILE_BYTES)
        tmp.replace(path)
    return str(directory)


MIN_QUERIES, MAX_QUERIES = 1, 500
WORLD_ROWS = 10000
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
UPDATE_WORLD = "UPDATE world SET randomnumber = $2 WHERE id = $1"

# Autoescaping on, compiled once at import; every peer renders this one template object.
FORTUNES_TEMPLATE = Environment(loader=FileSystemLoader(APPS_DIR), autoescape=True).get_template("fortunes.html")


def queries_count(raw: str | bytes | None) -> int:
    """The `queries` query parameter: missing or not an integer -> 1, otherwise clamped to 1..500."""
    try:
        count = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MIN_QUERIES
    return min(max(count, MIN_QUERIES), MAX_QUERIES)


def db_dsn() -> str | None:
    """BENCH_DB_DSN, or None when the database scenarios are off."""
    return os.environ.get("BENCH_DB_DSN") or None


def db_pool_size() -> int:
    """BENCH_DB_POOL (default 16): both the minimum and the maximum size of every peer's pool."""
    return int(os.environ.get("BENCH_DB_POOL", "16"))


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset hook: the apps change no session state (no SET, LISTEN, advisory locks or cursors)."""


async def create_pool() -> asyncpg.Pool | None:
    """A full-size asyncpg pool on the running event loop, or None when BENCH_DB_DSN is unset.

    By default asyncpg sends `RESET ALL; UNLISTEN *; ...` to the server each time a connection goes back to the pool:
    one more round trip per request. The apps change no session state, so the pool uses asyncpg's documented `reset=`
    hook to skip it (an open transaction is still rolled back by asyncpg itself). Every peer shares this pool setup."""
    dsn = db_dsn()
    if dsn is None:
        return None
    size = db_pool_size()
    return await asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=_keep_session)


def _world_ids(count: int) -> list[int]:
    return random.sample(range(1, WORLD_ROWS + 1), count)


async def fetch_world(pool: asyncpg.Pool) -> dict[str, int]:
    """`db`: one random World row as {"id": N, "randomNumber": M}."""
    row_id = random.randint(1, WORLD_ROWS)
    return {"id": row_id, "randomNumber": await pool.fetchval(SELECT_WORLD, row_id, column=1)}


async def fetch_worlds(pool: asyncpg.Pool, count: int) -> list[dict[str, int]]:
    """`queries`: `count` random World rows, one SELECT each, on one pooled connection."""
    async with pool.acquire() as conn:
        statement = await conn.prepare(SELECT_WORLD)
        return [
            {"id": row_id, "randomNumber": await statement.fetchval(row_id, column=1)} for row_id in _world_ids(count)
        ]


async def update_worlds(pool: asyncpg.Pool, count: int) -> list[dict[str, int]]:
    """`updates`: read `count` random rows (one SELECT each), give each a new random number 1..10000, write them all
    back with one executemany UPDATE (atomic in asyncpg; ids sorted so concurrent batches never deadlock)."""
    async with pool.acquire() as conn:
        statement = await conn.prepare(SELECT_WORLD)
        worlds = []
        for row_id in _world_ids(count):
            await statement.fetchval(row_id, column=1)  # the old number is read, then replaced
            worlds.append({"id": row_id, "randomNumber": random.randint(1, WORLD_ROWS)})
        await conn.executemany(UPDATE_WORLD, sorted((w["id"], w["randomNumber"]) for w in worlds))
    return worlds


async def fetch_fortunes(pool: asyncpg.Pool) -> list[Any]:
    """`fortunes`: every Fortune row as (id, message) records."""
    return await pool.fetch(SELECT_FORTUNES)


def render_fortunes(rows: list[Any]) -> str:
    """The fortunes page: the rows plus the one added at request time, sorted by message, HTML-escaped."""
    fortunes = [tuple(row) for row in rows]
    fortunes.append(ADDITIONAL_FORTUNE)
    fortunes.sort(key=itemgetter(1))
    return FORTUNES_TEMPLATE.render(fortunes=fortunes)
