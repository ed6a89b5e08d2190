"""Bad input, limits and timeouts on real sockets (DESIGN §6): each refusal has the right status, closes
the connection and never reaches a handler; slow and idle clients are cut off after their timeout.

Nothing sleeps: timeout tests block on recv with a socket timeout above the server's and assert on
what arrives and when.
"""

from __future__ import annotations

import logging
import select
import time

import pytest
from test_http1_protocol import Connector, Recorder, get, make_app

H = b"Host: t\r\n"
POST = b"POST /echo HTTP/1.1\r\n" + H
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def connect():
    connector = Connector()
    yield connector
    connector.close_all()


# (id, bytes sent, expected status, settings). Every case is answered and the connection closed.
BAD_INPUT = [
    # 400: malformed request line
    ("request-line-double-space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400, {}),
    ("request-line-no-version", b"GET /\r\n" + H + b"\r\n", 400, {}),
    ("request-line-lowercase-version", b"GET / http/1.1\r\n" + H + b"\r\n", 400, {}),
    ("request-line-version-two-digits", b"GET / HTTP/1.32\r\n" + H + b"\r\n", 400, {}),
    ("request-line-trailing-space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400, {}),
    # 400: line endings and header syntax
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: t\n\n", 400, {}),
    ("bare-lf-in-header-section", b"GET / HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n", 400, {}),
    ("bare-cr-in-header-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, {}),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n  2\r\n\r\n", 400, {}),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, {}),
    ("empty-header-name", b"GET / HTTP/1.1\r\n" + H + b": v\r\n\r\n", 400, {}),
    ("nul-in-header-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400, {}),
    # 400: Host
    ("missing-host-http11", b"GET / HTTP/1.1\r\n\r\n", 400, {}),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, {}),
    # 400: framing
    (
        "content-length-and-transfer-encoding",
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        {},
    ),
    ("content-length-with-sign", POST + b"Content-Length: +3\r\n\r\nabc", 400, {}),
    ("content-length-list", POST + b"Content-Length: 3, 3\r\n\r\nabc", 400, {}),
    ("content-length-repeated", POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, {}),
    (
        "transfer-encoding-on-http10",
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
        {},
    ),
    # RFC 9112 §6.3: a request whose final coding is not chunked has no knowable length -> 400.
    ("transfer-encoding-not-final-chunked", POST + b"Transfer-Encoding: gzip\r\n\r\nabc", 400, {}),
    ("bad-chunk-size", CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n", 400, {}),
    ("chunk-size-overflow", CHUNKED + b"1ffffffffffffffff\r\nx\r\n0\r\n\r\n", 400, {}),
    ("chunk-data-without-crlf", CHUNKED + b"3\r\nabcX\r\n0\r\n\r\n", 400, {}),
    # 413: declared or decoded body over max_body, answered before the body is sent
    ("content-length-over-max-body", POST + b"Content-Length: 1000\r\n\r\n", 413, {"max_body": 100}),
    ("chunk-over-max-body", CHUNKED + b"c8\r\n", 413, {"max_body": 100}),
    ("chunks-adding-up-over-max-body", CHUNKED + b"3c\r\n" + b"a" * 60 + b"\r\n3c\r\n", 413, {"max_body": 100}),
    # 414: request line over max_request_line (the line is not even finished)
    ("request-line-too-long", b"GET /" + b"a" * 200, 414, {"max_request_line": 100}),
    # 431: too many header fields, or too many header bytes
    (
        "too-many-headers",
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(5)) + b"\r\n",
        431,
        {"max_header_count": 5},
    ),
    (
        "header-section-too-large",
        b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 300 + b"\r\n\r\n",
        431,
        {"max_header_bytes": 256},
    ),
    # 501: a transfer coding Tiercel does not implement; a method it does not know
    ("unknown-transfer-coding", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, {}),
    ("unknown-method", b"FOO / HTTP/1.1\r\n" + H + b"\r\n", 501, {}),
    # 505: a well-formed version other than 1.0 / 1.1
    ("http-2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505, {}),
    ("http-0.9", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505, {}),
]


@pytest.mark.parametrize(("data", "status", "settings"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_and_closes(serve, rec, connect, data, status, settings):
    s = serve(make_app(rec), **settings)
    c = connect(s.port)
    c.send(data)
    r = c.read_response()
    assert r.status == status, r
    assert r.headers["connection"] == "close"
    c.expect_eof()
    assert rec.calls == []
    # The server is unharmed.
    c2 = connect(s.port)
    c2.send(get("/hello"))
    assert c2.read_response().body == b"Hello, World!"


@pytest.mark.parametrize(
    "good",
    [["/sync/1"], ["/async/1"], ["/sync/1", "/async/2"], ["/async/1", "/sync/2"]],
    ids=["sync", "async", "sync-async", "async-sync"],
)
def test_bad_request_pipelined_after_good_ones(serve, loop_kind, rec, connect, good):
    s = serve(make_app(rec), loop_kind)
    c = connect(s.port)
    # The good answers first (even when a handler suspends), then the error, then the close; the
    # request after the bad one is never parsed.
    c.send(b"".join(get(p) for p in good) + b"GET / HTTP/1.1\r\nHost : t\r\n\r\n" + get("/hello"))
    for p in good:
        r = c.read_response()
        assert (r.status, r.body) == (200, p.lstrip("/").replace("/", " ").encode())
        assert "connection" not in r.headers
    r = c.read_response()
    assert r.status == 400
    assert r.headers["connection"] == "close"
    c.expect_eof()
    # (On Python 3.11 an async handler starts on the next loop pass, so compare regardless of order.)
    assert sorted(rec.calls) == sorted(p.split("/")[1] for p in good)


def test_payload_too_large_answered_before_body_then_closed(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, max_body=1024)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    r = c.read_response()  # arrives though not one byte of the body was sent
    assert r.status == 413
    assert r.headers["connection"] == "close"
    # The client sends (part of) its body anyway: the server drains it and closes without a reset.
    c.send(b"x" * 50_000)
    c.expect_eof()
    assert rec.calls == []


def test_over_max_connections_new_connections_wait_for_a_free_slot(serve, loop_kind, rec, connect, caplog):
    """At the limit the server stops accepting: a new connection waits (in the backlog) and is answered once one
    closes, instead of being accepted and closed. The time there is counted, and logged once per interval."""
    caplog.set_level(logging.WARNING, logger="tiercel")
    s = serve(make_app(rec), loop_kind, max_connections=2, metrics="/metrics")
    a, b = connect(s.port), connect(s.port)
    for c in (a, b):  # both accepted and served: they hold the two slots
        c.send(get("/hello"))
        assert c.read_response().status == 200
    waiting = [connect(s.port) for _ in range(3)]
    for c in waiting:
        c.send(get("/hello"))
    # Neither answered nor closed while the slots are held.
    readable, _, _ = select.select([c.sock for c in waiting], [], [], 0.5)
    assert readable == []
    deadline = time.monotonic() + 5
    while not any("max_connections (2) reached" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "no log line about the limit"
        time.sleep(0.02)
    # Each close lets the next one in, in arrival order.
    for closing, served in ((a, waiting[0]), (b, waiting[1]), (waiting[0], waiting[2])):
        closing.close()
        assert served.read_response().status == 200
    waiting[1].close()
    waiting[2].close()
    text = connect(s.port)
    text.send(get("/metrics"))
    metrics = dict(
        line.split(" ", 1) for line in text.read_response().body.decode().splitlines() if not line.startswith("#")
    )
    assert int(metrics["tiercel_connections_limited_total"]) >= 3  # 4 if the last one came before a close
    assert float(metrics["tiercel_connections_limited_seconds_total"]) >= 0.4
    lines = [r for r in caplog.records if "max_connections" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING", lines  # at most one line per 10 s


def test_limits_are_inclusive(serve, rec, connect):
    """Exactly at each limit is accepted; the refusals above are one past it."""
    s = serve(make_app(rec), max_body=3, max_header_count=5, max_request_line=100)
    c = connect(s.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    assert c.read_response().body == b"abc"
    c.send(b"GET /hello HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(4)) + b"\r\n")
    assert c.read_response().status == 200
    line = b"GET /sync/" + b"1" * (100 - len(b"GET /sync/ HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 100
    c.send(line + b"\r\n" + H + b"\r\n")
    assert c.read_response().status == 200


# ---------------------------------------------------------------------------------------------------
# Timeouts (each waits about 1-2 s: the server checks deadlines once a second)


def _elapsed_since(t0: float) -> float:
    return time.monotonic() - t0


def test_partial_head_gets_408_after_header_timeout(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, header_timeout=1)
    c = connect(s.port, timeout=4)
    t0 = time.monotonic()
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # the final CRLF never comes
    r = c.read_response()
    assert r.status == 408
    assert r.headers["connection"] == "close"
    assert 0.9 <= _elapsed_since(t0) < 3
    c.expect_eof()
    assert rec.calls == []


def test_slowloris_trickling_head_gets_408_after_header_timeout(serve, loop_kind, rec, connect):
    """A head that keeps arriving, one byte at a time, must still be complete within header_timeout of
    its first byte: the timeout must not restart with every byte."""
    s = serve(make_app(rec), loop_kind, header_timeout=1)
    c = connect(s.port, timeout=0.2)
    head = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"a" * 1000
    t0 = time.monotonic()
    got = b""
    for i in range(len(head)):
        c.send(head[i : i + 1])
        try:
            got = c.sock.recv(65536)  # doubles as the pace of the trickle: one byte per 0.2 s
        except TimeoutError:
            if _elapsed_since(t0) > 4:
                break
            continue
        break
    elapsed = _elapsed_since(t0)
    assert got.startswith(b"HTTP/1.1 408 "), f"no 408 after {elapsed:.1f} s of trickling: {got!r}"
    assert 0.9 <= elapsed < 2.5
    c.buf += got
    c.read_response()
    c.expect_eof()


def test_partial_body_gets_408_after_header_timeout(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, header_timeout=1)
    c = connect(s.port, timeout=4)
    t0 = time.monotonic()
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    r = c.read_response()
    assert r.status == 408
    assert 0.9 <= _elapsed_since(t0) < 3
    c.expect_eof()
    assert rec.calls == []


def test_silent_new_connection_closed_after_header_timeout(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, header_timeout=1)
    c = connect(s.port)
    t0 = time.monotonic()
    c.expect_eof(timeout=4)  # nothing was asked, so nothing is answered
    assert 0.9 <= _elapsed_since(t0) < 3


def test_idle_keepalive_connection_closed_after_keepalive_timeout(serve, loop_kind, rec, connect):
    s = serve(make_app(rec), loop_kind, keepalive_timeout=1, header_timeout=10)
    c = connect(s.port)
    c.send(get("/hello"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    c.expect_eof(timeout=4)
    assert 0.9 <= _elapsed_since(t0) < 3


def test_native_timers_served_when_asyncio_fires_them_early(serve, rec, connect):
    """The native loop's deadlines reach asyncio as one timer; one that fires a little early (uvloop rounds
    to milliseconds) must still be replaced, or no timeout ever fires again (a drain once hung on this)."""
    s = serve(make_app(rec), "early-timers", keepalive_timeout=2, header_timeout=10)
    c = connect(s.port)
    c.send(get("/hello"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    c.expect_eof(timeout=5)  # the sweep fires every second: twice before this deadline
    assert 1.9 <= _elapsed_since(t0) < 4


def test_client_that_stops_reading_is_closed_after_write_timeout(serve, loop_kind, rec, connect):
    """A client that asks for a large answer and never reads cannot hold its connection and buffers."""
    s = serve(make_app(rec), loop_kind, write_timeout=1, keepalive_timeout=1)
    c = connect(s.port, rcvbuf=64 * 1024, timeout=10)
    c.send(get("/big"))
    assert rec.big_started.wait(5)
    assert s.call(lambda: s.server.engine.connection_count) == 1
    t0 = time.monotonic()
    while s.call(lambda: s.server.engine.connection_count) and time.monotonic() - t0 < 6:
        time.sleep(0.05)  # polling the server's state, not waiting for readiness
    assert s.call(lambda: s.server.engine.connection_count) == 0
    assert 0.9 <= _elapsed_since(t0) < 4


def test_slow_reader_keeps_its_connection_while_it_reads(serve, rec, connect):
    """write_timeout measures progress, not total time: a reader that keeps reading gets every byte."""
    s = serve(make_app(rec), write_timeout=1, keepalive_timeout=1)
    c = connect(s.port, rcvbuf=64 * 1024, timeout=10)
    c.send(get("/big"))
    total = 0
    t0 = time.monotonic()
    head = c.read_head()
    expected = int(head.headers["content-length"])
    total = len(c.buf)
    c.buf.clear()
    while total < expected:
        chunk = c.sock.recv(256 * 1024)
        assert chunk, "connection closed while the client was still reading"
        total += len(chunk)
        time.sleep(0.02)  # a slow reader: about 3 MB/s at most
    assert total == expected
    assert time.monotonic() - t0 > 1  # the download took longer than write_timeout
