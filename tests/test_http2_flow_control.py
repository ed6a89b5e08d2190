"""HTTP/2 flow control against clients that read slowly or not at all: what the server holds for them stays within
the connection's write watermark (shared by its streams), a stream or connection that gets no window for
write_timeout is reset or closed, and the memory comes back once they are gone."""

from __future__ import annotations

import asyncio
import contextlib
import time

import h2.errors
import h2.events
import h2.exceptions
import httpx
from test_http2 import RawH2, ended, goaway, make_app
from test_memory import rss_kib
from test_request_stream import _peak_kib

from tiercel import StreamingResponse


def test_slow_reader_holds_the_stream_not_memory(serve):
    """A client that gives back no window: the server sends what the window allows and stops pulling the
    generator; once the client reads, the rest comes, complete."""
    produced = [0]
    app = make_app()

    @app.get("/huge")
    def huge():
        def gen():
            for _ in range(800):  # 50 MiB in 64 KiB items
                produced[0] += 1
                yield b"z" * 65536

        return StreamingResponse(gen())

    s = serve(app)
    with RawH2(s.port) as c:
        sid = c.request("/huge")
        evs = c.events(lambda evs: False, timeout=1.5)  # reads, but acknowledges nothing
        received = sum(len(e.data) for e in evs if isinstance(e, h2.events.DataReceived))
        assert received <= 70_000  # the default 64 KiB window
        assert produced[0] * 65536 < 4 << 20, produced[0]  # the producer is held near the watermark
        for e in evs:
            if isinstance(e, h2.events.DataReceived):
                c.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        c.flush()

        def drain(evs):
            for e in evs[drain.seen :]:
                if isinstance(e, h2.events.DataReceived):
                    c.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            drain.seen = len(evs)
            c.flush()
            return ended(sid)(evs)

        drain.seen = 0
        evs = c.events(drain, timeout=30)
        received += sum(len(e.data) for e in evs if isinstance(e, h2.events.DataReceived))
    assert received == 800 * 65536 and produced[0] == 800


TINY_WINDOW_APP = """
import os
from tiercel import StreamingResponse, Tiercel
app = Tiercel(__file__)
@app.get('/big')
def big():
    return StreamingResponse(b'z' * 65536 for _ in range(64))  # 4 MiB
BLOB = b'b' * (64 << 20)
@app.get('/blob')
def blob():
    return BLOB
app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']), write_timeout=2)
"""


def test_tiny_window_client_holds_neither_memory_nor_the_connection(run_script, tmp_path):
    """A client that grants each stream a 1-byte window and never sends WINDOW_UPDATE, 100 streams of a 4 MiB
    streamed answer: the server holds about the connection's write watermark (1 MiB), shared by the streams, not
    one per stream (it grew by ~200 MiB), and ends the connection (GOAWAY) once no window came for write_timeout."""
    script = tmp_path / "app.py"
    script.write_text(TINY_WINDOW_APP)
    p = run_script(str(script))
    with httpx.Client(http1=False, http2=True, base_url=p.url, timeout=10) as client:  # warm-up
        assert len(client.get("/big").content) == 4 << 20
    time.sleep(1)
    idle, before = rss_kib(p.proc.pid), _peak_kib(p.proc.pid)
    with RawH2(p.port, initial_window_size=1) as c:
        c.events(lambda evs: any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs))
        for _ in range(100):
            c.request("/big")
        t0 = time.monotonic()
        evs = c.events(goaway, timeout=20)
        elapsed = time.monotonic() - t0
        assert goaway(evs), "the starved connection is still open"
    terminated = [e for e in evs if isinstance(e, h2.events.ConnectionTerminated)]
    assert not terminated or terminated[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, terminated
    assert elapsed < 10, elapsed  # write_timeout is 2 s
    grown = _peak_kib(p.proc.pid) - before
    assert grown < 16 * 1024, f"the server grew by {grown} KiB for one starved connection"
    deadline = time.monotonic() + 5  # and what it used comes back once the connection is gone
    while (now := rss_kib(p.proc.pid)) > idle * 1.2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now <= idle * 1.2, f"RSS {now} KiB once the connection is gone (idle {idle} KiB)"


def test_one_starved_stream_is_reset_while_others_progress(serve):
    """Of two streams, the client reads one and never gives the other window: that one is reset (RST_STREAM) after
    write_timeout, the connection and the other stream go on."""
    app = make_app()

    @app.get("/drip")
    async def drip():
        async def gen():
            for _ in range(60):
                await asyncio.sleep(0.05)  # 3 s
                yield b"d" * 1000

        return StreamingResponse(gen())

    s = serve(app, write_timeout=1)
    with RawH2(s.port, initial_window_size=1) as c:
        c.events(lambda evs: any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs))
        read, starved = c.request("/drip"), c.request("/drip")

        def step(evs):
            for e in evs[step.seen :]:
                if isinstance(e, h2.events.DataReceived) and e.stream_id == read and e.data:
                    c.conn.increment_flow_control_window(len(e.data))
                    with contextlib.suppress(h2.exceptions.StreamClosedError):  # its last DATA came
                        c.conn.increment_flow_control_window(65536, read)
            step.seen = len(evs)
            c.flush()
            return ended(read)(evs) or goaway(evs)

        step.seen = 0
        c.conn.increment_flow_control_window(65536, read)
        c.flush()
        evs = c.events(step, timeout=15)
    resets = [e for e in evs if isinstance(e, h2.events.StreamReset)]
    assert [(r.stream_id, r.error_code) for r in resets] == [(starved, h2.errors.ErrorCodes.CANCEL)], evs
    assert ended(read)(evs) and not goaway(evs)
    body = b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived) and e.stream_id == read)
    assert body == b"d" * 60_000


