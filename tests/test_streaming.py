"""Streaming responses and server-sent events: chunked framing, pull-based backpressure, disconnects, errors,
HTTP/1.0, HEAD, pipelining, hooks; SSE framing, timing and keep-alive pings."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time

import httpx
import pytest

from tiercel import SSEMessage, SSEResponse, StreamingResponse, TestClient, Tiercel


def read_until_close(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def make_app(events: dict) -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/sync")
    def sync_stream():
        def gen():
            for i in range(5):
                yield f"line {i}\n"
            yield b"bytes too\n"

        return StreamingResponse(gen(), media_type="text/csv")

    @app.get("/async")
    async def async_stream():
        async def gen():
            for i in range(3):
                await asyncio.sleep(0.2)
                yield f"tick {i}\n"

        return StreamingResponse(gen(), headers={"X-Stream": "yes"})

    @app.get("/forever")
    def forever():
        def gen():
            try:
                while True:
                    events["produced"] = events.get("produced", 0) + 1
                    yield b"x" * 65536
            finally:
                events["sync_closed"] = True

        return StreamingResponse(gen(), media_type="application/octet-stream")

    @app.get("/forever-async")
    async def forever_async():
        async def gen():
            try:
                while True:
                    await asyncio.sleep(0.01)
                    yield "data\n"
            finally:
                events["async_closed"] = True

        return StreamingResponse(gen())

    @app.get("/fails")
    def fails():
        def gen():
            yield "first\n"
            raise RuntimeError("the stream broke")

        return StreamingResponse(gen())

    @app.get("/bad-item")
    def bad_item():
        return StreamingResponse(iter(["ok\n", 42]))

    @app.get("/plain")
    def plain():
        return "plain"

    @app.get("/sse")
    async def sse(headers):
        last = headers.get("last-event-id")

        async def gen():
            yield SSEMessage("hello\nworld", event="greeting", id=1, retry=2500)
            await asyncio.sleep(0.3)
            yield {"n": 2}
            yield SSEMessage(data=f"last={last}")

        return SSEResponse(gen(), ping_interval=0)

    @app.get("/sse-quiet")
    async def sse_quiet():
        async def gen():
            await asyncio.sleep(1.0)
            yield SSEMessage("late")

        return SSEResponse(gen(), ping_interval=0.2)

    @app.get("/blocking-gen", blocking=True)
    def blocking_gen():
        def gen():
            try:
                for i in range(3):
                    time.sleep(0.3)  # blocks: with blocking=True it runs in the pool, not on the loop
                    events.setdefault("pool_threads", set()).add(threading.current_thread().name)
                    yield f"item {i}\n"
                while events.get("forever"):
                    time.sleep(0.05)
                    yield "more\n"
            finally:
                events["blocking_closed"] = True

        return StreamingResponse(gen())

    return app


@pytest.fixture
def app_events():
    return {}


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_sync_and_async_generators_are_chunked(serve, loop_kind, app_events):
    s = serve(make_app(app_events), loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/sync")
        assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
        assert r.headers["content-type"] == "text/csv"
        assert r.text == "".join(f"line {i}\n" for i in range(5)) + "bytes too\n"
        # Each item reaches the client when it is yielded, not at the end.
        arrivals = []
        started = time.monotonic()
        with c.stream("GET", "/async") as r:
            assert r.headers["x-stream"] == "yes"
            for chunk in r.iter_text():
                arrivals.append((round(time.monotonic() - started, 1), chunk))
        assert [chunk for _, chunk in arrivals] == ["tick 0\n", "tick 1\n", "tick 2\n"]
        assert arrivals[0][0] < 0.45 and arrivals[2][0] >= 0.55
        # The connection is reused after a stream (keep-alive).
        assert c.get("/plain").text == "plain"


def test_http10_client_gets_a_close_delimited_body(serve, app_events):
    s = serve(make_app(app_events))
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"GET /sync HTTP/1.0\r\n\r\n")
        raw = read_until_close(sock)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body.startswith(b"line 0\nline 1\n") and body.endswith(b"bytes too\n")


def test_head_sends_no_body(serve, app_events):
    s = serve(make_app(app_events))
    r = httpx.head(s.url + "/forever")
    assert r.status_code == 200 and r.content == b""
    time.sleep(0.1)
    assert "produced" not in app_events  # the generator never ran


def test_pipelined_answers_stay_in_order(serve, app_events):
    s = serve(make_app(app_events))
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(
            b"GET /async HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = read_until_close(sock)
    assert raw.index(b"tick 2") < raw.index(b"\r\n\r\nplain")
    assert raw.endswith(b"plain")


def test_backpressure_pulls_only_what_the_client_takes(serve, app_events):
    s = serve(make_app(app_events))
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.recv(1000)
    time.sleep(0.5)
    produced = app_events["produced"]
    time.sleep(0.5)
    # The client reads nothing: the generator is paused (watermark 1 MiB plus the kernel's socket buffers).
    assert app_events["produced"] == produced
    assert produced * 65536 < 16 * 1024 * 1024
    # Reading resumes it.
    for _ in range(200):
        sock.recv(65536)
    time.sleep(0.2)
    assert app_events["produced"] > produced
    sock.close()
    for _ in range(50):
        if app_events.get("sync_closed"):
            break
        time.sleep(0.05)
    assert app_events.get("sync_closed"), "closing the connection must close the generator"


def test_disconnect_stops_an_async_generator(serve, app_events):
    s = serve(make_app(app_events))
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/forever-async") as r:
        next(r.iter_bytes())
    for _ in range(50):
        if app_events.get("async_closed"):
            break
        time.sleep(0.05)
    assert app_events.get("async_closed")
    assert httpx.get(s.url + "/plain").text == "plain"


def test_blocking_route_pulls_its_sync_generator_in_the_pool(serve, app_events):
    s = serve(make_app(app_events))
    result: list[httpx.Response] = []
    t = threading.Thread(target=lambda: result.append(httpx.get(s.url + "/blocking-gen", timeout=10)))
    t.start()
    time.sleep(0.1)
    with httpx.Client(base_url=s.url) as c:  # the loop answers while the generator sleeps in the pool
        t0 = time.monotonic()
        for _ in range(5):
            assert c.get("/plain").text == "plain"
        assert time.monotonic() - t0 < 0.25
    t.join(10)
    assert result[0].text == "item 0\nitem 1\nitem 2\n"
    assert all(name.startswith("tiercel-blocking") for name in app_events["pool_threads"])
    assert app_events["blocking_closed"]
    # A client that leaves stops it: GeneratorExit reaches the generator once the pool is done with it.
    app_events.clear()
    app_events["forever"] = True
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/blocking-gen") as r:
        next(r.iter_bytes())
    for _ in range(100):
        if app_events.get("blocking_closed"):
            break
        time.sleep(0.05)
    assert app_events.get("blocking_closed"), "closing the connection must close the generator"


def test_errors_mid_stream_cut_the_body(serve, app_events, caplog):
    s = serve(make_app(app_events))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(s.url + "/fails")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(s.url + "/bad-item")
    assert "the stream broke" in caplog.text
    assert "a streamed item must be str or bytes, not 'int'" in caplog.text
    assert httpx.get(s.url + "/plain").text == "plain"  # the server goes on


def test_bad_streaming_responses_are_refused_at_once():
    with pytest.raises(TypeError, match="iterable"):
        StreamingResponse(42)
    with pytest.raises(TypeError, match="for a str or bytes body use Response"):
        StreamingResponse("text")
    with pytest.raises(ValueError, match="ping_interval"):
        SSEResponse(iter([]), ping_interval=-1)


def test_hooks_see_a_streaming_response():
    app = Tiercel(__file__)

    @app.get("/s")
    def s():
        return StreamingResponse(iter(["a", "b"]))

    @app.after_request("/s")
    def after(response):
        response.headers.set("x-after", "1")
        return response

    with TestClient(app) as client:
        r = client.get("/s")
        assert (r.text, r.headers["x-after"], r.headers["transfer-encoding"]) == ("ab", "1", "chunked")


# ---- each item leaves when it is yielded, and a generator that blocks does not stall the loop -------------------
def gated_app(gate: threading.Event, seen: dict) -> Tiercel:
    """Generators that yield one item, then wait for `gate` (which the test sets once it has read that item), then
    sleep between two more items: sync ones block (gate.wait, time.sleep, as Robyn's examples do), async ones await."""
    app = Tiercel(__file__)
    items = {"sse": [SSEMessage("1"), SSEMessage("2"), SSEMessage("3")], "stream": ["1\n", "2\n", "3\n"]}

    def sync_gen(kind):
        yield items[kind][0]
        seen["gate"] = gate.wait(5)
        time.sleep(0.3)
        yield items[kind][1]
        time.sleep(0.3)
        yield items[kind][2]

    async def async_gen(kind):
        yield items[kind][0]
        seen["gate"] = await asyncio.to_thread(gate.wait, 5)
        await asyncio.sleep(0.3)
        yield items[kind][1]
        await asyncio.sleep(0.3)
        yield items[kind][2]

    @app.get("/sse-sync")
    def sse_sync():
        return SSEResponse(sync_gen("sse"), ping_interval=0)

    @app.get("/sse-async")
    def sse_async():
        return SSEResponse(async_gen("sse"), ping_interval=0)

    @app.get("/stream-sync")
    def stream_sync():
        return StreamingResponse(sync_gen("stream"))

    @app.get("/stream-async")
    def stream_async():
        return StreamingResponse(async_gen("stream"))

    @app.get("/plain")
    def plain():
        return "plain"

    return app


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
@pytest.mark.parametrize("route", ["/sse-sync", "/stream-sync", "/sse-async", "/stream-async"])
def test_each_item_leaves_when_yielded_and_the_loop_stays_free(serve, route, http2):
    gate, seen = threading.Event(), {}
    s = serve(gated_app(gate, seen))
    expected = b"data: 1\n\ndata: 2\n\ndata: 3\n\n" if route.startswith("/sse") else b"1\n2\n3\n"
    with httpx.Client(base_url=s.url, http1=not http2, http2=http2, timeout=3) as c, c.stream("GET", route) as r:
        chunks = r.iter_bytes()
        first = next(chunks)  # the generator waits for the gate: this is its first item, not the end of a batch
        assert first == expected[: len(first)] and len(first) >= 2
        # While the generator blocks, the server answers another route at once.
        started = time.monotonic()
        assert httpx.get(s.url + "/plain", timeout=3).text == "plain"
        assert time.monotonic() - started < 0.5
        gate.set()
        assert first + b"".join(chunks) == expected
    assert seen["gate"] is True  # the first item reached the client before the generator went on


def test_a_client_that_leaves_closes_a_sleeping_sync_generator_in_the_pool(serve):
    app = Tiercel(__file__)
    closed, closed_in = threading.Event(), []

    @app.get("/ticks")
    def ticks():
        def gen():
            try:
                while True:
                    yield SSEMessage("tick")
                    time.sleep(0.05)
            finally:
                closed_in.append(threading.current_thread().name)
                closed.set()

        return SSEResponse(gen(), ping_interval=0)

    s = serve(app)
    with httpx.Client(base_url=s.url, timeout=3) as c, c.stream("GET", "/ticks") as r:
        assert next(r.iter_bytes()).startswith(b"data: tick\n\n")
    assert closed.wait(5), "closing the connection must close the generator"
    assert closed_in[0].startswith("tiercel-blocking")  # its `finally` may block: not on the loop


def test_a_sync_generator_sees_the_requests_contextvars(serve):
    """Pulled in the pool, a sync generator still runs in the request's context: what a hook or the handler set."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
    app = Tiercel(__file__)

    @app.before_request()
    def tag(request):
        request_id.set(request.headers.get("x-request-id", "none"))
        return request

    def lines():
        for i in range(3):
            yield f"{i} {request_id.get()}\n"
            time.sleep(0.01)

    app.get("/s")(lambda request: StreamingResponse(lines()))
    s = serve(app)
    for rid in ("a1", "b2"):
        r = httpx.get(s.url + "/s", headers={"X-Request-Id": rid})
        assert r.text == f"0 {rid}\n1 {rid}\n2 {rid}\n"


# ---- server-sent events ----------------------------------------------------------------------------------------
def test_sse_framing_and_timing(serve, app_events):
    s = serve(make_app(app_events))
    started = time.monotonic()
    received = []
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/sse", headers={"Last-Event-ID": "41"}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        buffer = ""
        for text in r.iter_text():
            buffer += text
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                received.append((time.monotonic() - started, event))
    events = [e for _, e in received]
    assert events == [
        "event: greeting\nid: 1\nretry: 2500\ndata: hello\ndata: world",
        'data: {"n":2}',
        "data: last=41",
    ]
    assert received[0][0] < 0.25 and received[1][0] >= 0.3  # the first event did not wait for the second


def test_sse_pings_keep_an_idle_stream_alive(serve, app_events):
    s = serve(make_app(app_events))
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/sse-quiet") as r:
        body = "".join(r.iter_text())
    assert body.count(": ping\n\n") >= 3
    assert body.endswith("data: late\n\n")


def test_sse_message_is_sse_text_as_in_robyn():
    message = SSEMessage("hello\r\nworld\rlast\n", event="greeting", id=7, retry=2500)
    assert isinstance(message, str)
    assert message == "event: greeting\nid: 7\nretry: 2500\ndata: hello\ndata: world\ndata: last\ndata: \n\n"
    assert SSEMessage("x") == "data: x\n\n"
    assert SSEMessage("") == SSEMessage(None) == "data: \n\n"  # as Robyn: an empty data line
    assert SSEMessage("x", event="", id="") == "data: x\n\n"  # empty event/id are left out, as Robyn does
    assert SSEMessage(3, id=0, retry=0) == "id: 0\nretry: 0\ndata: 3\n\n"  # 0 is a value (Robyn drops it)
    assert SSEMessage({"n": [1, 2]}) == 'data: {"n":[1,2]}\n\n'  # JSON (Robyn would write the repr)
    assert SSEMessage(b"caf\xc3\xa9") == "data: caf\u00e9\n\n"  # UTF-8 (Robyn would write "b'...'")


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"event": "a\ndata: forged"}, ValueError, "SSE event must be one line"),
        ({"id": "1\r\nevent: forged"}, ValueError, "SSE id must be one line"),
        ({"id": "a\0b"}, ValueError, "SSE id must be one line"),
        ({"retry": -1}, ValueError, "retry must not be negative"),
        ({"retry": "soon"}, TypeError, "number of milliseconds"),
    ],
)
def test_sse_message_refuses_fields_that_would_forge_others(fields, error, message):
    with pytest.raises(error, match=message):
        SSEMessage("x", **fields)


def test_sse_items_pass_as_robyn_writes_them(serve, caplog):
    app = Tiercel(__file__)

    @app.get("/events")
    def events():
        def gen():
            yield SSEMessage("one", event="first", id=1)
            yield "event: raw\ndata: written by hand\n\n"  # SSE text passes as written
            yield "not SSE at all"  # also as written: the generator owns the format, as in Robyn
            yield b"\n\ndata: bytes\n\n"
            yield {"as": "json"}  # a Tiercel extension: one JSON data event
            yield ["list"]

        return SSEResponse(gen(), ping_interval=0)

    @app.get("/own-cache")
    def own_cache():
        # Robyn's parameter names, and its status_code=None
        return SSEResponse(content=iter([SSEMessage("x")]), status_code=None, headers={"Cache-Control": "private"})

    @app.get("/bad")
    def bad():
        return SSEResponse(iter([SSEMessage("ok"), 42]), ping_interval=0)

    s = serve(app)
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"GET /events HTTP/1.0\r\n\r\n")  # close-delimited: the body is the bytes sent
        head, body = read_until_close(sock).split(b"\r\n\r\n", 1)
    assert body == (
        b"event: first\nid: 1\ndata: one\n\n"
        b"event: raw\ndata: written by hand\n\n"
        b"not SSE at all"
        b"\n\ndata: bytes\n\n"
        b'data: {"as":"json"}\n\n'
        b'data: ["list"]\n\n'
    )
    lines = head.decode().lower().split("\r\n")
    for line in (
        "content-type: text/event-stream",
        "cache-control: no-cache, no-store, must-revalidate",  # Robyn's cache headers
        "pragma: no-cache",
        "expires: 0",
        "x-accel-buffering: no",
    ):
        assert lines.count(line) == 1, line
    assert sum(line.startswith("cache-control:") for line in lines) == 1
    r = httpx.get(s.url + "/own-cache")
    assert r.headers.get_list("cache-control") == ["private"]  # the handler's own, alone
    assert (r.status_code, r.headers["pragma"], r.text) == (200, "no-cache", "data: x\n\n")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(s.url + "/bad")  # the stream is cut, and the log says why
    assert "an SSE item must be SSE text (str, e.g. from SSEMessage), bytes, or a dict/list" in caplog.text


def test_sse_field_injection_never_reaches_the_client(serve, caplog):
    app = Tiercel(__file__)

    @app.get("/evil")
    def evil(query_params):
        return SSEResponse(iter([SSEMessage("x", event=query_params.get("name", ""))]), ping_interval=0)

    s = serve(app)
    r = httpx.get(s.url + "/evil", params={"name": "a\ndata: forged"})
    assert r.status_code == 500 and "forged" not in r.text
    assert "SSE event must be one line" in caplog.text


def test_streaming_through_the_test_client():
    with TestClient(make_app({})) as client:
        assert client.get("/sync").text.startswith("line 0\n")
        assert client.get("/async").text == "tick 0\ntick 1\ntick 2\n"


def test_many_streams_at_once(serve, app_events):
    s = serve(make_app(app_events))
    results = []

    def one():
        results.append(httpx.get(s.url + "/async", timeout=10).text)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["tick 0\ntick 1\ntick 2\n"] * 20
