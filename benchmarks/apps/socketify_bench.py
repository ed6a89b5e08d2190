"""socketify benchmark app (uWebSockets with a Python API), written the way socketify's docs write it.

Scenarios: plaintext, json, path, query, post_json, middleware, async, big, db, queries, fortunes, updates, ws.
Not here: const (a Tiercel/Robyn route feature), file, sse.

- Responses go through `res.send(...)`, which writes the status and Content-Type (`res.end` alone sends none);
  after an `await` the async handlers answer with `res.cork_send(...)`, as socketify's docs require for corking.
  Request data (query string, route parameters) is read before the first await: socketify's request object is
  only valid until then.
- JSON: socketify serializes dicts/lists with the object given to `app.json_serializer` (the stdlib `json` module
  by default, whose output has spaces). It gets a two-function adapter over orjson, like every other app here.
- Body reading (socketify 0.0.31 bug, worked around): `await res.get_json()` leaves the handler's task, the body
  future and the response object referencing only each other (socketify drops its task, asyncio keeps tasks weakly,
  uWS holds the response by a raw cffi handle). Under load the cyclic GC frees them before the body arrives, and
  uWS's data callback then aborts the process ("Fatal Python error: ffi.from_handle() ... points to garbage"; seen
  with wrk -c64 on POST /echo). The handler keeps the response in a set while it awaits the body.
- Database: the asyncpg pool is created by the `app.on_start` handler, which socketify runs to completion on its own
  asyncio loop (the loop that then runs the async handlers) before it listens; closed by `app.on_shutdown`.
- Middleware: socketify's documented facility is `middleware(f1, f2, ..., handler)`, a chain of functions run in
  order *before* the handler, each passing `data` to the next. There is no after-handler hook, and uWS request
  headers are read-only. So the "before" middleware passes `{"x-before": "1"}` on as the chain's data (socketify's
  way of handing request context down), and the "after" one writes the response header `x-after: 1` ahead of the
  handler's `send` (headers written before the response is sent go out with it): same wire result, but it runs
  before the handler, not after it.
- WebSocket: `app.ws(path, behavior)` with a synchronous `message` handler that sends the message back with its
  opcode (uWS's echo), no compression, messages up to 1 MiB (Tiercel's default `ws_max_message`; uWS's default,
  16 KiB, would refuse the validation's 66 KB message).

Run (repository root as the working directory; env BENCH_HOST, BENCH_PORT, BENCH_DB_DSN, BENCH_DB_POOL):
    python benchmarks/apps/socketify_bench.py
"""

import asyncio
import os

import orjson
from socketify import App, AppListenOptions, CompressOptions, middleware

try:
    from . import bench_common as common
except ImportError:  # run as a script: benchmarks/apps is sys.path[0]
    import bench_common as common

HTML = b"text/html; charset=utf-8"


class OrjsonSerializer:
    """What `app.json_serializer` expects: json-module-like `dumps` (to str) and `loads`."""

    @staticmethod
    def dumps(obj):
        return orjson.dumps(obj).decode()

    loads = staticmethod(orjson.loads)


app = App()
app.json_serializer(OrjsonSerializer)
db = {"pool": None}
awaiting_body = set()


@app.on_start
async def create_pool():
    db["pool"] = await common.create_pool()


@app.on_shutdown
async def close_pool():
    if db["pool"] is not None:
        await db["pool"].close()


def plaintext(res, req):
    res.send(common.HELLO)


def json(res, req):
    res.send({"message": common.HELLO})


def user(res, req):
    res.send({"id": req.get_parameter(0)})


def query(res, req):
    res.send({"a": req.get_query("a"), "b": req.get_query("b"), "c": req.get_query("c")})


async def echo(res, req):
    awaiting_body.add(res)  # see the module docstring: without it socketify can crash here under load
    try:
        payload = await res.get_json()
    finally:
        awaiting_body.discard(res)
    if payload is None:  # socketify returns None for a body that is not JSON
        res.cork_send(b"Bad Request", status=400)
        return
    res.cork_send(payload)


def before_mw(res, req, data=None):
    return {"x-before": "1"}  # handed to the next function in the chain


def after_mw(res, req, data):
    res.write_header("x-after", "1")
    return data


def with_middleware(res, req, data):
    res.send(common.HELLO)


async def async_hello(res, req):
    await asyncio.sleep(0)
    res.cork_send(common.HELLO)


def big(res, req):
    res.send(common.BIG_BODY)


async def single_query(res, req):
    res.cork_send(await common.fetch_world(db["pool"]))


async def multiple_queries(res, req):
    count = common.queries_count(req.get_query("queries"))
    res.cork_send(await common.fetch_worlds(db["pool"], count))


async def fortunes(res, req):
    page = common.render_fortunes(await common.fetch_fortunes(db["pool"]))
    res.cork_send(page, content_type=HTML)


async def updates(res, req):
    count = common.queries_count(req.get_query("queries"))
    res.cork_send(await common.update_worlds(db["pool"], count))


def ws_echo(ws, message, opcode):
    ws.send(message, opcode)


app.ws("/ws/echo", {"compression": CompressOptions.DISABLED, "max_payload_length": 1 << 20, "message": ws_echo})
app.get("/", plaintext)
app.get("/json", json)
app.get("/users/:id", user)
app.get("/query", query)
app.post("/echo", echo)
app.get("/mw", middleware(before_mw, after_mw, with_middleware))
app.get("/async", async_hello)
app.get("/64k", big)
app.get("/db", single_query)
app.get("/queries", multiple_queries)
app.get("/fortunes", fortunes)
app.get("/updates", updates)
app.any("/*", lambda res, req: res.send(b"Not Found", status=404))

if __name__ == "__main__":
    options = AppListenOptions(port=int(os.environ["BENCH_PORT"]), host=os.environ["BENCH_HOST"])
    app.listen(options, lambda config: print(f"listening on {config.host}:{config.port}", flush=True))
    app.run()
