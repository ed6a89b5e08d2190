"""WebSockets (RFC 6455) driven by a real client library (`websockets`) and raw sockets for what a conforming
client cannot send: echo, fragmentation, large and binary messages, ping/pong, close codes, invalid frames
(bad opcode, unmasked, invalid UTF-8, oversized control frame, too big), bad upgrades, hooks, broadcast."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import struct
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tiercel import Tiercel, WebSocketDisconnect


def make_app(events: list) -> Tiercel:
    app = Tiercel(__file__)

    @app.websocket("/echo")
    async def echo(websocket):
        while True:
            message = await websocket.receive()
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)

    @app.websocket("/json/:room")
    async def json_room(websocket):
        data = await websocket.receive_json()
        await websocket.send_json({"room": websocket.path_params["room"], "got": data,
                                   "q": websocket.query_params.get("q")})  # fmt: skip
        await websocket.close(4000, "done here")

    def connected(websocket):
        events.append(("connect", websocket.id))

    async def closed(websocket):
        events.append(("close", websocket.close_code))

    @app.websocket("/chat", on_connect=connected, on_close=closed)
    async def chat(websocket):
        try:
            while True:
                text = await websocket.receive_text()
                websocket.broadcast(f"{websocket.id}: {text}")
        except WebSocketDisconnect as e:
            events.append(("disconnect", e.code))
            raise

    @app.websocket("/refuse", on_connect=lambda ws: 1 / 0)
    async def refuse(websocket):
        events.append("handler ran")

    @app.websocket("/crash")
    async def crash(websocket):
        raise RuntimeError("boom")

    @app.websocket("/quick")
    async def quick(websocket):
        await websocket.send_text("bye")

    return app


@pytest.fixture
def events() -> list:
    return []


def ws_url(server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_echo_text_binary_large_and_fragmented(serve, events, loop_kind):
    s = serve(make_app(events), loop_kind)

    async def scenario():
        async with connect(ws_url(s, "/echo"), max_size=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01\x02")
            assert await ws.recv() == b"\x00\x01\x02"
            big = os.urandom(900_000)
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send(["frag", "mented ", "caf\u00e9"])  # a message in three frames
            assert await ws.recv() == "fragmented caf\u00e9"
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 2)  # answered automatically

    run(scenario())


def test_json_params_and_close_code(serve, events):
    s = serve(make_app(events))

    async def scenario():
        async with connect(ws_url(s, "/json/lobby?q=1")) as ws:
            await ws.send('{"a": [1, 2]}')
            assert await ws.recv() == '{"room":"lobby","got":{"a":[1,2]},"q":"1"}'
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "done here")

    run(scenario())


def test_hooks_broadcast_and_disconnect(serve, events):
    s = serve(make_app(events))

    async def scenario():
        async with connect(ws_url(s, "/chat")) as a, connect(ws_url(s, "/chat")) as b:
            await a.send("hi all")
            got_a, got_b = await a.recv(), await b.recv()
            assert got_a == got_b and got_a.endswith(": hi all")
        await asyncio.sleep(0.3)

    run(scenario())
    kinds = [e[0] for e in events]
    assert kinds.count("connect") == 2 and kinds.count("close") == 2 and kinds.count("disconnect") == 2
    assert ("close", 1000) in events


def test_refused_and_crashing_handlers(serve, events):
    s = serve(make_app(events))

    async def scenario():
        async with connect(ws_url(s, "/refuse")) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1008
        async with connect(ws_url(s, "/crash")) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011
        async with connect(ws_url(s, "/quick")) as ws:
            assert await ws.recv() == "bye"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1000  # the handler returned

    run(scenario())
    assert "handler ran" not in events
    assert httpx.get(f"http://127.0.0.1:{s.port}/echo").status_code == 400  # a plain GET is not an upgrade


# ---- raw frames: what a conforming client never sends ------------------------------------------------------
def handshake(port: int, path: str = "/echo", extra: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()  # fmt: skip
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def frame(first: int, payload: bytes, mask: bool = True, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    head = bytes([first])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code_after(sock: socket.socket, data: bytes) -> int:
    sock.sendall(data)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    # Skip any data frames; find the close frame.
    i = 0
    while i + 2 <= len(buf):
        op, n = buf[i] & 0x0F, buf[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", buf[i : i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", buf[i : i + 8])[0]
            i += 8
        if op == 0x8:
            return struct.unpack("!H", buf[i : i + 2])[0] if n >= 2 else 1005
        i += n
    return -1


@pytest.mark.parametrize(
    "data, code",
    [
        (frame(0x83, b"x"), 1002),  # reserved opcode
        (frame(0x81, b"hi", mask=False), 1002),  # unmasked client frame
        (frame(0xC1, b"hi"), 1002),  # RSV1 without an extension
        (frame(0x81, b"\xc3\x28"), 1007),  # invalid UTF-8
        (frame(0x89, b"p" * 126), 1002),  # oversized control frame
        (frame(0x09, b"p"), 1002),  # fragmented control frame
        (frame(0x80, b"x"), 1002),  # continuation with nothing to continue
        (frame(0x01, b"a") + frame(0x81, b"b"), 1002),  # a new message inside a fragmented one
        (frame(0x88, b"\x03\xe7"), 1002),  # close code 999
        (frame(0x82, b"", length=2 << 20), 1009),  # too big (announced): refused before it is read
    ],
)
def test_invalid_frames_get_the_right_close_code(serve, events, data, code):
    s = serve(make_app(events))
    sock = handshake(s.port)
    try:
        assert close_code_after(sock, data) == code
    finally:
        sock.close()


def test_client_close_is_echoed(serve, events):
    s = serve(make_app(events))
    sock = handshake(s.port)
    try:
        assert close_code_after(sock, frame(0x88, b"\x03\xe9bye")) == 1001
    finally:
        sock.close()


@pytest.mark.parametrize(
    "headers, message",
    [
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", b"Sec-WebSocket-Key"),
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n",
            b"Sec-WebSocket-Key",
        ),  # fmt: skip
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 8\r\n",
            b"Version must be 13",
        ),  # fmt: skip
        (
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            b"Upgrade: websocket",
        ),  # fmt: skip
    ],
)
def test_malformed_upgrades_are_a_400(serve, events, headers, message):
    s = serve(make_app(events))
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(f"GET /echo HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ") and message in answer, answer


def test_graceful_shutdown_closes_with_1001(events):
    from conftest import RunningServer

    server = RunningServer(make_app(events)).start()

    async def scenario():
        async with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
            await ws.send("x")
            await ws.recv()
            server.loop.call_soon_threadsafe(server.server.stop)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            return info.value.rcvd.code

    assert run(scenario()) == 1001
    server.stop()


# ---- keepalive: server pings and the idle timeout --------------------------------------------------------------
def read_frames(sock: socket.socket, until_close: bool = True, timeout: float = 5) -> list[tuple[int, bytes, float]]:
    """(opcode, payload, seconds since the call) of the server's frames, until it closes (or `timeout`)."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    buf, out = b"", []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return out
        if not chunk:
            return out
        buf += chunk
        while len(buf) >= 2:
            n, i = buf[1] & 0x7F, 2
            if n == 126:
                n, i = struct.unpack("!H", buf[2:4])[0], 4
            if len(buf) < i + n:
                break
            out.append((buf[0] & 0x0F, buf[i : i + n], time.monotonic() - t0))
            buf = buf[i + n :]
            if out[-1][0] == 0x8 or (not until_close and out[-1][0] == 0x9):
                return out


