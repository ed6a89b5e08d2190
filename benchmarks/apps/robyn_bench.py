"""Robyn benchmark app, written the way Robyn's docs write it. 1 process, 1 worker (Robyn's defaults).

Scenarios: plaintext, json, path, query, post_json, middleware, async, big, const, db, queries, fortunes, updates,
file (serve_directory), sse (SSEResponse over a generator), ws (a WebSocket echo with `@app.websocket`, the
channel-backed API of Robyn's docs), validate and validate_invalid (Robyn's Pydantic integration: a parameter annotated
with a BaseModel is the validated JSON body, a returned BaseModel is serialized as JSON, an invalid body is answered
422 `{"error": "Validation Error", "detail": [...]}` by Robyn itself; the models are `validate_pydantic.py`'s).

Handlers return str/dict/list/bytes and Robyn builds the response (dicts and lists serialized by its executor with
orjson); the fortunes page is an explicit Response for its `text/html; charset=utf-8` content type. The middleware
scenario uses `before_request("/mw")` / `after_request("/mw")`, scoped to that route. The asyncpg pool is created by
the async `startup_handler`, which Robyn runs on the event loop that then serves the handlers, when BENCH_DB_DSN is
set.

Run (repository root as the working directory; env BENCH_HOST, BENCH_PORT, BENCH_DB_DSN, BENCH_DB_POOL):
    python benchmarks/apps/robyn_bench.py
"""

import asyncio
import os

from robyn import Request, Response, Robyn, WebSocketDisconnect
from robyn.responses import SSEMessage, SSEResponse

try:
    from . import bench_common as common
    from .validate_pydantic import Order, summary
except ImportError:  # run as a script: benchmarks/apps is sys.path[0]
    import bench_common as common
    from validate_pydantic import Order, summary

app = Robyn(__file__)
db = {"pool": None}
app.serve_directory("/static", common.static_dir())


@app.get("/sse")
def sse(request):
    return SSEResponse(SSEMessage(str(i)) for i in range(common.SSE_EVENTS))


@app.websocket("/ws/echo")
async def ws_echo(websocket):
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return


HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8"}


@app.startup_handler
async def create_pool():
    db["pool"] = await common.create_pool()


@app.shutdown_handler
async def close_pool():
    if db["pool"] is not None:
        await db["pool"].close()


@app.get("/")
def plaintext(request):
    return common.HELLO


@app.get("/json")
def json(request):
    return {"message": common.HELLO}


@app.get("/users/:id")
def user(request):
    return {"id": request.path_params["id"]}


# QueryParams.get's `default` is optional in Robyn's type stub but required by the binding (TypeError without it).
@app.get("/query")
def query(request):
    params = request.query_params
    return {"a": params.get("a", None), "b": params.get("b", None), "c": params.get("c", None)}


@app.post("/echo")
def echo(request):
    return request.json()


@app.post("/validate")
def validate(order: Order):
    return summary(order)


@app.before_request("/mw")
def before_mw(request: Request):
    request.headers.set("x-before", "1")
    return request


@app.after_request("/mw")
def after_mw(response: Response):
    response.headers.set("x-after", "1")
    return response


@app.get("/mw")
def with_middleware(request):
    return common.HELLO


@app.get("/async")
async def async_hello(request):
    await asyncio.sleep(0)
    return common.HELLO


@app.get("/64k")
def big(request):
    return common.BIG_BODY


@app.get("/const", const=True)
def const(request):
    return common.HELLO


@app.get("/db")
async def single_query(request):
    return await common.fetch_world(db["pool"])


@app.get("/queries")
async def multiple_queries(request):
    return await common.fetch_worlds(db["pool"], common.queries_count(request.query_params.get("queries", None)))


@app.get("/fortunes")
async def fortunes(request):
    page = common.render_fortunes(await common.fetch_fortunes(db["pool"]))
    return Response(status_code=200, headers=HTML_HEADERS, description=page)


@app.get("/updates")
async def updates(request):
    return await common.update_worlds(db["pool"], common.queries_count(request.query_params.get("queries", None)))


if __name__ == "__main__":
    app.start(host=os.environ["BENCH_HOST"], port=int(os.environ["BENCH_PORT"]))
