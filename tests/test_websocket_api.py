"""WebSocket handlers as Robyn writes them (issue 14, item 2.1), through a real client (`websockets`) and raw
sockets: `@handler.on_connect` / `@handler.on_close` decorators, on_connect's result as the first message,
`await websocket.broadcast(...)` (its count as the result), parameter injection into the handler and its hooks,
a refused typed parameter answering the handshake with 400, and a Robyn 0.88 app run after its import line changed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tiercel import SubRouter, Tiercel, WebSocket, WebSocketDisconnect
from tiercel.compile import build_engine

APP = str(Path(__file__).parent / "apps" / "robyn_websocket_app.py")


def url(server: Any, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def recv(ws: Any, timeout: float = 5) -> Any:
    return await asyncio.wait_for(ws.recv(), timeout)


async def wait_until(predicate: Any, timeout: float = 5) -> None:
    """Polls `predicate` (the server's thread fills the lists it reads) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def upgrade(port: int, path: str) -> bytes:
    """The server's answer to an upgrade request for `path` (the head and what follows, until it closes)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


# ---- the decorator forms ---------------------------------------------------------------------------------------
def test_decorators_return_the_handler_and_set_the_hooks(serve):
    app = Tiercel(__file__)
    events: list[Any] = []

    @app.websocket("/ws")
    async def endpoint(websocket):
        events.append(("handler", websocket.id))
        await websocket.send_text("from the handler")
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as e:  # made natively, with what its __init__ would set
            events.append(("disconnect", type(e), e.code, e.reason, e.args))

    @endpoint.on_connect
    def hello(websocket):
        events.append(("connect", websocket.id))
        return "hello first"

    @endpoint.on_close
    async def bye(websocket):
        events.append(("close", websocket.close_code))
        return "never sent"

    assert endpoint.__name__ == "endpoint" and hello.__name__ == "hello" and bye.__name__ == "bye"
    s = serve(app)

    async def scenario():
        async with connect(url(s, "/ws")) as ws:
            assert await recv(ws) == "hello first"  # on_connect's result comes before anything the handler sends
            assert await recv(ws) == "from the handler"
            await ws.close(4001, "gone fishing")
            assert ws.close_code == 4001  # the server echoed the close
        await wait_until(lambda: len(events) == 4)

    run(scenario())
    assert [e[0] for e in events[:2]] == ["connect", "handler"] and events[0][1] == events[1][1]
    assert sorted(events[2:], key=str) == [
        ("close", 4001),
        ("disconnect", WebSocketDisconnect, 4001, "gone fishing", (4001, "gone fishing")),
    ]


def test_a_second_hook_of_a_kind_is_refused():
    app = Tiercel(__file__)

    @app.websocket("/ws", on_connect=lambda ws: None)
    async def endpoint(websocket):
        pass

    with pytest.raises(ValueError, match="/ws already has an on_connect hook"):
        endpoint.on_connect(lambda ws: "second")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="on_close must be callable"):
        endpoint.on_close("not a function")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="a WebSocket handler is async"):
        app.websocket("/sync")(lambda websocket: None)


# ---- on_connect's result ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "result, expected",
    [
        ("text", "text"),
        (b"\x00\x01binary", b"\x00\x01binary"),
        ({"room": "lobby", "n": [1, 2]}, '{"room":"lobby","n":[1,2]}'),
        (["a", 1], '["a",1]'),
        (None, "handler"),  # nothing sent: the handler's message is the first
    ],
)
@pytest.mark.parametrize("is_async", [False, True])
def test_on_connect_result_is_the_first_message(serve, result, expected, is_async):
    app = Tiercel(__file__)

    @app.websocket("/ws")
    async def endpoint(websocket):
        await websocket.send_text("handler")
        await websocket.receive_text()

    if is_async:

        @endpoint.on_connect
        async def hello(websocket):
            await asyncio.sleep(0.01)  # really suspends
            return result

    else:
        endpoint.on_connect(lambda websocket: result)
    s = serve(app)

    async def scenario():
        async with connect(url(s, "/ws")) as ws:
            assert await recv(ws) == expected
            if result is not None:
                assert await recv(ws) == "handler"

    run(scenario())


def test_on_connect_returning_another_type_closes_1011_and_logs(serve, caplog):
    app = Tiercel(__file__)
    ran: list[str] = []

    @app.websocket("/ws", on_connect=lambda websocket: 42)
    async def endpoint(websocket):
        ran.append("handler")

    s = serve(app)

    async def scenario():
        async with connect(url(s, "/ws")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR, logger="tiercel"):
        run(scenario())
    assert ran == []
    assert "on_connect of /ws returned int" in caplog.text


# ---- broadcast -----------------------------------------------------------------------------------------------
def test_broadcast_is_awaitable_reaches_every_open_connection_and_counts_them(serve):
    app = Tiercel(__file__)
    counts: list[int] = []

    @app.websocket("/chat")
    async def chat(websocket):
        while True:
            text = await websocket.receive_text()
            if text == "leave":
                await websocket.close(1000, "bye")  # closing: a broadcast no longer counts this one
                continue
            counts.append(await websocket.broadcast(f"{text}"))
            websocket.broadcast(b"raw")  # not awaited: queued anyway

    @app.websocket("/other")  # another route: not part of /chat's broadcasts
    async def other(websocket):
        await websocket.receive_text()

    s = serve(app)

    async def scenario():
        async with connect(url(s, "/chat")) as a, connect(url(s, "/chat")) as b, connect(url(s, "/other")) as o:
            await a.send("one")
            assert [await recv(a), await recv(a)] == ["one", b"raw"]  # the sender gets it too, as in Robyn
            assert [await recv(b), await recv(b)] == ["one", b"raw"]
            await b.send("leave")
            with pytest.raises(ConnectionClosed):
                await recv(b)
            await a.send("two")
            assert await recv(a) == "two"
            with pytest.raises(asyncio.TimeoutError):
                await recv(o, 0.2)

    run(scenario())
    assert counts == [2, 1]


def test_broadcast_refuses_what_is_not_str_or_bytes(serve):
    app = Tiercel(__file__)

    @app.websocket("/ws")
    async def endpoint(websocket):
        try:
            websocket.broadcast({"a": 1})
        except TypeError as e:
            await websocket.send_text(str(e))
        await websocket.send(b"via send")  # Robyn's send(): bytes as binary, str as text
        await websocket.send("text via send")

    s = serve(app)

    async def scenario():
        async with connect(url(s, "/ws")) as ws:
            assert await recv(ws) == "broadcast sends str (a text message) or bytes (a binary one), got dict"
            assert await recv(ws) == b"via send"
            assert await recv(ws) == "text via send"

    run(scenario())


# ---- parameters --------------------------------------------------------------------------------------------------
def test_handler_and_hooks_get_parameters_like_http_handlers(serve):
    app = Tiercel(__file__)
    app.inject_global(pool="the-pool")
    app.inject(cache="the-cache")
    api = SubRouter("/api")
    api.inject(repo="the-repo")
    seen: dict[str, Any] = {}

    @api.websocket("/rooms/:room")
    async def rooms(ws, room: str, query_params, global_dependencies, router_dependencies, repo, limit: int = 10):
        hook_ws = seen.pop("connect_ws")  # not kept: it would hold the connection past the test
        seen["same"] = ws == hook_ws and hash(ws) == hash(hook_ws) and ws != object()
        await ws.send_json(
            {
                "room": room,
                "limit": limit,
                "q": query_params.get("q", ""),
                "global": global_dependencies,
                "router": sorted(router_dependencies),
                "repo": repo,
            }
        )
        await ws.receive_text()

    @rooms.on_connect
    def joined(conn: WebSocket, limit: int = 10, *, pool):
        seen["connect_ws"] = conn
        return f"limit {limit} {pool}"

    @rooms.on_close
    def left(room: str, cache, websocket):
        seen["close"] = (room, cache, websocket.close_code)

    app.include_router(api)
    s = serve(app)

    async def scenario():
        async with connect(url(s, "/api/rooms/lobby?limit=3&q=x")) as ws:
            assert await recv(ws) == "limit 3 the-pool"
            assert await recv(ws) == (
                '{"room":"lobby","limit":3,"q":"x","global":{"pool":"the-pool"},'
                '"router":["cache","repo"],"repo":"the-repo"}'
            )
        await wait_until(lambda: "close" in seen)

    run(scenario())
    assert seen["same"] is True
    assert seen["close"] == ("lobby", "the-cache", 1000)


def test_no_connection_parameter_and_request_parameter(serve):
    app = Tiercel(__file__)
    closed: list[str] = []

    @app.websocket("/ws", on_close=lambda: closed.append("closed"))  # a hook may take nothing
    async def endpoint(websocket, request, headers):
        await websocket.send_text(f"{request.method} {request.path} {headers.get('x-who')}")

    s = serve(app)

    async def scenario():
        async with connect(url(s, "/ws"), additional_headers={"X-Who": "robin"}) as ws:
            assert await recv(ws) == "GET /ws robin"
        await wait_until(lambda: closed == ["closed"])

    run(scenario())


@pytest.mark.parametrize(
    "path, message",
    [
        ("/ws?limit=abc", b"query parameter 'limit' must be an integer, got 'abc'"),
        ("/ws", b"missing query parameter 'seat'"),  # on_connect's required parameter
        ("/ws?seat=1&mode=loud", b"query parameter 'mode' must be a boolean"),  # on_close's parameter
    ],
)
def test_a_refused_parameter_answers_the_handshake_with_400(serve, path, message):
    app = Tiercel(__file__)
    ran: list[str] = []

    @app.websocket("/ws")
    async def endpoint(websocket, limit: int = 10):
        ran.append("handler")

    @endpoint.on_connect
    def hello(websocket, seat: int):
        ran.append("on_connect")

    @endpoint.on_close
    def bye(websocket, mode: bool | None = None):  # a bool: "loud" is refused
        ran.append("on_close")

    s = serve(app)
    answer = upgrade(s.port, path)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert message in body, answer
    assert ran == []

    async def rejected():
        with pytest.raises(InvalidStatus) as info:
            async with connect(url(s, path)):
                pass
        return info.value.response.status_code

    assert run(rejected()) == 400


def test_session_is_read_at_the_upgrade(serve):
    app = Tiercel(__file__)
    app.configure_sessions("k" * 32)

    @app.get("/login")
    def login(session):
        session["user"] = "bruce"
        return "ok"

    @app.websocket("/ws")
    async def endpoint(websocket, session):
        await websocket.send_text(f"hello {session.get('user', 'stranger')}")

    s = serve(app)
    cookie = httpx.get(f"http://127.0.0.1:{s.port}/login").headers["set-cookie"].split(";")[0]

    async def scenario():
        async with connect(url(s, "/ws"), additional_headers={"Cookie": cookie}) as ws:
            assert await recv(ws) == "hello bruce"
        async with connect(url(s, "/ws")) as ws:
            assert await recv(ws) == "hello stranger"

    run(scenario())


def test_session_parameter_needs_sessions():
    app = Tiercel(__file__)

    @app.websocket("/ws")
    async def endpoint(websocket, session):
        pass

    with pytest.raises(ValueError, match="WebSocket /ws: .*endpoint takes `session`"):
        run(build_engine(app, app.server("127.0.0.1", 0).settings))  # what start-up does first


# ---- a Robyn app, import line changed ----------------------------------------------------------------------------
def test_robyn_websocket_app_runs_unchanged(run_script):
    p = run_script(APP)

    async def scenario():
        base = f"ws://127.0.0.1:{p.port}"
        async with connect(base + "/echo") as ws:
            assert await recv(ws) == "connected to echo"
            await ws.send("hi")
            assert await recv(ws) == "echo: hi"
            await ws.send("quit")
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 1000
        async with connect(base + "/room?name=bat&seat=3") as a, connect(base + "/room") as b:
            assert await recv(a) == "welcome bat" and await recv(b) == "welcome anonymous"
            await a.send("hello")
            assert await recv(a) == "bat@3: hello" and await recv(b) == "bat@3: hello"
        async with connect(base + "/data?q=z") as d:
            assert await recv(d) == '{"motd":"stay sharp","query":"z"}'
            await d.send(b"abc")
            assert await recv(d) == b"cba"

    run(scenario())
    assert p.wait_for_output("bat left the room", 5) and p.wait_for_output("closed ", 5)
    assert p.stop() == 0


def test_a_subrouters_global_dependencies_reach_its_websocket_routes(serve):
    app = Tiercel(__file__)
    app.inject_global(GLOBAL="app")
    router = SubRouter(__file__, prefix="/r")
    router.inject_global(GLOBAL="router")

    @router.websocket("/ws")
    async def in_router(websocket, GLOBAL, global_dependencies):
        await websocket.send_json([GLOBAL, global_dependencies["GLOBAL"]])

    @app.websocket("/ws")
    async def in_app(websocket, GLOBAL):
        await websocket.send_text(GLOBAL)

    app.include_router(router)
    s = serve(app)

    async def check() -> None:
        async with connect(url(s, "/r/ws")) as ws:
            assert await recv(ws) == '["router","router"]'
        async with connect(url(s, "/ws")) as ws:
            assert await recv(ws) == "app"

    run(check())
