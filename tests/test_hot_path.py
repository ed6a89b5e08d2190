"""The hot-path rule (DESIGN §1): per request, no function defined in the tiercel package runs.

sys.setprofile records every Python-level call made on the server's thread while 1,000 requests are
served; the only Python frames allowed are the user's handlers (and asyncio/stdlib machinery).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections import Counter
from typing import Annotated, Any

import httpx
import msgspec
import pydantic
import pytest

import tiercel
from tiercel import Form, Header, Query, Tiercel

TIERCEL_DIR = os.path.dirname(os.path.abspath(tiercel.__file__))
N = 1000
HANDLERS = ("plain_sync", "plain_async", "hooked", "before_hook", "after_hook", "typed", "authenticate", "secure")


class CallRecorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tiercel_calls: Counter[str] = Counter()
        self.handler_calls: Counter[str] = Counter()
        self.recording = False
        self.handler_names = HANDLERS

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or not self.recording:
            return
        code = frame.f_code
        if os.path.abspath(code.co_filename).startswith(TIERCEL_DIR + os.sep):
            with self.lock:
                self.tiercel_calls[f"{code.co_filename}:{code.co_name}"] += 1
        elif code.co_name in self.handler_names:
            with self.lock:
                self.handler_calls[code.co_name] += 1


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_no_framework_python_per_request(loop_kind: str, serve: Any) -> None:
    from conftest import RunningServer

    app = Tiercel(__file__)
    app.add_response_header("X-Global", "1")  # global headers are applied by C++ too
    app.set_request_header("X-Injected", "1")

    @app.get("/sync")
    def plain_sync(request):
        return "sync"

    @app.get("/async")
    async def plain_async(request):
        return "async"

    app.inject_global(pool="the-pool")
    app.configure_cors(["https://app.example"])  # CORS headers and sessions are native too
    app.configure_sessions("k" * 32)

    class Auth(tiercel.AuthenticationHandler):
        def authenticate(self, request):
            return tiercel.Identity({"t": self.token_getter.get_token(request)})

    app.configure_authentication(Auth(tiercel.BearerGetter()))

    @app.get("/secure", auth_required=True)
    def secure(request, session):
        session["n"] = session.get("n", 0) + 1
        return f"{request.identity.claims['t']} {session['n']}"

    @app.get("/typed/:n")
    async def typed(n: int, pool, headers, page: int = 1, tags: list[str] | None = None):
        return f"{n} {page} {tags} {pool}"

    @app.get("/hooked")
    def hooked(request):
        return request.headers.get("x-before")

    @app.before_request("/hooked")
    async def before_hook(request):
        request.headers.set("x-before", "hooked")
        return request

    @app.after_request("/hooked")
    def after_hook(response):
        response.headers.set("x-after", "1")
        return response

    recorder = CallRecorder()
    server = RunningServer(app, loop_kind, metrics="/metrics", proxy_headers=True)  # counted in C++ too
    server.profile = recorder
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.get("/sync")  # warm-up: connection set up before recording starts
            recorder.recording = True
            for _ in range(N):
                assert client.get("/sync").text == "sync"
            for _ in range(N):
                assert client.get("/async").text == "async"
            for _ in range(N):
                assert client.get("/hooked").text == "hooked"
            for _ in range(N):
                assert client.get("/typed/7?page=2&tags=a&tags=b").text == "7 2 ['a', 'b'] the-pool"
            auth = {"Authorization": "Bearer tok", "Origin": "https://app.example"}
            for i in range(N):
                r = client.get("/secure", headers=auth)
                assert r.text == f"tok {i + 1}" and r.headers["access-control-allow-origin"] == "https://app.example"
            recorder.recording = False
    finally:
        server.stop()

    # The profiler really watched the server thread: it saw every handler call.
    assert recorder.handler_calls == {
        "plain_sync": N,
        "plain_async": N,
        "hooked": N,
        "before_hook": N,
        "after_hook": N,
        "typed": N,
        "authenticate": N,
        "secure": N,
    }
    assert dict(recorder.tiercel_calls) == {}, f"framework Python ran per request: {recorder.tiercel_calls}"


def test_recorder_sees_tiercel_functions() -> None:
    """Control: the recorder does flag a call into the tiercel package, so the test above can fail."""
    recorder = CallRecorder()
    recorder.recording = True
    sys.setprofile(recorder)
    try:
        Tiercel(__file__).get("/x")(lambda request: "x")
    finally:
        sys.setprofile(None)
    assert recorder.tiercel_calls, "the recorder missed calls into tiercel"


WS_HANDLERS = ("room", "joined", "left")
WS_N = 200


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_no_framework_python_per_websocket_connection(loop_kind: str) -> None:
    """The same rule for WebSockets: the upgrade, the arguments of the handler and its hooks (typed path and query
    parameters, dependencies, the connection), on_connect's first message, every message and the close run no
    function of the tiercel package."""
    import asyncio

    from conftest import RunningServer
    from websockets.asyncio.client import connect

    app = Tiercel(__file__)
    app.inject_global(pool="the-pool")
    closed: list[str] = []  # what finished: on_close ("name") and the handler ("name handler")

    @app.websocket("/rooms/:name")
    async def room(websocket, name: str, pool, limit: int = 10):
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_text(f"{name} {limit} {pool} {text}")
        except tiercel.WebSocketDisconnect:
            closed.append(f"{name} handler")

    @room.on_connect
    def joined(websocket, global_dependencies, limit: int = 10):
        return {"limit": limit, "deps": sorted(global_dependencies)}

    @room.on_close
    async def left(websocket, name: str):
        await websocket.broadcast(f"{name} left")
        closed.append(name)

    recorder = CallRecorder()
    recorder.handler_names = WS_HANDLERS
    server = RunningServer(app, loop_kind)
    server.profile = recorder
    server.start()

    async def clients() -> None:
        async with connect(f"ws://127.0.0.1:{server.port}/rooms/warmup"):
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        # The warm-up's close and its handler's last resume must not count among the recorded calls.
        while not {"warmup", "warmup handler"} <= set(closed) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        recorder.recording = True
        for i in range(WS_N):
            async with connect(f"ws://127.0.0.1:{server.port}/rooms/r{i}?limit={i}") as ws:
                assert await ws.recv() == f'{{"limit":{i},"deps":["pool"]}}'
                for m in ("a", "b"):
                    await ws.send(m)
                    assert await ws.recv() == f"r{i} {i} the-pool {m}"
        deadline = loop.time() + 10
        while recorder.handler_calls["left"] < WS_N and loop.time() < deadline:  # the last on_close may still run
            await asyncio.sleep(0.01)
        recorder.recording = False

    try:
        asyncio.run(clients())
    finally:
        server.stop()
    assert dict(recorder.tiercel_calls) == {}, f"framework Python ran per connection: {recorder.tiercel_calls}"
    # The profiler watched the server's thread: a coroutine's "call" event comes at its start and at each resume
    # (the handler resumes for two messages and for the disconnect).
    assert recorder.handler_calls == {"room": 4 * WS_N, "joined": WS_N, "left": WS_N}


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(gt=0)


class ItemOut(pydantic.BaseModel):
    name: str


class Point(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class Note:
    text: str


class Login(pydantic.BaseModel):
    user: str
    password: str


MODEL_HANDLERS = ("create_pydantic", "create_struct", "create_dataclass", "search", "form_login")
MODEL_N = 300


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_no_framework_python_for_validated_models(loop_kind: str) -> None:
    """FastAPI's features under the same rule: bodies validated into pydantic models, msgspec Structs and
    dataclasses, response models serialising the result, marker parameters with rules, a form into a model; all of
    it runs the libraries' native callables from C++, no function of the tiercel package."""
    from conftest import RunningServer

    app = Tiercel(__file__)

    @app.post("/items", status_code=201)
    def create_pydantic(item: Item) -> ItemOut:
        return item  # filtered to ItemOut's fields by the response model

    @app.post("/points")
    async def create_struct(point: Point) -> Point:
        return point

    @app.post("/notes")
    def create_dataclass(note: Note) -> Note:
        return note

    @app.get("/search")
    def search(q: Annotated[str, Query(min_length=2, pattern="^[a-z]+$")],
               size: Annotated[int, Query(ge=1, le=50, alias="page-size")] = 10,
               agent: Annotated[str | None, Header(alias="user-agent")] = None):  # fmt: skip
        return {"q": q, "size": size}

    @app.post("/login")
    def form_login(login: Annotated[Login, Form()]):
        return login.user

    recorder = CallRecorder()
    recorder.handler_names = MODEL_HANDLERS
    server = RunningServer(app, loop_kind)
    server.profile = recorder
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.get("/search?q=ab")  # warm-up
            recorder.recording = True
            for _ in range(MODEL_N):
                r = client.post("/items", json={"name": "pen", "price": 2})
                assert (r.status_code, r.json()) == (201, {"name": "pen"})
                assert client.post("/points", json={"x": 1, "y": 2}).json() == {"x": 1, "y": 2}
                assert client.post("/notes", json={"text": "hi"}).json() == {"text": "hi"}
                assert client.get("/search?q=ab&page-size=5").json() == {"q": "ab", "size": 5}
                assert client.post("/login", data={"user": "ann", "password": "x"}).text == "ann"
            recorder.recording = False
    finally:
        server.stop()
    assert recorder.handler_calls == {name: MODEL_N for name in MODEL_HANDLERS}
    assert dict(recorder.tiercel_calls) == {}, f"framework Python ran per request: {recorder.tiercel_calls}"


