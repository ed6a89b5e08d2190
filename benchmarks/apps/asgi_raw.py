"""Raw ASGI benchmark app (no framework), the baseline under uvicorn and under Granian's ASGI interface.

Scenarios: plaintext, json, path, query, post_json, async, big, db, queries, fortunes, updates.
Not here: middleware (no framework, no hooks) and const (a Tiercel/Robyn route feature).
JSON with orjson; the asyncpg pool is created on the server's loop at lifespan startup (when BENCH_DB_DSN is set).

Run (repository root as the working directory):
    python -m uvicorn benchmarks.apps.asgi_raw:app --host $BENCH_HOST --port $BENCH_PORT --loop uvloop
        --http httptools --no-access-log --log-level warning --workers 1
    python -m granian --interface asgi --host $BENCH_HOST --port $BENCH_PORT --workers 1 --loop uvloop
        --log-level warning --no-ws benchmarks.apps.asgi_raw:app
"""

import asyncio
from urllib.parse import parse_qsl

import orjson

try:
    from . import bench_common as common
except ImportError:  # imported with benchmarks/apps itself on sys.path
    import bench_common as common

pool = None

PLAIN = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]
HTML = [(b"content-type", b"text/html; charset=utf-8")]
USERS_PREFIX = "/users/"


def _start(status, headers, body):
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }


async def respond(send, status, headers, body):
    await send(_start(status, headers, body))
    await send({"type": "http.response.body", "body": body})


# The constant responses are built once.
HELLO_START = _start(200, PLAIN, common.HELLO_BYTES)
HELLO_BODY = {"type": "http.response.body", "body": common.HELLO_BYTES}
BIG_START = _start(200, PLAIN, common.BIG_BODY)
BIG_BODY = {"type": "http.response.body", "body": common.BIG_BODY}


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


def query_params(scope):
    return dict(parse_qsl(scope["query_string"].decode("latin-1")))


async def plaintext(scope, receive, send):
    await send(HELLO_START)
    await send(HELLO_BODY)


async def json_hello(scope, receive, send):
    await respond(send, 200, JSON, orjson.dumps({"message": common.HELLO}))


async def query(scope, receive, send):
    params = query_params(scope)
    await respond(send, 200, JSON, orjson.dumps({"a": params.get("a"), "b": params.get("b"), "c": params.get("c")}))


async def async_hello(scope, receive, send):
    await asyncio.sleep(0)
    await send(HELLO_START)
    await send(HELLO_BODY)


async def big(scope, receive, send):
    await send(BIG_START)
    await send(BIG_BODY)


async def db(scope, receive, send):
    await respond(send, 200, JSON, orjson.dumps(await common.fetch_world(pool)))


async def queries(scope, receive, send):
    count = common.queries_count(query_params(scope).get("queries"))
    await respond(send, 200, JSON, orjson.dumps(await common.fetch_worlds(pool, count)))


async def fortunes(scope, receive, send):
    page = common.render_fortunes(await common.fetch_fortunes(pool))
    await respond(send, 200, HTML, page.encode())


async def updates(scope, receive, send):
    count = common.queries_count(query_params(scope).get("queries"))
    await respond(send, 200, JSON, orjson.dumps(await common.update_worlds(pool, count)))


async def echo(scope, receive, send):
    try:
        payload = orjson.loads(await read_body(receive))
    except orjson.JSONDecodeError:
        await respond(send, 400, PLAIN, b"Bad Request")
        return
    await respond(send, 200, JSON, orjson.dumps(payload))


GET_ROUTES = {
    "/": plaintext,
    "/json": json_hello,
    "/query": query,
    "/async": async_hello,
    "/64k": big,
    "/db": db,
    "/queries": queries,
    "/fortunes": fortunes,
    "/updates": updates,
}
POST_ROUTES = {"/echo": echo}


async def http(scope, receive, send):
    path = scope["path"]
    method = scope["method"]
    if method == "GET":
        handler = GET_ROUTES.get(path)
        if handler is not None:
            await handler(scope, receive, send)
            return
        if path.startswith(USERS_PREFIX):  # GET /users/{id}
            user_id = path[len(USERS_PREFIX) :]
            if user_id and "/" not in user_id:
                await respond(send, 200, JSON, orjson.dumps({"id": user_id}))
                return
    elif method == "POST":
        handler = POST_ROUTES.get(path)
        if handler is not None:
            await handler(scope, receive, send)
            return
    await respond(send, 404, PLAIN, b"Not Found")


async def lifespan(receive, send):
    global pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                pool = await common.create_pool()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if pool is not None:
                await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
