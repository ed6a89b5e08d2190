"""HTTP/1.1 behaviour of the engine on real sockets: keep-alive, pipelining, request bodies,
100-continue, HEAD, 404/405, Date/Server headers, backpressure, many connections and disconnects.

Byte-exact cases use raw sockets. Nothing sleeps to wait for the server: a test blocks on recv with a
socket timeout larger than whatever it waits for, and asserts on what arrives. Bad input, limits and
timeouts are in test_http1_limits.py.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import random
import re
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from conftest import split_responses

from tiercel import Tiercel

BIG = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # an 8 MB response body


# ---------------------------------------------------------------------------------------------------
# Raw-socket client


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes
    head: bytes  # the raw status line and header block, final CRLFCRLF included


class Conn:
    """One client connection with a read buffer; reads whole responses framed by Content-Length."""

    def __init__(self, port: int, *, timeout: float = 5.0, rcvbuf: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window is small from the handshake on.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_head(self) -> Resp:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if not self._fill():
                raise AssertionError(f"connection closed before a whole response head: {bytes(self.buf)!r}")
        head = bytes(self.buf[: end + 4])
        del self.buf[: end + 4]
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, _reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", head
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"malformed header line {line!r}"
            assert name.lower() not in headers, f"duplicate header {name!r} in {head!r}"
            headers[name.lower()] = value.strip()
        return Resp(int(status), headers, b"", head)

    def read_response(self, *, head_request: bool = False) -> Resp:
        r = self.read_head()
        if head_request or r.status < 200 or r.status in (204, 304):
            return r
        n = int(r.headers["content-length"])
        while len(self.buf) < n:
            if not self._fill():
                raise AssertionError(f"connection closed after {len(self.buf)} of {n} body bytes")
        r.body = bytes(self.buf[:n])
        del self.buf[:n]
        return r

    def expect_eof(self, timeout: float = 3.0) -> None:
        """The server closes the connection (FIN, not a reset) within `timeout`, sending nothing more."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            raise AssertionError("the connection was reset instead of closed") from None
        except TimeoutError:
            raise AssertionError(f"the server did not close the connection within {timeout} s") from None
        assert not self.buf, f"unexpected bytes before the close: {bytes(self.buf[:200])!r}"

    def close(self) -> None:
        self.sock.close()


class Connector:
    """connect(port, **kw) -> Conn; every connection is closed by close_all()."""

    def __init__(self) -> None:
        self.opened: list[Conn] = []

    def __call__(self, port: int, **kw) -> Conn:
        c = Conn(port, **kw)
        self.opened.append(c)
        return c

    def close_all(self) -> None:
        for c in self.opened:
            c.close()


@pytest.fixture
def connect():
    connector = Connector()
    yield connector
    connector.close_all()


