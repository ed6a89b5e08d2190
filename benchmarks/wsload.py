"""WebSocket echo load, what wrk is for HTTP: C connections, each keeping a window of W small text messages in
flight against an echo endpoint, every echo checked, for a fixed duration; one JSON line of totals at the end.

    python -m benchmarks.wsload ws://127.0.0.1:8000/ws/echo --duration 5 --connections 64 --window 8
    -> WSLOAD_JSON {"messages": 412345, "late": 512, "duration_us": 5000123, "latency_us": {...}, "errors": {...}}

Each connection does its own HTTP/1.1 upgrade (checking Sec-WebSocket-Accept), then sends W masked text frames of
PAYLOAD and sends one more for every echo it gets back, so W are always in flight (a closed loop, like wrk's).
Server frames are parsed in full (7-bit, 16-bit and 64-bit lengths, fragments, pings answered, unmasked only), and
every echo must be a text message equal to PAYLOAD: anything else is an error, and a run with errors is failed.
At the end each connection waits for its last echoes and sends a close frame; a server that then drops the TCP
connection instead of answering with its own close frame is counted (`close_unanswered`), not failed: the echoes
were all right, only the goodbye was rude.
The hot path is cheap on purpose (the client must not be what limits the server): the frame is built and masked
once, W frames go out in one write, and a read holding only whole, correct echoes is checked with one comparison
against the same number of expected frames; anything else (a partial frame aside) goes through the full parser.

`check()` is the validation the benchmark runner does before measuring: one connection, a few messages of
different sizes and characters echoed exactly, and the closing handshake answered.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAYLOAD = b"Hello, WebSocket! echo me, 32 B."  # the benchmark's message: 32 bytes of ASCII text
MASK_KEY = b"\x5a\xc3\x17\x9e"  # RFC 6455 wants a client to mask every frame; one fixed key costs nothing per message
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL = 1000
MAX_HEAD = 16384  # a longer upgrade response is an error
ERROR_KINDS = ("connect", "handshake", "protocol", "echo", "closed", "timeout")
WINDOW = 8
TIMEOUT_S = 10.0


class WSError(Exception):
    """A server that broke the protocol or answered wrongly; ``kind`` is one of ERROR_KINDS."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# ------------------------------------------------------------------------- frames


def mask(data: bytes, key: bytes = MASK_KEY) -> bytes:
    """XOR with the 4-byte key repeated: mask(b"abcd", b"\\x01\\x00\\x00\\x00") -> b"`bcd"."""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked frame: client_frame(OP_TEXT, b"hi") -> b"\\x81\\x82" + MASK_KEY + mask(b"hi")."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + MASK_KEY + mask(payload)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked, unfragmented server frame: server_frame(OP_TEXT, b"hi") -> b"\\x81\\x02hi"."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 1 << 16:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def close_frame(code: int = CLOSE_NORMAL) -> bytes:
    return client_frame(OP_CLOSE, code.to_bytes(2, "big"))


def parse_frames(buf: bytes) -> tuple[list[tuple[bool, int, bytes]], int]:
    """The whole server frames at the start of ``buf`` as (fin, opcode, payload), and how many bytes they took.

    parse_frames(b"\\x81\\x02hi\\x81") -> ([(True, 1, b"hi")], 4). Lengths of 7, 16 and 64 bits (2, 4 or 10 bytes
    of header). Raises WSError("protocol") on a masked frame, reserved bits, an unknown opcode, or a fragmented or
    oversized control frame."""
    frames: list[tuple[bool, int, bytes]] = []
    pos, end = 0, len(buf)
    while end - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        if b1 & 0x80:
            raise WSError("protocol", "the server sent a masked frame (RFC 6455 5.1: server frames are unmasked)")
        if b0 & 0x70:
            raise WSError("protocol", f"reserved bits set in a server frame (first byte {b0:#04x})")
        opcode, length, head = b0 & 0x0F, b1 & 0x7F, 2
        if length == 126:
            if end - pos < 4:
                break
            length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            if end - pos < 10:
                break
            length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if length >> 63:
                raise WSError("protocol", "64-bit frame length with the most significant bit set")
        if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise WSError("protocol", f"unknown opcode {opcode:#x} in a server frame")
        if opcode >= OP_CLOSE and (length > 125 or not b0 & 0x80):
            raise WSError("protocol", f"control frame (opcode {opcode:#x}) fragmented or longer than 125 bytes")
        if end - pos < head + length:
            break
        frames.append((bool(b0 & 0x80), opcode, bytes(buf[pos + head : pos + head + length])))
        pos += head + length
    return frames, pos


