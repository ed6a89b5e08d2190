"""HTTP/2 (RFC 9113): prior-knowledge h2c on cleartext and ALPN h2 over TLS, with every feature of the HTTP/1.1
pipeline unchanged (routing, bodies, streaming, SSE, files), flow control and backpressure, limits, GOAWAY on
graceful shutdown, and the known floods refused. Clients: httpx (HTTP/2), curl, h2load, and the h2 package for raw
frames."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import pytest
import trustme

from tiercel import Response, SSEMessage, SSEResponse, StreamingResponse, Tiercel


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_file(ca, tmp_path) -> str:
    path = str(tmp_path / "server.pem")
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(path)
    return path


def client_context(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def make_app(files_dir=None) -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/hello")
    def hello(request):
        return {"hello": "world", "scheme": request.url.scheme, "host": request.headers.get("host")}

    @app.get("/users/:id")
    def user(id: int, q: str = ""):
        return {"id": id, "q": q}

    @app.post("/echo")
    def echo(request):
        return request.raw_body

    @app.post("/sum", stream_body=True)
    async def digest(request):
        h, n = hashlib.sha256(), 0
        async for chunk in request.stream():
            h.update(chunk)
            n += len(chunk)
        return {"size": n, "sha256": h.hexdigest()}

    @app.get("/cookies")
    def cookies(request):
        return request.cookies

    @app.get("/stream")
    def stream():
        return StreamingResponse(f"line {i}\n" for i in range(2000))

    @app.get("/sse")
    async def sse():
        async def gen():
            for i in range(3):
                yield SSEMessage(str(i), event="tick")

        return SSEResponse(gen(), ping_interval=0)

    @app.get("/slow")
    async def slow():
        await asyncio.sleep(0.5)
        return "slow"

    @app.get("/later")
    async def later():
        await asyncio.sleep(0.01)
        return "later"

    @app.get("/nothing")
    async def nothing():
        await asyncio.sleep(0.01)
        return Response(204)

    if files_dir is not None:
        app.serve_directory("/files", str(files_dir))
    return app


def test_h2c_prior_knowledge(serve):
    s = serve(make_app())
    with httpx.Client(http1=False, http2=True, base_url=s.url) as c:
        r = c.get("/hello")
        assert r.http_version == "HTTP/2"
        assert r.json() == {"hello": "world", "scheme": "http", "host": f"127.0.0.1:{s.port}"}
        assert c.get("/users/7", params={"q": "x"}).json() == {"id": 7, "q": "x"}
        assert c.get("/missing").status_code == 404
        assert c.head("/hello").content == b""
    # HTTP/1.1 on the same port still works
    assert httpx.get(s.url + "/hello").http_version == "HTTP/1.1"


def test_h2_over_tls_with_alpn(serve, cert_file, ca, tmp_path):
    blob = os.urandom(3 << 20)
    (tmp_path / "big.bin").write_bytes(blob)
    s = serve(make_app(tmp_path), ssl_certfile=cert_file, max_body=16 << 20)
    with httpx.Client(http2=True, verify=client_context(ca), base_url=f"https://127.0.0.1:{s.port}", timeout=30) as c:
        r = c.get("/hello")
        assert r.http_version == "HTTP/2" and r.json()["scheme"] == "https"
        upload = os.urandom(5 << 20)
        assert c.post("/echo", content=upload).content == upload  # flow control both ways
        assert c.get("/stream").text == "".join(f"line {i}\n" for i in range(2000))
        assert hashlib.sha256(c.get("/files/big.bin").content).digest() == hashlib.sha256(blob).digest()
        r = c.get("/files/big.bin", headers={"Range": "bytes=10-19"})
        assert (r.status_code, r.content) == (206, blob[10:20])
        r = c.get("/sse")
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.text.count("event: tick") == 3
        assert c.get("/cookies", headers={"Cookie": "a=1; b=2"}).json() == {"a": "1", "b": "2"}
        big = c.post("/sum", content=iter([upload[i : i + 100_000] for i in range(0, len(upload), 100_000)]))
        assert big.json() == {"size": len(upload), "sha256": hashlib.sha256(upload).hexdigest()}
    # a client without h2 in its ALPN offer gets HTTP/1.1
    r = httpx.get(f"https://127.0.0.1:{s.port}/hello", verify=client_context(ca))
    assert r.http_version == "HTTP/1.1"


def test_concurrent_streams_on_one_connection(serve):
    s = serve(make_app())

    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, base_url=s.url) as c:
            t0 = time.monotonic()
            rs = await asyncio.gather(*(c.get("/slow") for _ in range(50)))
            return rs, time.monotonic() - t0

    rs, elapsed = asyncio.run(main())
    assert all(r.text == "slow" and r.http_version == "HTTP/2" for r in rs)
    assert elapsed < 3  # 50 half-second handlers at once on one connection, not one after another


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(serve, cert_file, ca, tmp_path):
    s = serve(make_app())
    out = subprocess.run(
        ["curl", "-s", "--http2-prior-knowledge", "-w", "%{http_version}", f"{s.url}/hello"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert out.stdout.endswith("2") and '"hello":"world"' in out.stdout
    tls = serve(make_app(), ssl_certfile=cert_file)
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    out = subprocess.run(
        ["curl", "-s", "--http2", "--cacert", ca_file, "-w", "%{http_version}", f"https://localhost:{tls.port}/hello"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert out.stdout.endswith("2") and '"scheme":"https"' in out.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_upgrade_h2c_is_answered_over_http1(serve):
    """`Upgrade: h2c` (deprecated by RFC 9113 §3.1, and not offered by nginx either) is not taken up: curl's
    `--http2` on an http:// URL asks for it, and gets its answer over HTTP/1.1 on the same connection."""
    s = serve(make_app())
    out = subprocess.run(
        ["curl", "-s", "-v", "--http2", "-w", "%{http_version}", f"{s.url}/hello", f"{s.url}/users/3"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert "Upgrade: h2c" in out.stderr and "HTTP2-Settings:" in out.stderr  # curl did ask
    assert '"hello":"world"' in out.stdout and '"id":3' in out.stdout and out.stdout.endswith("1.1")
    assert "Re-using existing connection" in out.stderr or "Reusing existing connection" in out.stderr


H2LOAD = shutil.which("h2load")
H2LOAD_DONE = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)


def h2load(*args: str) -> str:
    """Runs h2load to completion; returns its report after checking that every request succeeded."""
    out = subprocess.run([H2LOAD, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    m = H2LOAD_DONE.search(out.stdout)
    assert m, out.stdout
    total, started, done, succeeded, failed, errored = map(int, m.groups())
    assert total == started == done == succeeded and failed == errored == 0, out.stdout
    assert re.search(rf"status codes: {total} 2xx, 0 3xx, 0 4xx, 0 5xx", out.stdout), out.stdout
    return out.stdout


@pytest.mark.skipif(H2LOAD is None, reason="h2load (nghttp2-client) is not installed")
def test_h2load_h2c_many_streams(serve, tmp_path):
    """nghttp2's own load client: 20,000 requests over 8 connections with 32 streams each in flight, then 2,000
    uploads of 100 KB to a streamed-body route (flow control on every stream at once); all must succeed."""
    s = serve(make_app())
    report = h2load("-n20000", "-c8", "-m32", f"{s.url}/users/5?q=x")
    assert "Application protocol: h2c" in report
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(100_000))
    h2load("-n2000", "-c4", "-m16", "-d", str(body), f"{s.url}/sum")


@pytest.mark.skipif(H2LOAD is None, reason="h2load (nghttp2-client) is not installed")
def test_h2load_over_tls(serve, cert_file):
    """h2load over TLS: HTTP/2 chosen by ALPN, and HTTP/1.1 (`--h1`) with 8 requests pipelined per connection."""
    s = serve(make_app(), ssl_certfile=cert_file)
    url = f"https://127.0.0.1:{s.port}/hello"
    assert "Application protocol: h2" in h2load("-n10000", "-c4", "-m16", url)
    assert "Application protocol: http/1.1" in h2load("--h1", "-n10000", "-c4", "-m8", url)


# ---- raw frames (the h2 package) -----------------------------------------------------------------------------
class RawH2:
    """An h2 client connection over a plain socket (h2c prior knowledge)."""

    def __init__(self, port: int, **settings):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings({getattr(h2.settings.SettingCodes, k.upper()): v for k, v in settings.items()})
        self.flush()

    def __enter__(self) -> RawH2:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path: str, method: str = "GET", end: bool = True, extra=()) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "x"), *extra]
        self.conn.send_headers(sid, headers, end_stream=end)
        self.flush()
        return sid

    def events(self, until, timeout: float = 5) -> list:
        """Reads until `until(events)` is true or the server closes; returns every event."""
        out: list = []
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while not until(out) and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                out.append("closed")
                break
            try:
                out.extend(self.conn.receive_data(data))
            except h2.exceptions.ProtocolError as e:
                out.append(e)
                break
            self.flush()
        return out