def get(path: str, extra: bytes = b"", version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: t\r\n".encode() + extra + b"\r\n"


# ---------------------------------------------------------------------------------------------------
# The application under test


@dataclass
class Recorder:
    """What the handlers saw (written on the server thread, read by the test)."""

    calls: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    big_started: threading.Event = field(default_factory=threading.Event)
    hang_started: threading.Event = field(default_factory=threading.Event)
    hang_cancelled: threading.Event = field(default_factory=threading.Event)

    def count(self, name: str) -> int:
        return sum(1 for c in self.calls if c == name)


def make_app(rec: Recorder) -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/")
    def root(request):
        rec.calls.append("root")
        return "root"

    @app.get("/hello")
    def hello(request):
        rec.calls.append("hello")
        return "Hello, World!"

    @app.get("/sync/:id")
    def sync_id(request):
        i = request.path_params["id"]
        rec.calls.append("sync")
        rec.completed.append(i)
        return f"sync {i}"

    @app.get("/async/:id")
    async def async_id(request):
        i = request.path_params["id"]
        rec.calls.append("async")
        # Later requests sleep less, so they finish first: the server must still answer in order.
        await asyncio.sleep(0.003 * (10 - int(i) % 10))
        rec.completed.append(i)
        return f"async {i}"

    @app.post("/echo")
    def echo(request):
        rec.calls.append("echo")
        return request.raw_body

    @app.post("/hash")
    def hash_body(request):
        rec.calls.append("hash")
        body = request.raw_body
        return {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    @app.get("/x")
    def x_get(request):
        rec.calls.append("x")
        return "x get"

    @app.post("/x")
    def x_post(request):
        rec.calls.append("x")
        return "x post"

    @app.get("/big")
    def big(request):
        rec.calls.append("big")
        rec.big_started.set()
        return BIG

    @app.get("/hang")
    async def hang(request):
        rec.calls.append("hang")
        rec.hang_started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            rec.hang_cancelled.set()
            raise
        return "never"

    return app


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


# ---------------------------------------------------------------------------------------------------
# Keep-alive


def test_keepalive_sequential_requests_on_one_raw_connection(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    for i in range(5):
        c.send(get(f"/sync/{i}"))
        r = c.read_response()
        assert (r.status, r.body) == (200, f"sync {i}".encode())
        assert "connection" not in r.headers  # HTTP/1.1 keep-alive is the default: nothing to say
    assert s.call(lambda: s.server.engine.connection_count) == 1


def test_keepalive_httpx_client_reuses_one_connection(serve, loop_kind, rec):
    s = serve(make_app(rec), loop_kind)
    with httpx.Client(base_url=s.url, timeout=5) as client:
        for i in range(5):
            assert client.get(f"/sync/{i}").text == f"sync {i}"
        assert client.post("/echo", content=b"abc").content == b"abc"
        # The server saw a single connection for all six requests.
        assert s.call(lambda: s.server.engine.connection_count) == 1


def test_http10_without_keepalive_closes_after_response(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"GET /hello HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"Hello, World!")
    assert r.headers["connection"] == "close"
    c.expect_eof()


def test_http10_with_keepalive_stays_open(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    for i in range(3):
        c.send(f"GET /sync/{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
        r = c.read_response()
        assert (r.status, r.body) == (200, f"sync {i}".encode())
        assert r.headers["connection"] == "keep-alive"
    # The same connection without the token is closed after its answer.
    c.send(b"GET /hello HTTP/1.0\r\n\r\n")
    assert c.read_response().headers["connection"] == "close"
    c.expect_eof()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_http11_connection_close_is_honoured(serve, loop_kind, rec, connect, kind):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    # A request pipelined after `Connection: close` is not answered (nor handled).
    c.send(get(f"/{kind}/1", b"Connection: close\r\n") + get(f"/{kind}/2"))
    r = c.read_response()
    assert (r.status, r.body) == (200, f"{kind} 1".encode())
    assert r.headers["connection"] == "close"
    c.expect_eof()
    assert rec.completed == ["1"]


# ---------------------------------------------------------------------------------------------------
# Pipelining


def test_pipelined_sync_requests_answered_in_order(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"".join(get(f"/sync/{i}") for i in range(10)))
    bodies = [c.read_response().body for _ in range(10)]
    assert bodies == [f"sync {i}".encode() for i in range(10)]


def test_pipelined_mix_of_sync_and_suspending_async_answered_in_order(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    paths = [f"/sync/{i}" if i % 2 == 0 else f"/async/{i}" for i in range(10)]
    c.send(b"".join(get(p) for p in paths))
    responses = [c.read_response() for _ in range(10)]
    assert [r.status for r in responses] == [200] * 10
    assert [r.body.decode() for r in responses] == [f"{p.split('/')[1]} {p.split('/')[2]}" for p in paths]
    # The async handlers really suspended and finished out of order, so the server had to reorder.
    assert rec.completed != [str(i) for i in range(10)]
    assert sorted(rec.completed, key=int) == [str(i) for i in range(10)]
    # And the connection is still in sync afterwards.
    c.send(get("/hello"))
    assert c.read_response().body == b"Hello, World!"


def test_pipelined_beyond_max_pipelined_still_answered_in_order(serve, loop_kind, rec, connect):
    # With at most 2 answers pending per connection, parsing pauses and resumes as handlers finish.
    s = serve(make_app(rec), loop_kind, max_pipelined=2)
    c = connect(s.port)
    c.send(b"".join(get(f"/async/{i}") for i in range(10)) + get("/sync/10"))
    expected = [f"async {i}".encode() for i in range(10)] + [b"sync 10"]
    assert [c.read_response().body for _ in range(11)] == expected


# ---------------------------------------------------------------------------------------------------
# Request bodies


def test_chunked_body_with_extensions_and_trailers(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n"
        b'6;name="quoted \\" value";flag\r\n world\r\n'
        b"A\r\n, chunked!\r\n"
        b"0;last\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
    )
    r = c.read_response()
    assert (r.status, r.body) == (200, b"hello world, chunked!")
    # The trailer section was consumed exactly: the next request on the connection parses.
    c.send(get("/hello"))
    assert c.read_response().body == b"Hello, World!"


def _dribble(c: Conn, data: bytes, rng: random.Random) -> None:
    i = 0
    while i < len(data):
        n = rng.randint(1, 7)
        c.send(data[i : i + n])
        i += n


def test_content_length_body_in_many_small_writes(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    body = random.Random(1).randbytes(3000)
    _dribble(
        c, f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body, random.Random(2)
    )
    r = c.read_response()
    assert (r.status, r.body) == (200, body)
    c.send(get("/hello"))
    assert c.read_response().body == b"Hello, World!"


def test_chunked_body_in_many_small_writes(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    rng = random.Random(3)
    body = rng.randbytes(3000)
    wire = bytearray(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    i = 0
    while i < len(body):
        n = rng.randint(1, 300)
        wire += b"%x;n=%d\r\n" % (len(body[i : i + n]), n) + body[i : i + n] + b"\r\n"
        i += n
    wire += b"0\r\nX-T: 1\r\n\r\n"
    _dribble(c, bytes(wire), rng)
    r = c.read_response()
    assert (r.status, r.body) == (200, body)
    c.send(get("/hello"))
    assert c.read_response().body == b"Hello, World!"


def test_five_megabyte_content_length_body(serve, loop_kind, rec):
    s = serve(make_app(rec), loop_kind)
    body = random.Random(4).randbytes(5 * 1024 * 1024)
    with httpx.Client(base_url=s.url, timeout=10) as client:
        r = client.post("/hash", content=body)
    assert r.status_code == 200
    assert r.json() == {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_five_megabyte_chunked_body(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    rng = random.Random(5)
    body = rng.randbytes(5 * 1024 * 1024)
    parts = [b"POST /hash HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"]
    i = 0
    while i < len(body):
        n = rng.choice([1, 17, 4096, 65536, 200_000])
        piece = body[i : i + n]
        parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        i += n
    parts.append(b"0\r\n\r\n")
    c = connect(s.port, timeout=10)
    c.send(b"".join(parts))
    r = c.read_response()
    assert r.status == 200
    assert r.body == b'{"len":%d,"sha256":"%s"}' % (len(body), hashlib.sha256(body).hexdigest().encode())


# ---------------------------------------------------------------------------------------------------
# Expect: 100-continue


def test_expect_100_continue_before_body(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    # Nothing of the body was sent: this only arrives if the server asks for it.
    interim = c.read_head()
    assert interim.head == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert rec.calls == []
    c.send(b"hello")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"hello")
    assert not c.buf


def test_expect_100_continue_with_chunked_body(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
    assert c.read_head().head == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"3\r\nabc\r\n0\r\n\r\n")
    assert c.read_response().body == b"abc"


def test_expect_100_continue_not_sent_when_body_too_large(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, max_body=100)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    assert r.status == 413  # the final answer at once, without an interim 100
    c.expect_eof()
    assert rec.calls == []


# ---------------------------------------------------------------------------------------------------
# Backpressure


def test_backpressure_slow_reader_gets_every_byte_while_others_are_served(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    n = 6
    # A small receive window so the server's writes back up almost at once.
    slow = connect(s.port, rcvbuf=64 * 1024, timeout=10)
    slow.send(get("/big") * n)  # 48 MB of answers asked for, none read yet
    assert rec.big_started.wait(5)
    with httpx.Client(base_url=s.url, timeout=5) as client:
        for _ in range(5):
            assert client.get("/hello").text == "Hello, World!"
    # Output over the write watermark stops the server from producing more answers for this
    # connection: only about one 8 MB answer is buffered, not all of them.
    assert rec.count("big") <= 2
    for _ in range(n):
        r = slow.read_response()
        assert r.status == 200
        assert len(r.body) == len(BIG) and r.body == BIG
    assert rec.count("big") == n
    slow.send(get("/hello"))
    assert slow.read_response().body == b"Hello, World!"


def test_pipelined_answers_over_small_write_watermark_all_arrive(serve, loop_kind, rec, connect):
    # Parsing stops each time ~1 KB of answers is pending and resumes once it is written: nothing stalls.
    s = serve(make_app(rec), loop_kind, write_high_watermark=1024)
    c = connect(s.port)
    c.send(b"".join(get(f"/sync/{i}") for i in range(300)))
    assert [c.read_response().body for _ in range(300)] == [f"sync {i}".encode() for i in range(300)]


# ---------------------------------------------------------------------------------------------------
# Many connections


def _ensure_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def test_thousand_concurrent_connections(serve, loop_kind, rec):
    n = 1000
    _ensure_nofile(2 * n + 256)  # client and server ends live in this process
    s = serve(make_app(rec), loop_kind)
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))
        for i, sock in enumerate(socks):
            sock.sendall(b"GET /sync/%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
        bufs = [b""] * n
        answers: dict[int, tuple[int, dict[str, str], bytes]] = {}
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + 30
        while len(answers) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(answers)} of {n} connections answered"
            for key, _ in sel.select(left):
                i = key.data
                chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                assert chunk, f"connection {i} closed before its answer"
                bufs[i] += chunk
                done, _rest = split_responses(bufs[i])
                if done:
                    answers[i] = done[0]
                    sel.unregister(key.fileobj)
        for i in range(n):
            status, _headers, body = answers[i]
            assert (status, body) == (200, b"sync %d" % i)
        # All of them were open at the same time.
        assert s.call(lambda: s.server.engine.connection_count) == n
    finally:
        sel.close()
        for sock in socks:
            sock.close()


# ---------------------------------------------------------------------------------------------------
# Disconnects


def test_client_disconnects_mid_body(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500)
    c.close()
    c2 = connect(s.port)
    c2.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    assert c2.read_response().body == b"abc"
    assert rec.count("echo") == 1  # only the complete request reached the handler


def test_client_disconnects_while_async_handler_suspended(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(get("/hang"))
    assert rec.hang_started.wait(5)
    c.close()
    # The server notices the close and cancels the handler's task at once (not after a linger delay).
    assert rec.hang_cancelled.wait(1)
    c2 = connect(s.port)
    c2.send(get("/hello"))
    assert c2.read_response().body == b"Hello, World!"
    assert s.call(lambda: s.server.engine.pending_count) == 0


# ---------------------------------------------------------------------------------------------------
# HEAD, 404, 405, trailing slash


def test_head_for_get_route_sends_length_but_no_body(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head_request=True)
    assert r.status == 200
    assert r.headers["content-length"] == str(len(b"Hello, World!"))
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    # Had any body bytes followed the head, this answer would not start where it is read.
    c.send(get("/"))
    r2 = c.read_response()
    assert (r2.status, r2.body) == (200, b"root")
    assert r2.head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert not c.buf


def test_not_found(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(get("/nope"))
    r = c.read_response()
    assert r.status == 404
    # A 404 keeps the connection usable.
    c.send(get("/hello"))
    assert c.read_response().status == 200


def test_method_not_allowed_lists_allowed_methods(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    c.send(b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    c.send(b"PUT /x/ HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    r = c.read_response()
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert rec.calls == []


def test_trailing_slash_is_normalised(serve, loop_kind, rec):
    s = serve(make_app(rec), loop_kind)
    with httpx.Client(base_url=s.url, timeout=5) as client:
        assert client.get("/x/").text == "x get"
        assert client.post("/x/").text == "x post"
        assert client.get("/hello/").text == "Hello, World!"
        assert client.get("/sync/7/").text == "sync 7"


# ---------------------------------------------------------------------------------------------------
# Date and Server headers

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"[0-2]\d:[0-5]\d:[0-6]\d GMT"
)


def test_date_header_is_imf_fixdate_and_current(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    for req in (get("/hello"), get("/nope"), b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n"):
        c.send(req)
        date = c.read_response().headers["date"]
        assert IMF_FIXDATE.fullmatch(date), date
        when = email.utils.parsedate_to_datetime(date).timestamp()
        assert abs(when - time.time()) < 5


def test_server_header_default(serve, loop_kind, rec):
    s = serve(make_app(rec), loop_kind)
    assert httpx.get(s.url + "/hello").headers["server"] == "tiercel"


def test_server_header_empty_sends_none(serve, loop_kind, rec):
    s = serve(make_app(rec), loop_kind, server_header="")
    assert "server" not in httpx.get(s.url + "/hello").headers


def test_server_header_configurable(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, server_header="custom")
    c = connect(s.port)
    for req in (get("/hello"), get("/nope")):
        c.send(req)
        assert c.read_response().headers["server"] == "custom"
    c.send(b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n")  # refused input is answered with it too
    r = c.read_response()
    assert (r.status, r.headers["server"]) == (400, "custom")


def test_large_bodies_pipelined_to_a_slow_reader_arrive_byte_exact(serve, loop_kind):
    """Large bodies go out straight from the handler's bytes when they are next on the wire (what the socket
    does not take is queued); mixed with small, async and HEAD answers they stay in order and byte-exact."""
    import time

    app = Tiercel(__file__)
    pattern = bytes(range(251)) * 4000  # a prime period: a misplaced slice shows

    def body(n: int) -> bytes:
        return pattern[:n]

    @app.get("/b/:n")
    def sized(request):
        return body(int(request.path_params["n"]))

    @app.get("/slow/:n")
    async def slow(request):
        await asyncio.sleep(0.05)
        return body(int(request.path_params["n"]))

    s = serve(app, loop_kind)
    plan = [("GET", "/b/100"), ("GET", "/b/70000"), ("GET", "/slow/20000"), ("GET", "/b/16384"),
            ("HEAD", "/b/50000"), ("GET", "/b/1000000"), ("GET", "/b/5"), ("GET", "/b/17000")]  # fmt: skip
    request = b"".join(f"{m} {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for m, p in plan)
    request += b"GET /b/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(request)
        time.sleep(0.3)  # let the server fill the socket buffers and queue the rest
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    # HEAD answers carry Content-Length but no body: split them off by hand.
    responses = []
    for method, _ in [*plan, ("GET", "/b/1")]:
        end = data.index(b"\r\n\r\n") + 4
        head = data[:end].decode("latin-1")
        length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
        size = 0 if method == "HEAD" else length
        responses.append((head, length, data[end : end + size]))
        data = data[end + size :]
    assert data == b""
    for (method, path), (head, length, got) in zip([*plan, ("GET", "/b/1")], responses, strict=True):
        n = int(path.rsplit("/", 1)[1])
        assert head.startswith("HTTP/1.1 200 "), path
        assert length == n, path
        assert got == (b"" if method == "HEAD" else body(n)), path
