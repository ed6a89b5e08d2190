"""Granian RSGI benchmark app (Granian's own protocol, no framework).

Scenarios: plaintext, json, path, query, post_json, async, big, db, queries, fortunes, updates, file
(`response_file`), sse (`response_stream`), ws (a WebSocket echo on RSGI's websocket protocol: `accept()`, then
`receive()` / `send_str()` on the transport).
Not here: middleware (no framework, no hooks) and const (a Tiercel/Robyn route feature).
JSON with orjson. The app is an object with RSGI's `__rsgi_init__(loop)` hook, which Granian calls in the worker
before serving, with the worker's loop not yet running: the asyncpg pool is created there with
`loop.run_until_complete` (when BENCH_DB_DSN is set) and closed in `__rsgi_del__(loop)`.

Run (repository root as the working directory; websockets on, Granian's default):
    python -m granian --interface rsgi --host $BENCH_HOST --port $BENCH_PORT --workers 1 --loop uvloop
        --log-level warning benchmarks.apps.granian_rsgi_bench:app
"""

import asyncio
import os
from urllib.parse import parse_qsl

import orjson
from granian.rsgi import WebsocketMessageType

try:
    from . import bench_common as common
except ImportError:  # imported with benchmarks/apps itself on sys.path
    import bench_common as common

PLAIN = [("content-type", "text/plain; charset=utf-8")]
JSON = [("content-type", "application/json")]
HTML = [("content-type", "text/html; charset=utf-8")]
USERS_PREFIX = "/users/"
STATIC_PATH = "/static/" + common.FILE_NAME
STATIC_FILE = os.path.join(common.static_dir(), common.FILE_NAME)
WS_ECHO_PATH = "/ws/echo"


def query_params(scope):
    return dict(parse_qsl(scope.query_string))


class App:
    def __init__(self):
        self.pool = None
        self.get_routes = {
            "/": self.plaintext,
            "/json": self.json,
            "/query": self.query,
            "/async": self.async_hello,
            "/64k": self.big,
            "/db": self.db,
            "/queries": self.queries,
            "/fortunes": self.fortunes,
            "/updates": self.updates,
            "/sse": self.sse,
            STATIC_PATH: self.file,
        }
        self.post_routes = {"/echo": self.echo}

    # RSGI lifecycle hooks: called by Granian in the worker, around serving.
    def __rsgi_init__(self, loop):
        self.pool = loop.run_until_complete(common.create_pool())

    def __rsgi_del__(self, loop):
        if self.pool is not None:
            loop.run_until_complete(self.pool.close())

    async def __rsgi__(self, scope, proto):
        if scope.proto == "ws":
            await self.ws(scope, proto)
            return
        if scope.proto != "http":
            return
        path = scope.path
        if scope.method == "GET":
            handler = self.get_routes.get(path)
            if handler is not None:
                await handler(scope, proto)
                return
            if path.startswith(USERS_PREFIX):  # GET /users/{id}
                user_id = path[len(USERS_PREFIX) :]
                if user_id and "/" not in user_id:
                    proto.response_bytes(200, JSON, orjson.dumps({"id": user_id}))
                    return
        elif scope.method == "POST":
            handler = self.post_routes.get(path)
            if handler is not None:
                await handler(scope, proto)
                return
        proto.response_str(404, PLAIN, "Not Found")

    async def ws(self, scope, proto):
        if scope.path != WS_ECHO_PATH:
            proto.close(404)  # before accept(): the upgrade is refused with this HTTP status
            return
        transport = await proto.accept()
        while True:
            message = await transport.receive()
            if message.kind == WebsocketMessageType.close:
                break
            if message.kind == WebsocketMessageType.string:
                await transport.send_str(message.data)
            else:
                await transport.send_bytes(message.data)
        proto.close(1000)

    async def file(self, scope, proto):
        proto.response_file(200, [("content-type", "application/octet-stream")], STATIC_FILE)

    async def sse(self, scope, proto):
        transport = proto.response_stream(200, [("content-type", "text/event-stream"), ("cache-control", "no-cache")])
        for i in range(common.SSE_EVENTS):
            await transport.send_str(f"data: {i}\n\n")

    async def plaintext(self, scope, proto):
        proto.response_bytes(200, PLAIN, common.HELLO_BYTES)

    async def json(self, scope, proto):
        proto.response_bytes(200, JSON, orjson.dumps({"message": common.HELLO}))

    async def query(self, scope, proto):
        params = query_params(scope)
        body = {"a": params.get("a"), "b": params.get("b"), "c": params.get("c")}
        proto.response_bytes(200, JSON, orjson.dumps(body))

    async def echo(self, scope, proto):
        try:
            payload = orjson.loads(await proto())
        except orjson.JSONDecodeError:
            proto.response_str(400, PLAIN, "Bad Request")
            return
        proto.response_bytes(200, JSON, orjson.dumps(payload))

    async def async_hello(self, scope, proto):
        await asyncio.sleep(0)
        proto.response_bytes(200, PLAIN, common.HELLO_BYTES)

    async def big(self, scope, proto):
        proto.response_bytes(200, PLAIN, common.BIG_BODY)

    async def db(self, scope, proto):
        proto.response_bytes(200, JSON, orjson.dumps(await common.fetch_world(self.pool)))

    async def queries(self, scope, proto):
        count = common.queries_count(query_params(scope).get("queries"))
        proto.response_bytes(200, JSON, orjson.dumps(await common.fetch_worlds(self.pool, count)))

    async def fortunes(self, scope, proto):
        proto.response_str(200, HTML, common.render_fortunes(await common.fetch_fortunes(self.pool)))

    async def updates(self, scope, proto):
        count = common.queries_count(query_params(scope).get("queries"))
        proto.response_bytes(200, JSON, orjson.dumps(await common.update_worlds(self.pool, count)))


app = App()