def ended(sid):
    return lambda evs: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in evs)


def goaway(evs):
    return any(isinstance(e, h2.events.ConnectionTerminated) for e in evs) or "closed" in evs


def test_raw_streams_and_oversized_headers(serve):
    s = serve(make_app(), max_header_bytes=4096)
    with RawH2(s.port) as c:
        sid = c.request("/hello")
        evs = c.events(ended(sid))
        responses = [e for e in evs if isinstance(e, h2.events.ResponseReceived)]
        assert dict(responses[0].headers)[":status"] == "200"
        big = c.request("/hello", extra=[("x-big", "v" * 8000)])
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamReset) for e in evs))
        assert any(isinstance(e, h2.events.StreamReset) and e.stream_id == big for e in evs)
        sid = c.request("/hello")  # the connection goes on
        assert ended(sid)(c.events(ended(sid)))


def test_invalid_preface_is_refused(serve):
    s = serve(make_app())
    for bad in (b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 30):
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(bad)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        # Not the preface: HTTP/1.1 refuses it (400). The preface then garbage: HTTP/2 ends with GOAWAY (type 7).
        assert data.startswith(b"HTTP/1.1 400") or b"\x07\x00\x00\x00\x00\x00" in data, data[:100]
    assert httpx.get(s.url + "/hello").status_code == 200


