"""Tiercel benchmark app: every scenario of benchmarks/README.md, written as Tiercel's docs write handlers.

Scenarios: plaintext, json, path, query, post_json, middleware, async, big, const, db, queries, fortunes, updates,
file (serve_directory), sse (SSEResponse over a generator), ws (a WebSocket echo); https and https_handshake are
plaintext over TLS, served when BENCH_TLS_CERT and BENCH_TLS_KEY name a PEM certificate and key.
The asyncpg pool is opened by a startup handler (when BENCH_DB_DSN is set) and kept in `app.state`.

validate and validate_invalid, FastAPI's way: a parameter annotated with a model is the validated JSON body, the return
annotation is the response model, an invalid body is answered 422 `{"detail": [...]}`. The models are Pydantic's
(`validate_pydantic.py`), or msgspec Structs (`validate_msgspec.py`) with BENCH_MODELS=msgspec (the `tiercel-msgspec`
server).

Run (repository root as the working directory):
    BENCH_HOST=127.0.0.1 BENCH_PORT=8000 python benchmarks/apps/tiercel_bench.py
    BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem BENCH_PORT=8443 python benchmarks/apps/tiercel_bench.py  # HTTPS
"""

import asyncio
import os

import bench_common as common

from tiercel import Response, SSEMessage, SSEResponse, Tiercel, WebSocketDisconnect

if os.environ.get("BENCH_MODELS", "pydantic") == "msgspec":
    from validate_msgspec import Order, OrderOut, summary
else:
    from validate_pydantic import Order, OrderOut, summary

app = Tiercel(__file__)
app.state.pool = None
app.serve_directory("/static", common.static_dir())


@app.get("/sse")
def sse(request):
    return SSEResponse((SSEMessage(str(i)) for i in range(common.SSE_EVENTS)), ping_interval=0)


@app.websocket("/ws/echo")
async def ws_echo(websocket):
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return


@app.startup_handler
async def open_pool():
    app.state.pool = await common.create_pool()


@app.shutdown_handler
async def close_pool():
    if app.state.pool is not None:
        await app.state.pool.close()


@app.get("/")
def plaintext(request):
    return common.HELLO


@app.get("/json")
def json(request):
    return {"message": common.HELLO}


@app.get("/users/:id")
def user(request):
    return {"id": request.path_params["id"]}


@app.get("/query")
def query(request):
    q = request.query_params
    return {"a": q.get("a"), "b": q.get("b"), "c": q.get("c")}


@app.post("/echo")
def echo(request):
    return request.json()


@app.post("/validate")
def validate(order: Order) -> OrderOut:
    return summary(order)


@app.before_request("/mw")
def before(request):
    request.headers.set("x-before", "1")
    return request


@app.after_request("/mw")
def after(response):
    response.headers.set("x-after", "1")
    return response


@app.get("/mw")
def middleware(request):
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
async def db(request):
    return await common.fetch_world(app.state.pool)


@app.get("/queries")
async def queries(request):
    return await common.fetch_worlds(app.state.pool, common.queries_count(request.query_params.get("queries")))


@app.get("/fortunes")
async def fortunes(request):
    rows = await common.fetch_fortunes(app.state.pool)
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, common.render_fortunes(rows))


@app.get("/updates")
async def updates(request):
    return await common.update_worlds(app.state.pool, common.queries_count(request.query_params.get("queries")))


if __name__ == "__main__":
    cert, key = os.environ.get("BENCH_TLS_CERT"), os.environ.get("BENCH_TLS_KEY")
    tls = {"ssl_certfile": cert, "ssl_keyfile": key} if cert and key else {}
    app.start(host=os.environ.get("BENCH_HOST", "127.0.0.1"), port=int(os.environ.get("BENCH_PORT", "8080")), **tls)