def close_reason(payload: bytes) -> str:
    """A close frame's body as words: close_reason(b"\\x03\\xe8bye") -> "1000 'bye'"."""
    if len(payload) < 2:
        return "(no code)"
    return f"{int.from_bytes(payload[:2], 'big')} {payload[2:].decode('utf-8', 'replace')!r}"


class Messages:
    """Reassembles messages from frames, answers pings; ``feed`` returns the complete (opcode, payload) messages."""

    def __init__(self, send: Callable[[bytes], object]) -> None:
        self._send = send
        self._opcode: int | None = None  # the opcode of the fragmented message being assembled
        self._parts: list[bytes] = []
        self.close_payload: bytes | None = None  # set once the server's close frame has come

    def feed(self, frames: list[tuple[bool, int, bytes]]) -> list[tuple[int, bytes]]:
        complete: list[tuple[int, bytes]] = []
        for fin, opcode, payload in frames:
            if self.close_payload is not None:
                raise WSError("protocol", f"a frame (opcode {opcode:#x}) after the server's close frame")
            if opcode == OP_PING:
                self._send(client_frame(OP_PONG, payload))
            elif opcode == OP_PONG:
                pass  # unsolicited pongs are allowed (RFC 6455 5.5.3)
            elif opcode == OP_CLOSE:
                self.close_payload = payload
            elif (opcode == OP_CONT) != (self._opcode is not None):
                raise WSError("protocol", "continuation frame outside a message, or a new message inside one")
            else:
                if opcode != OP_CONT:
                    self._opcode = opcode
                self._parts.append(payload)
                if fin:
                    assert self._opcode is not None
                    complete.append((self._opcode, b"".join(self._parts)))
                    self._opcode, self._parts = None, []
        return complete


def expect_echo(opcode: int, payload: bytes, sent: bytes) -> None:
    if opcode != OP_TEXT:
        raise WSError("echo", f"echo of a text message came back with opcode {opcode:#x}")
    if payload != sent:
        raise WSError("echo", f"echo {payload[:60]!r} ({len(payload)} bytes) differs from {sent[:60]!r}")


# ---------------------------------------------------------------------- handshake


def upgrade_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """(the upgrade request, the Sec-WebSocket-Accept the server must answer), with a fresh random key."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return request, base64.b64encode(hashlib.sha1(key + GUID).digest())


def check_upgrade(head: bytes, accept: bytes) -> str | None:
    """Why the response head (up to, without, the blank line) is not a valid 101 upgrade, or None."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        return f"status line {lines[0]!r}, expected 101 Switching Protocols"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket":
        return f"Upgrade: {headers.get('upgrade')!r}, expected websocket"
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        return f"Connection: {headers.get('connection')!r}, expected upgrade"
    if headers.get("sec-websocket-accept", "").encode() != accept:
        return f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, expected {accept.decode()!r}"
    return None


def split_url(url: str) -> tuple[str, int, str]:
    """split_url("ws://127.0.0.1:8000/ws/echo") -> ("127.0.0.1", 8000, "/ws/echo")."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname or not parts.port:
        raise ValueError(f"expected ws://HOST:PORT/PATH, got {url!r}")
    return parts.hostname, parts.port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------- validation


def check(host: str, port: int, path: str, timeout: float = TIMEOUT_S) -> str | None:
    """Why the echo endpoint is wrong, or None: the upgrade, exact echoes of the benchmark message and of a
    non-ASCII, a 16-bit-length and a 64-bit-length text message, and the server's answer to a close."""
    samples = [PAYLOAD, "héllo, wörld ✓ — ☃".encode(), b"m" * 1000, bytes(range(32, 127)) * 700]
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            request, accept = upgrade_request(host, port, path)
            sock.sendall(request)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk or len(buf) > MAX_HEAD:
                    return f"upgrade: no complete response head ({buf[:120]!r})"
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            problem = check_upgrade(head, accept)
            if problem:
                return f"upgrade: {problem}"
            messages = Messages(sock.sendall)
            closing = False

            def next_message() -> tuple[int, bytes] | None:
                nonlocal buf
                while True:
                    frames, used = parse_frames(buf)
                    buf = buf[used:]
                    got = messages.feed(frames)
                    if got:
                        if len(got) > 1:
                            raise WSError("echo", f"{len(got)} messages for one sent")
                        return got[0]
                    if messages.close_payload is not None:
                        return None
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        if closing:
                            return None  # tolerated: see the module docstring (close_unanswered)
                        raise WSError("closed", "the server closed the connection without a close frame")
                    buf += chunk

            for sample in samples:
                sock.sendall(client_frame(OP_TEXT, sample))
                got = next_message()
                if got is None:
                    return f"closed by the server ({close_reason(messages.close_payload or b'')}) instead of an echo"
                expect_echo(*got, sample)
            sock.sendall(close_frame())
            closing = True
            if next_message() is not None:
                return "a message instead of the answer to our close frame"
            answer = messages.close_payload or b""
            if answer and int.from_bytes(answer[:2], "big") != CLOSE_NORMAL:  # an empty close body is allowed too
                return f"our close (1000) answered with {close_reason(answer)}"
    except WSError as exc:
        return f"{exc.kind}: {exc}"
    except OSError as exc:
        return f"connection failed: {exc!r}"
    return None