def test_rapid_reset_is_stopped(serve):
    """CVE-2023-44487: streams opened and cancelled at once, in bulk. The connection is ended with
    GOAWAY(ENHANCE_YOUR_CALM), as for the other floods."""
    s = serve(make_app())
    with RawH2(s.port) as c:
        try:
            for _ in range(3000):
                sid = c.request("/slow")
                c.conn.reset_stream(sid)
                c.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        evs = c.events(goaway, timeout=5)
        assert goaway(evs)
    codes = [e.error_code for e in evs if isinstance(e, h2.events.ConnectionTerminated)]
    assert codes == [h2.errors.ErrorCodes.ENHANCE_YOUR_CALM], evs
    assert httpx.get(s.url + "/hello").status_code == 200


def test_ping_flood_is_stopped(serve):
    """PINGs whose ACKs the client never reads: once the server cannot write, its queue of ACKs is bounded and the
    connection is ended, instead of growing without bound."""
    s = serve(make_app())
    ping = frame(6, 0, 0, b"12345678")
    assert flood_is_cut(s.port, ping * 1000, 300), "the server kept a flooding connection open"
    assert httpx.get(s.url + "/hello").status_code == 200


def flood_is_cut(port: int, burst: bytes, bursts: int) -> bool:
    """Sends the preface, then `bursts` times `burst` while reading nothing (a small receive buffer, so the server's
    answers pile up on its side); True when the server ends the connection, during the flood or within 10 s after."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        try:
            sock.sendall(PREFACE)
            for _ in range(bursts):
                sock.sendall(burst)
        except (BrokenPipeError, ConnectionResetError):
            return True
        sock.settimeout(10)
        try:
            while sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        return True


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)  # the preface and an empty SETTINGS


def server_reply(port: int, data: bytes, timeout: float = 5) -> list[tuple[int, int, int, bytes]]:
    """Sends raw bytes after the preface and returns the frames the server sends until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(PREFACE + data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return frames(got)


def goaway_code(got) -> int | None:
    for kind, _, _, payload in got:
        if kind == 7:
            return int.from_bytes(payload[4:8], "big")
    return None


def request_headers(c: h2.connection.H2Connection | None = None) -> bytes:
    """A HEADERS block (HPACK) for GET /hello."""
    import hpack

    return hpack.Encoder().encode([(":method", "POST"), (":path", "/echo"), (":scheme", "http"), (":authority", "x")])


def test_rfc9113_error_cases(serve):
    s = serve(make_app())
    # WINDOW_UPDATE that overflows the connection window past 2^31-1: FLOW_CONTROL_ERROR (3)
    big = (2**31 - 1).to_bytes(4, "big")
    assert goaway_code(server_reply(s.port, frame(8, 0, 0, big) + frame(8, 0, 0, big))) == 3
    # DATA on a stream that was never opened (idle): PROTOCOL_ERROR (1)
    assert goaway_code(server_reply(s.port, frame(0, 1, 5, b"x"))) == 1
    # a CONTINUATION flood: HEADERS without END_HEADERS, then CONTINUATIONs without end
    block = request_headers()
    flood = frame(1, 0, 1, block) + b"".join(frame(9, 0, 1, b"") for _ in range(100))
    assert goaway_code(server_reply(s.port, flood)) is not None
    # empty DATA frames without end: the connection is ended with ENHANCE_YOUR_CALM (11)
    empties = frame(1, 4, 1, block) + b"".join(frame(0, 0, 1) for _ in range(2000))
    assert goaway_code(server_reply(s.port, empties)) == 11
    # frames on a closed stream: stream 1 ends, then more DATA on it is refused (STREAM_CLOSED, 5)
    done = frame(1, 4 | 1, 1, block)  # END_HEADERS | END_STREAM
    got = server_reply(s.port, done + frame(0, 0, 1, b"late"), timeout=2)
    assert any(kind == 3 for kind, *_ in got) or goaway_code(got) in (1, 5)
    assert httpx.get(s.url + "/hello").status_code == 200


# ---- what the HTTP/2 fuzzer (tests/fuzz/fuzz_http2.cpp) found, over real sockets ----------------------------
def test_bodyless_answers_from_async_handlers(serve):
    """HEAD and 204 answers that arrive after the request (an awaiting handler) end their stream as they are
    written: the stream was freed under its own call (a use-after-free the fuzzer found under ASan)."""
    s = serve(make_app())

    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, base_url=s.url) as c:
            heads = [c.head("/later") for _ in range(20)]
            empties = [c.get("/nothing") for _ in range(20)]
            return await asyncio.gather(*heads, *empties)

    rs = asyncio.run(main())
    assert [r.status_code for r in rs] == [200] * 20 + [204] * 20
    assert all(r.content == b"" and r.http_version == "HTTP/2" for r in rs)