def test_server_pings_and_closes_1011_without_a_pong(serve, events):
    s = serve(make_app(events), ws_ping_interval=0.5, ws_ping_timeout=0.5)
    sock = handshake(s.port)
    try:
        frames = read_frames(sock, timeout=5)
    finally:
        sock.close()
    ops = [op for op, _, _ in frames]
    assert ops == [0x9, 0x8], frames  # a ping, then (no pong) the close
    ping_at, close_at = frames[0][2], frames[1][2]
    assert 0.4 <= ping_at < 2 and 0.4 <= close_at - ping_at < 2
    code, reason = struct.unpack("!H", frames[1][1][:2])[0], frames[1][1][2:]
    assert (code, reason) == (1011, b"keepalive ping timeout")


def test_answered_pings_keep_the_connection_and_idle_timeout_closes_1001(serve, events):
    s = serve(make_app(events), ws_ping_interval=0.3, ws_ping_timeout=0.3, ws_idle_timeout=2)
    sock = handshake(s.port)
    try:
        t0 = time.monotonic()
        pings = 0
        while True:
            frames = read_frames(sock, until_close=False, timeout=5)
            assert frames, "no frame from the server"
            op, payload, _ = frames[-1]
            if op == 0x8:
                break
            assert op == 0x9
            pings += 1
            sock.sendall(frame(0x8A, payload))  # the pong keeps the connection alive, but is not a message
        elapsed = time.monotonic() - t0
        assert struct.unpack("!H", payload[:2])[0] == 1001 and payload[2:] == b"idle timeout"
        assert pings >= 3 and 1.8 <= elapsed < 4
    finally:
        sock.close()


def test_messages_reset_the_idle_timeout(serve, events):
    s = serve(make_app(events), ws_ping_interval=0, ws_idle_timeout=0.6)

    async def main():
        async with connect(ws_url(s, "/echo")) as ws:
            for i in range(6):  # 1.2 s of traffic, each gap under the timeout
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
                await asyncio.sleep(0.2)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 3)
            assert closed.value.rcvd.code == 1001

    run(main())


def test_native_loop_never_runs_inside_itself(run_script, tmp_path):
    """A frame handler once ran the native loop from inside the native loop's own callback; libuv then removed
    every earlier-closed socket from epoll again at each close (quadratic, and undefined behaviour). strace sees
    the symptom: epoll_ctl failing with EBADF."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/install.sh installs it)")
    trace = tmp_path / "trace"
    env = {"APP_DIR": os.path.dirname(__file__), "PID_FILE": str(tmp_path / "pid")}
    p = run_script("-c", _STRACED.format(trace=str(trace)), env=env, cwd=str(tmp_path))

    async def many():
        conns = [await connect(f"ws://127.0.0.1:{p.port}/echo") for _ in range(24)]
        for c in conns:
            await c.send("x")
            assert await c.recv() == "x"
        await asyncio.gather(*(c.close() for c in conns))

    run(many())
    os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
    assert p.proc.wait(10) == 0
    calls = trace.read_text()
    assert "epoll_ctl" in calls and "EBADF" not in calls


# Runs the test app under strace (as a child, so the fixture sees "Tiercel listening" from it); the app writes its
# pid for the test to stop it.
_STRACED = """
import subprocess, sys
code = (
    "import os, sys; sys.path.insert(0, os.environ['APP_DIR']); "
    "open(os.environ['PID_FILE'], 'w').write(str(os.getpid())); "
    "from test_websocket import make_app; make_app([]).start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']))"
)
sys.exit(subprocess.call(["strace", "-f", "-e", "trace=epoll_ctl", "-o", {trace!r}, sys.executable, "-c", code]))
"""
