"""FastAPI benchmark app, written the way FastAPI's docs write it, run by uvicorn with uvloop + httptools.

Scenarios: plaintext, json, path, query, post_json, middleware, async, big, db, queries, fortunes, updates, validate,
validate_invalid (the Pydantic models of `validate_pydantic.py`: the body parameter and the return type, FastAPI's
422 `{"detail": [...]}` for an invalid body). Not here: const (a Tiercel/Robyn route feature).

JSON responses: the default, not ORJSONResponse. FastAPI 0.165 deprecates ORJSONResponse/UJSONResponse; its docs
now recommend declaring a return type or a response_model instead, which makes FastAPI validate the result and
serialize it straight to JSON bytes with Pydantic's Rust core (the fast path in fastapi/routing.py). So every JSON
route declares one (response_model where the handler returns plain dicts from the database helpers). Text, HTML
and the 64 KiB body use the documented Response classes.

The asyncpg pool is created by the `lifespan` context manager (FastAPI's replacement for startup events), when
BENCH_DB_DSN is set.

Middleware: `@app.middleware("http")` as the docs show (before `call_next`: add request header `x-before: 1`; after:
set response header `x-after: 1`). FastAPI has no per-route middleware and an app-wide "http" middleware
(Starlette's BaseHTTPMiddleware) roughly triples the CPU cost of every request, so it would tax every other
scenario. It is therefore declared on a small FastAPI sub-application that serves only GET /mw, mounted (documented
"Sub Applications - Mounts") at the root *after* all routes: only requests no main route matched reach it, and the
other scenarios never pass through the middleware.

Run (repository root as the working directory):
    python -m uvicorn benchmarks.apps.fastapi_bench:app --host $BENCH_HOST --port $BENCH_PORT --loop uvloop
        --http httptools --no-access-log --log-level warning --workers 1
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel

try:
    from . import bench_common as common
    from .validate_pydantic import Order, OrderOut, summary
except ImportError:  # imported with benchmarks/apps itself on sys.path
    import bench_common as common
    from validate_pydantic import Order, OrderOut, summary

db: dict[str, Any] = {}  # the lifespan's resources, as in FastAPI's lifespan docs


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    db["pool"] = await common.create_pool()
    yield
    if db["pool"] is not None:
        await db["pool"].close()
    db.clear()


app = FastAPI(lifespan=lifespan)


class Message(BaseModel):
    message: str


class User(BaseModel):
    id: str


class QueryEcho(BaseModel):
    a: str
    b: str
    c: str


class World(BaseModel):
    id: int
    randomNumber: int


@app.get("/", response_class=PlainTextResponse)
async def plaintext():
    return common.HELLO


@app.get("/json")
async def json() -> Message:
    return Message(message=common.HELLO)


@app.get("/users/{user_id}")
async def user(user_id: str) -> User:
    return User(id=user_id)


@app.get("/query")
async def query(a: str, b: str, c: str) -> QueryEcho:
    return QueryEcho(a=a, b=b, c=c)


@app.post("/echo")
async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


@app.post("/validate")
async def validate(order: Order) -> OrderOut:
    return summary(order)


@app.get("/async", response_class=PlainTextResponse)
async def async_hello():
    await asyncio.sleep(0)
    return common.HELLO


@app.get("/64k")
async def big():
    return Response(content=common.BIG_BODY, media_type="application/octet-stream")


@app.get("/db", response_model=World)
async def single_query():
    return await common.fetch_world(db["pool"])


@app.get("/queries", response_model=list[World])
async def multiple_queries(queries: str | None = None):
    return await common.fetch_worlds(db["pool"], common.queries_count(queries))


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes():
    return common.render_fortunes(await common.fetch_fortunes(db["pool"]))


@app.get("/updates", response_model=list[World])
async def updates(queries: str | None = None):
    return await common.update_worlds(db["pool"], common.queries_count(queries))


# --- middleware scenario: GET /mw, served by a sub-application that carries the middleware (see the docstring).
mw_app = FastAPI()


@mw_app.middleware("http")
async def before_and_after(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request.scope["headers"] = [*request.scope["headers"], (b"x-before", b"1")]  # before the handler
    response = await call_next(request)
    response.headers["x-after"] = "1"  # after the handler
    return response


@mw_app.get("/mw", response_class=PlainTextResponse)
async def with_middleware():
    return common.HELLO


app.mount("", mw_app)  # last: it only sees requests no route above matched