def test_small_write_watermark_does_not_stall(serve, tmp_path):
    """With a write watermark below nghttp2's batch, a body whose pieces the socket takes at once still goes out
    whole (the rest used to wait for a frame from the client)."""
    blob = os.urandom(3 << 20)
    (tmp_path / "big.bin").write_bytes(blob)
    s = serve(make_app(tmp_path), write_high_watermark=4096)
    with httpx.Client(http1=False, http2=True, base_url=s.url, timeout=10) as c:
        for _ in range(3):
            assert c.get("/files/big.bin").content == blob


def test_early_answer_resets_the_upload_with_no_error(serve):
    """An answer complete before the request body (here 413 for a Content-Length over max_body) ends the stream
    with RST_STREAM(NO_ERROR), as RFC 9113 §8.1 says, instead of leaving it open for a body nobody reads."""
    s = serve(make_app(), max_body=1000)
    import hpack

    fields = [(":method", "POST"), (":path", "/echo"), (":scheme", "http"), (":authority", "x")]
    block = hpack.Encoder().encode([*fields, ("content-length", "100000")])
    got = server_reply(s.port, frame(1, 4, 1, block) + frame(0, 0, 1, b"x" * 1000), timeout=1.5)
    on_stream = [(kind, flags, payload) for kind, flags, sid, payload in got if sid == 1]
    assert on_stream[0][0] == 1  # the answer's HEADERS
    assert hpack.Decoder().decode(on_stream[0][2])[0] == (":status", "413")
    assert any(flags & 1 for kind, flags, _ in on_stream if kind in (0, 1))  # ... ended (END_STREAM)
    assert (3, 0, (0).to_bytes(4, "big")) in on_stream  # then RST_STREAM(NO_ERROR)