# ----------------------------------------------------------------------- the load


@dataclass
class Totals:
    """Shared by all connections of one run."""

    window: int
    sending: bool = False
    messages: int = 0  # echoes received while sending (the run's duration)
    late: int = 0  # echoes of messages in flight when the run ended
    close_unanswered: int = 0  # connections closed by the server without a close frame after ours
    first_error: str | None = None

    def __post_init__(self) -> None:
        frame, echo = client_frame(OP_TEXT, PAYLOAD), server_frame(OP_TEXT, PAYLOAD)
        self.send_frames = [frame * n for n in range(self.window + 1)]
        self.echo_frames = [echo * n for n in range(self.window + 1)]
        self.echo_len = len(echo)
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.latency: dict[int, int] = {}  # whole µs -> messages that took that long

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if self.first_error is None:
            self.first_error = f"{kind}: {message}"


class EchoConnection(asyncio.Protocol):
    """One WebSocket client: upgrade, then W messages in flight while ``totals.sending``, then the close."""

    def __init__(self, totals: Totals, request: bytes, accept: bytes) -> None:
        self.totals = totals
        self.request, self.accept = request, accept
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = asyncio.get_running_loop().create_future()  # None, or the WSError that stopped it
        self.finished = asyncio.get_running_loop().create_future()
        self.in_flight = 0
        self.sent_at: deque[list[float]] = deque()  # [send time, messages of that write still unanswered]
        self.closing = False
        self.messages = Messages(self._write)

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport.write(self.request)

    def start(self) -> None:
        """Put the window in flight (the run has begun)."""
        self._send(self.totals.window, time.perf_counter())

    def _send(self, n: int, now: float) -> None:
        assert self.transport is not None
        self.transport.write(self.totals.send_frames[n])
        self.sent_at.append([now, n])
        self.in_flight += n

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded.done():
            rest = self._upgrade(buf)
            if not rest:  # None: incomplete (kept) or refused; b"": upgraded, no frame yet
                return
            buf = rest
        totals = self.totals
        n = len(buf) // totals.echo_len
        # Fast path: only whole, correct echoes (a partial one may follow), no more than are in flight.
        if 0 < n <= self.in_flight and buf[: n * totals.echo_len] == totals.echo_frames[n]:
            self.buf = buf[n * totals.echo_len :]
            self._echoed(n)
            return
        try:
            frames, used = parse_frames(buf)
            self.buf = buf[used:]
            echoed = 0
            for opcode, payload in self.messages.feed(frames):
                expect_echo(opcode, payload, PAYLOAD)
                echoed += 1
            if echoed > self.in_flight:
                raise WSError("echo", f"{echoed} echoes with {self.in_flight} messages in flight")
            if echoed:
                self._echoed(echoed)
            if self.messages.close_payload is not None:
                if not self.closing:
                    reason = close_reason(self.messages.close_payload)
                    raise WSError("closed", f"the server closed the connection: {reason}")
                self._finish(None)
        except WSError as exc:
            self._finish(exc)

    def _upgrade(self, buf: bytes) -> bytes | None:
        """Consume the upgrade response at the start of ``buf``: what follows it, or None while it is incomplete
        (kept in ``self.buf``) or when it is wrong (the connection is then finished with the reason)."""
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            self.buf = buf
            if len(buf) > MAX_HEAD:
                self._finish(WSError("handshake", f"no end of the response head in {MAX_HEAD} bytes"))
            return None
        self.buf = b""
        problem = check_upgrade(head, self.accept)
        if problem:
            self._finish(WSError("handshake", problem))
            return None
        self.upgraded.set_result(None)
        return rest

    def _echoed(self, n: int) -> None:
        totals, now = self.totals, time.perf_counter()
        self.in_flight -= n
        left = n
        while left:  # the oldest writes are answered first: charge each its latency
            entry = self.sent_at[0]
            taken = min(left, int(entry[1]))
            key = int((now - entry[0]) * 1e6)
            totals.latency[key] = totals.latency.get(key, 0) + taken
            left -= taken
            entry[1] -= taken
            if not entry[1]:
                self.sent_at.popleft()
        if totals.sending:
            totals.messages += n
            self._send(n, now)
        else:
            totals.late += n
            if not self.in_flight:
                self.close()

    def close(self) -> None:
        """Start the closing handshake once nothing is in flight (the server's close frame ends it)."""
        if not self.closing and self.transport is not None and not self.finished.done():
            self.closing = True
            self.transport.write(close_frame())

    def _finish(self, error: WSError | None) -> None:
        if self.finished.done():
            return
        if error is not None:
            self.totals.error(error.kind, str(error))
            if not self.upgraded.done():
                self.upgraded.set_result(error)
        self.finished.set_result(error)
        if self.transport is not None:
            (self.transport.abort if error else self.transport.close)()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closing and not self.finished.done():
            self.totals.close_unanswered += 1
            self._finish(None)
        elif not self.finished.done():
            why = f" ({exc!r})" if exc else ""
            kind = "handshake" if not self.upgraded.done() else "closed"
            self._finish(WSError(kind, f"the server closed the TCP connection{why} before the closing handshake"))


