"""Litestar benchmark app, written the way Litestar's docs write it, run by uvicorn with uvloop + httptools (the ASGI
server Litestar's docs and its `standard` extra name), one process, as the FastAPI peer.

Scenarios: plaintext, pipelined, json, path, query, post_json, middleware, async, big, memory, db, queries, fortunes,
updates, validate, validate_invalid. Not here (as for FastAPI): const (a Tiercel/Robyn route feature), file, sse, ws.

Handlers are `async def` (Litestar runs a sync handler in a thread unless told otherwise) and declare their return
types: Litestar serializes dicts, lists and msgspec Structs with msgspec. POST handlers answer 200 (Litestar's
default for POST is 201, the other peers answer 200).

validate: the body is a msgspec Struct (`validate_msgspec.Order`), the way Litestar's docs recommend; the answer is
the `OrderOut` Struct. msgspec stops at the first invalid field, so `validate_invalid` gets one error, not three.
Litestar answers a body that fails validation with 400 (its ValidationException); the contract asks for 422, so an
exception handler (Litestar's documented `exception_handlers`) answers the same JSON with 422 instead.

Middleware: the route's `before_request` (adds request header `x-before: 1` to the ASGI scope, as the FastAPI app
does) and `after_request` (sets response header `x-after: 1`) hooks, scoped to GET /mw.

The asyncpg pool is opened by a `lifespan` context manager when BENCH_DB_DSN is set and kept in `app.state`.

Run (repository root as the working directory):
    python -m uvicorn benchmarks.apps.litestar_bench:app --host $BENCH_HOST --port $BENCH_PORT --loop uvloop
        --http httptools --no-access-log --log-level warning --workers 1
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import ValidationException

try:
    from . import bench_common as common
    from .validate_msgspec import Order, OrderOut, summary
except ImportError:  # imported with benchmarks/apps itself on sys.path
    import bench_common as common
    from validate_msgspec import Order, OrderOut, summary

HTML = "text/html; charset=utf-8"


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.pool = await common.create_pool()
    try:
        yield
    finally:
        if app.state.pool is not None:
            await app.state.pool.close()


@get("/", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return common.HELLO


@get("/json")
async def json() -> dict[str, str]:
    return {"message": common.HELLO}


@get("/users/{user_id:str}")
async def user(user_id: str) -> dict[str, str]:
    return {"id": user_id}


@get("/query")
async def query(a: str, b: str, c: str) -> dict[str, str]:
    return {"a": a, "b": b, "c": c}


@post("/echo", status_code=200)
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return data


async def before(request: Request) -> None:
    request.scope["headers"] = [*request.scope["headers"], (b"x-before", b"1")]


async def after(response: Response) -> Response:
    response.headers["x-after"] = "1"
    return response


@get("/mw", media_type=MediaType.TEXT, before_request=before, after_request=after)
async def with_middleware() -> str:
    return common.HELLO


@get("/async", media_type=MediaType.TEXT)
async def async_hello() -> str:
    await asyncio.sleep(0)
    return common.HELLO


@get("/64k", media_type="application/octet-stream")
async def big() -> bytes:
    return common.BIG_BODY


@get("/db")
async def single_query(request: Request) -> dict[str, int]:
    return await common.fetch_world(request.app.state.pool)


@get("/queries")
async def multiple_queries(request: Request, queries: str | None = None) -> list[dict[str, int]]:
    return await common.fetch_worlds(request.app.state.pool, common.queries_count(queries))


@get("/fortunes", media_type=HTML)
async def fortunes(request: Request) -> str:
    return common.render_fortunes(await common.fetch_fortunes(request.app.state.pool))


@get("/updates")
async def updates(request: Request, queries: str | None = None) -> list[dict[str, int]]:
    return await common.update_worlds(request.app.state.pool, common.queries_count(queries))


@post("/validate", status_code=200)
async def validate(data: Order) -> OrderOut:
    return summary(data)


def unprocessable(request: Request, exc: ValidationException) -> Response:
    """Litestar's own error body for a ValidationException, with 422 instead of its 400."""
    return Response({"status_code": 422, "detail": exc.detail, "extra": exc.extra}, status_code=422)


app = Litestar(
    route_handlers=[
        plaintext, json, user, query, echo, with_middleware, async_hello, big, single_query, multiple_queries,
        fortunes, updates, validate,
    ],
    lifespan=[lifespan],
    exception_handlers={ValidationException: unprocessable},
)  # fmt: skip