def test_unfinished_header_block_times_out(serve):
    """A HEADERS frame without END_HEADERS, never continued, holds the whole connection (nothing else may be sent
    before its CONTINUATION): after header_timeout the connection ends with GOAWAY(ENHANCE_YOUR_CALM)."""
    s = serve(make_app(), header_timeout=0.5)
    t0 = time.monotonic()
    got = server_reply(s.port, frame(1, 0, 1, request_headers()), timeout=10)
    assert goaway_code(got) == 11
    assert time.monotonic() - t0 < 5  # closed by the server, not by the read timeout


def test_max_concurrent_streams(serve):
    s = serve(make_app())
    with RawH2(s.port) as c:
        c.events(lambda evs: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in evs))
        assert c.conn.remote_settings.max_concurrent_streams == 100
        c.conn.remote_settings.acknowledge()  # let the h2 client open more than the server allows
        c.conn.remote_settings._settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = [1000]
        sids = [c.request("/slow") for _ in range(101)]
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamReset) for e in evs), timeout=3)
    # RFC 9113 §5.1.2: the stream over the limit is refused (REFUSED_STREAM), or, as nghttp2 does, the connection
    # ends with PROTOCOL_ERROR after the streams within the limit (GOAWAY names the 100th).
    refused = [e for e in evs if isinstance(e, h2.events.StreamReset) and e.stream_id == sids[-1]]
    ended_ = [e for e in evs if isinstance(e, h2.events.ConnectionTerminated)]
    assert (refused and refused[0].error_code in (1, 7)) or (
        ended_ and ended_[0].error_code == 1 and ended_[0].last_stream_id == sids[-2]
    ), evs


def frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream id, payload) of each whole frame in `data`."""
    out = []
    while len(data) >= 9:
        n = int.from_bytes(data[:3], "big")
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9 : 9 + n]))
        data = data[9 + n :]
    return out


def test_graceful_shutdown_sends_goaway_and_finishes_streams():
    """GOAWAY names the last stream taken; that stream is still answered, then the connection closes. (Read as raw
    frames: the h2 package stops at a GOAWAY.)"""
    from conftest import RunningServer

    server = RunningServer(make_app()).start()
    with RawH2(server.port) as c:
        sid = c.request("/slow")
        time.sleep(0.1)
        server.loop.call_soon_threadsafe(server.server.stop)
        data = b""
        while chunk := c.sock.recv(65536):
            data += chunk
    got = frames(data)
    goaways = [f for f in got if f[0] == 7]
    assert goaways and int.from_bytes(goaways[0][3][:4], "big") == sid
    body = b"".join(p for t, _, stream, p in got if t == 0 and stream == sid)
    assert body == b"slow" and any(t == 0 and flags & 1 for t, flags, stream, _ in got if stream == sid)
    server.stop()


def test_preface_in_single_bytes(serve):
    """h2c is recognised from the preface even when it arrives a byte at a time ("P" could still be POST)."""
    s = serve(make_app())
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        for b in PREFACE:
            sock.sendall(bytes([b]))
            time.sleep(0.001)
        got = b""
        while len(frames(got)) < 1:
            got += sock.recv(65536)
    assert frames(got)[0][0] == 4  # the server's SETTINGS: it speaks HTTP/2


def test_post_split_after_its_first_byte_is_http1(serve):
    """A cleartext "P" held back while it could begin the HTTP/2 preface is HTTP/1.1's first byte once "OST" comes."""
    s = serve(make_app())
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"P")
        time.sleep(0.05)
        sock.sendall(b"OST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"hello")


def test_settings_flood_is_stopped(serve):
    s = serve(make_app())
    # one SETTINGS frame with more entries than the server takes (32)
    many = b"".join((4).to_bytes(2, "big") + (65535).to_bytes(4, "big") for _ in range(100))
    assert goaway_code(server_reply(s.port, frame(4, 0, 0, many))) == 11  # ENHANCE_YOUR_CALM
    # thousands of SETTINGS frames whose ACKs are never read
    one = frame(4, 0, 0, (4).to_bytes(2, "big") + (65535).to_bytes(4, "big"))
    assert flood_is_cut(s.port, one * 1000, 200), "the server kept a flooding connection open"