def percentiles(histogram: dict[int, int]) -> dict[str, int]:
    """p50/p90/p99/max of a {µs: count} histogram: percentiles({1: 98, 5: 1, 9: 1})["p99"] -> 5."""
    total = sum(histogram.values())
    out = {"p50": 0, "p90": 0, "p99": 0, "max": max(histogram, default=0)}
    if not total:
        return out
    wanted = sorted(((total * q + 99) // 100, name) for name, q in (("p50", 50), ("p90", 90), ("p99", 99)))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while wanted and seen >= wanted[0][0]:
            out[wanted.pop(0)[1]] = value
    return out


async def load(url: str, duration: float, connections: int, window: int, timeout: float) -> dict[str, object]:
    """Connect and upgrade every connection, run for ``duration`` seconds, close; the totals as JSON-able."""
    host, port, path = split_url(url)
    loop = asyncio.get_running_loop()
    totals = Totals(window)

    async def connect() -> EchoConnection | None:
        request, accept = upgrade_request(host, port, path)
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: EchoConnection(totals, request, accept), host, port), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            totals.error("connect", repr(exc))
            return None
        try:
            if await asyncio.wait_for(asyncio.shield(conn.upgraded), timeout) is None:
                return conn
        except asyncio.TimeoutError:
            conn._finish(WSError("handshake", f"no upgrade response within {timeout:.0f} s"))
        return None

    conns = [c for c in await asyncio.gather(*(connect() for _ in range(connections))) if c is not None]
    if len(conns) == connections:
        totals.sending = True
        started = time.perf_counter()
        for conn in conns:
            conn.start()
        await asyncio.sleep(duration)
        totals.sending = False
        elapsed = time.perf_counter() - started
        for conn in conns:
            if not conn.in_flight:
                conn.close()
    else:
        elapsed = 0.0
        for conn in conns:
            conn.close()
    pending = [c.finished for c in conns if not c.finished.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    for conn in conns:
        if not conn.finished.done():
            what = f"{conn.in_flight} echoes" if conn.in_flight else "the answer to our close frame"
            conn._finish(WSError("timeout", f"still waiting for {what} {timeout:.0f} s after the run"))
    return {
        "messages": totals.messages,
        "late": totals.late,
        "close_unanswered": totals.close_unanswered,
        "duration_us": int(elapsed * 1e6),
        "connections": connections,
        "window": window,
        "payload_bytes": len(PAYLOAD),
        "latency_us": percentiles(totals.latency),
        "errors": totals.errors,
        "first_error": totals.first_error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wsload", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="ws://HOST:PORT/PATH of an echo endpoint")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load (5)")
    parser.add_argument("--connections", type=int, default=64, help="WebSocket connections (64)")
    parser.add_argument("--window", type=int, default=WINDOW, help=f"messages in flight per connection ({WINDOW})")
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help=f"connect, upgrade, drain timeout ({TIMEOUT_S:.0f})"
    )
    parser.add_argument("--check", action="store_true", help="only validate the endpoint (see check()) and exit")
    args = parser.parse_args(argv)
    if args.check:
        problem = check(*split_url(args.url), timeout=args.timeout)
        print(problem or "ok")
        return 1 if problem else 0
    if args.duration <= 0 or args.connections < 1 or args.window < 1:
        parser.error("need --duration > 0, --connections >= 1, --window >= 1")
    try:
        import uvloop
    except ImportError:  # plain asyncio works, only slower
        result = asyncio.run(load(args.url, args.duration, args.connections, args.window, args.timeout))
    else:
        result = uvloop.run(load(args.url, args.duration, args.connections, args.window, args.timeout))
    print("WSLOAD_JSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