def test_large_bytes_answer_is_held_once(run_script, tmp_path):
    """A 64 MiB bytes answer to a client that grants a 1-byte window: the server holds it once (the serialised
    answer, as over HTTP/1.1) while it waits for window, not in several copies (it grew by 4 times the answer)."""
    script = tmp_path / "app.py"
    script.write_text(TINY_WINDOW_APP)
    p = run_script(str(script))
    before = _peak_kib(p.proc.pid)
    with RawH2(p.port, initial_window_size=1) as c:
        c.events(lambda evs: any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs))
        c.request("/blob")
        evs = c.events(lambda evs: any(isinstance(e, h2.events.DataReceived) for e in evs), timeout=10)
        assert any(isinstance(e, h2.events.DataReceived) for e in evs)  # the answer is taken, held for window
        grown = _peak_kib(p.proc.pid) - before
    assert grown < 96 * 1024, f"the server grew by {grown} KiB for a 64 MiB answer"


MANY_CONNECTIONS_APP = """
import os
from tiercel import StreamingResponse, Tiercel
app = Tiercel(__file__)
@app.get('/answer')
def answer():
    return StreamingResponse(b'a' * 4096 for _ in range(16))  # 64 KiB in 4 KiB pieces
app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']), write_timeout=2, write_high_watermark=65536)
"""


def test_many_tiny_window_connections_are_bounded_closed_and_give_memory_back(run_script, tmp_path):
    """100 connections x 100 streams of a 64 KiB streamed answer, each client granting a 1-byte window and never
    more: the server holds per connection about its write watermark (64 KiB here) and the piece each stream's
    generator yielded last, not the answers (640 MiB of them: each stream's generator filled an inbox of 64 KiB in
    the thread pool); it closes every connection once no window came for write_timeout; and once they are gone it
    gives most of that memory back. (Not all: 10,000 concurrent streams leave the heap fragmented by what outlived
    them, and the 40 threads of the pool their stacks and arenas; about +28 MiB over 28 MiB idle, stable when the
    burst is repeated.)"""
    script = tmp_path / "app.py"
    script.write_text(MANY_CONNECTIONS_APP)
    p = run_script(str(script))
    with httpx.Client(http1=False, http2=True, base_url=p.url, timeout=10) as client:  # warm-up
        assert len(client.get("/answer").content) == 65536
    time.sleep(1)
    idle, before = rss_kib(p.proc.pid), _peak_kib(p.proc.pid)
    conns = [RawH2(p.port, initial_window_size=1) for _ in range(100)]
    try:
        for c in conns:
            c.events(lambda evs: any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs))
            for _ in range(100):
                c.request("/answer")
        t0 = time.monotonic()
        closed = sum(goaway(c.events(goaway, timeout=20)) for c in conns)
        elapsed = time.monotonic() - t0
    finally:
        for c in conns:
            c.sock.close()
    assert closed == 100, f"{100 - closed} starved connections are still open"
    assert elapsed < 15, elapsed  # write_timeout is 2 s
    peak = _peak_kib(p.proc.pid)
    assert peak - before < 160 * 1024, f"the server grew by {peak - before} KiB for 100 starved connections"
    kept = (peak - idle) // 3
    deadline = time.monotonic() + 5
    while (now := rss_kib(p.proc.pid)) > idle + kept and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now <= idle + kept, f"RSS {now} KiB once the connections are gone (idle {idle} KiB, peak {peak} KiB)"