BG_HANDLERS = ("takes_tasks", "adds_tasks", "on_the_loop")


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_no_framework_python_per_request_with_background_tasks(loop_kind: str) -> None:
    """BackgroundTasks are native too: the argument, add_task, starting the tasks once the answer is out, their
    done-callbacks and the counting run no function of the tiercel package, whether a route adds tasks or not."""
    from conftest import RunningServer

    app = Tiercel(__file__)
    ended = threading.Semaphore(0)

    def in_the_pool(n: int) -> None:  # runs in the thread pool, which the profiler does not watch
        pass

    async def on_the_loop(n: int, *, last: bool) -> None:
        if last:
            ended.release()

    @app.get("/none")
    def takes_tasks(tasks: tiercel.BackgroundTasks):
        return "none"

    @app.post("/some/:n")
    def adds_tasks(n: int, tasks: tiercel.BackgroundTasks):
        tasks.add_task(in_the_pool, n)
        tasks.add_task(on_the_loop, n, last=True)
        return "some"

    recorder = CallRecorder()
    recorder.handler_names = BG_HANDLERS
    server = RunningServer(app, loop_kind, metrics="/metrics")
    server.profile = recorder
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.get("/none")  # warm-up
            recorder.recording = True
            for _ in range(N):
                assert client.get("/none").text == "none"
            for i in range(N):
                assert client.post(f"/some/{i}").text == "some"
            for _ in range(N):  # every request's last task ran (each ends its request's tasks)
                assert ended.acquire(timeout=10)
            recorder.recording = False
    finally:
        server.stop()
    assert recorder.handler_calls == {"takes_tasks": N, "adds_tasks": N, "on_the_loop": N}
    assert dict(recorder.tiercel_calls) == {}, f"framework Python ran per request: {recorder.tiercel_calls}"


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_no_framework_python_for_a_mounted_asgi_app(loop_kind: str) -> None:
    """The same rule for an ASGI application mounted in a Tiercel app: the scope, receive() and send() are native,
    for a whole answer and for a streamed one."""
    from conftest import RunningServer

    async def asgi_app(scope, receive, send):
        event = await receive()
        more = scope["path"].endswith("/stream")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"got " + event["body"], "more_body": more})
        if more:
            await send({"type": "http.response.body", "body": b" and more"})

    app = Tiercel(__file__)
    app.mount("/asgi", asgi_app)
    recorder = CallRecorder()
    recorder.handler_names = ("asgi_app",)
    server = RunningServer(app, loop_kind)
    server.profile = recorder
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.post("/asgi/whole", content=b"x")  # warm-up
            recorder.recording = True
            for _ in range(N):
                assert client.post("/asgi/whole", content=b"x").text == "got x"
            for _ in range(N):
                assert client.post("/asgi/stream", content=b"y").text == "got y and more"
            recorder.recording = False
    finally:
        server.stop()
    assert recorder.handler_calls == {"asgi_app": 2 * N}
    assert dict(recorder.tiercel_calls) == {}, f"framework Python ran per request: {recorder.tiercel_calls}"
