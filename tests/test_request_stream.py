"""Streamed request bodies (`stream_body=True`): `async for chunk in request.stream()` and `await request.form()`
get the body as it arrives, with backpressure, a limit of their own, and clear errors; a 100 MB multipart upload
keeps the server's memory flat."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time

import httpx
import pytest

from tiercel import TestClient, Tiercel

MiB = 1024 * 1024


def make_app(state: dict) -> Tiercel:
    app = Tiercel(__file__)

    @app.post("/sum", stream_body=True)
    async def digest(request):
        h, size, chunks = hashlib.sha256(), 0, 0
        async for chunk in request.stream():
            if chunks == 0 and "first" in state:
                state["first"].set()
            if "gate" in state and chunks == 0:
                while not state["gate"].is_set():  # hold the body back: the server must stop reading
                    await _sleep(0.02)
            h.update(chunk)
            size += len(chunk)
            chunks += 1
        return {"size": size, "sha256": h.hexdigest(), "chunks": chunks}

    @app.post("/form", stream_body=True)
    async def form(request):
        fields = await request.form()
        files = {}
        for name, f in request.files.items():
            h = hashlib.sha256()
            if f.path is None:
                h.update(f.content)
            else:
                with open(f.path, "rb") as fh:
                    while block := fh.read(MiB):
                        h.update(block)
            files[name] = {
                "filename": f.filename,
                "size": f.size,
                "sha256": h.hexdigest(),
                "spilled": f.path is not None,
            }
        return {"form": fields, "same": request.form_data is fields, "files": files}

    @app.post("/early", stream_body=True)
    async def early(request):
        return "answered without reading"

    @app.post("/misuse", stream_body=True)
    async def misuse(request):
        errors = []
        for attempt in (lambda: request.body, lambda: request.json(), lambda: request.form_data):
            try:
                attempt()
            except RuntimeError as e:
                errors.append(str(e))
        async for _ in request.stream():
            pass
        return {"errors": errors}

    @app.post("/buffered")
    async def buffered(request):
        pieces = [chunk async for chunk in request.stream()]
        form = await request.form()
        return {"pieces": len(pieces), "size": sum(map(len, pieces)), "form": form}

    @app.post("/errors", stream_body=True)
    async def errors(request):
        try:
            async for _ in request.stream():
                pass
        except Exception as e:  # the engine's HTTPException (408, 413) or a disconnect
            state["error"] = f"{type(e).__name__}: {e}"
            raise
        return "complete"

    @app.get("/ping")
    def ping():
        return "pong"

    return app


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


def head(path: str, length: int | None = None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: t\r\n{framing}{extra}\r\n".encode()


_unread: dict[int, bytes] = {}  # bytes received after a response, by socket fd (pipelined answers)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = _unread.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"connection closed before a response: {data!r}"
        data += more
    head_bytes, rest = data.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    need = int(headers.get("content-length", "0"))
    while len(rest) < need:
        more = sock.recv(65536)
        assert more
        rest += more
    _unread[sock.fileno()] = rest[need:]
    return status, headers, rest[:need]


def test_chunks_arrive_as_the_client_sends_them(serve):
    state = {"first": threading.Event()}
    s = serve(make_app(state))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/sum", 10))
        c.sendall(b"hello")
        # The handler sees the first half while the second has not been sent: nothing waits for the whole body.
        assert state["first"].wait(5), "the handler did not get the first piece before the body was complete"
        c.sendall(b"world")
        status, _, body = read_response(c)
    assert status == 200
    assert httpx.Response(200, content=body).json() == {
        "size": 10, "sha256": hashlib.sha256(b"helloworld").hexdigest(), "chunks": 2,
    }  # fmt: skip


def test_chunked_upload_beyond_max_body(serve):
    s = serve(make_app({}), max_body=MiB)
    blob = os.urandom(5 * MiB)

    def gen():
        for i in range(0, len(blob), 100_000):
            yield blob[i : i + 100_000]

    r = httpx.post(s.url + "/sum", content=gen(), timeout=30)
    assert r.status_code == 200
    assert r.json()["size"] == len(blob) and r.json()["sha256"] == hashlib.sha256(blob).hexdigest()
    r = httpx.post(s.url + "/sum", content=blob, timeout=30)  # Content-Length framing, over max_body
    assert r.status_code == 200 and r.json()["size"] == len(blob)
    # A route that reads its body whole still refuses it, before reading it.
    assert httpx.post(s.url + "/buffered", content=blob, timeout=30).status_code == 413


def test_over_max_stream_body(serve):
    state: dict = {}
    s = serve(make_app(state), max_stream_body=MiB)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/sum", 2 * MiB))  # refused before a byte of the body is read
        status, headers, body = read_response(c)
    assert status == 413 and headers["connection"] == "close"
    r = httpx.post(s.url + "/errors", content=iter([b"x" * 600_000, b"y" * 600_000]), timeout=10)
    assert r.status_code == 413
    assert state["error"].startswith("ClientError")  # the HTTPException of the framework's own client errors


def test_backpressure_holds_the_client_not_memory(run_script, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        "import asyncio, os\n"
        "from tiercel import Tiercel\n"
        "app = Tiercel(__file__)\n"
        "gate = {'open': False}\n"
        "@app.post('/slow', stream_body=True)\n"
        "async def slow(request):\n"
        "    n = 0\n"
        "    async for chunk in request.stream():\n"
        "        while not os.path.exists(os.environ['GATE']):\n"
        "            await asyncio.sleep(0.02)\n"
        "        n += len(chunk)\n"
        "    return str(n)\n"
        "app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']))\n"
    )
    gate = tmp_path / "gate"
    p = run_script(str(script), env={"GATE": str(gate)})
    total = 200 * MiB
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        c.sendall(head("/slow", total))
        c.settimeout(2)
        block = b"z" * MiB
        sent = 0
        with pytest.raises(TimeoutError):
            while sent < total:
                sent += c.send(block)
        # The handler holds its first piece: the server stopped reading, so the client is blocked, and the
        # server holds about its stream buffer, not what was sent.
        assert sent < 32 * MiB
        rss = _rss_kib(p.proc.pid)
        gate.write_text("open")
        c.settimeout(30)
        while sent < total:
            sent += c.send(block[: min(len(block), total - sent)])
        status, _, body = read_response(c)
    assert status == 200 and body == str(total).encode()
    assert _peak_kib(p.proc.pid) - rss < 64 * 1024, "a 200 MiB body went through without the server holding it"


def _rss_kib(pid: int) -> int:
    return _status_field(pid, "VmRSS")


def _peak_kib(pid: int) -> int:
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {name} for {pid}")


def test_100_mb_multipart_upload_keeps_memory_flat(run_script, tmp_path):
    script = tmp_path / "upload_app.py"
    script.write_text(
        "import hashlib, os\n"
        "from tiercel import Tiercel\n"
        "app = Tiercel(__file__)\n"
        "@app.post('/upload', stream_body=True)\n"
        "async def upload(request):\n"
        "    form = await request.form()\n"
        "    f = request.files['video']\n"
        "    h = hashlib.sha256()\n"
        "    with open(f.path, 'rb') as fh:\n"
        "        while block := fh.read(1 << 20):\n"
        "            h.update(block)\n"
        "    return {'title': form['title'], 'size': f.size, 'sha256': h.hexdigest(), 'filename': f.filename}\n"
        "@app.get('/rss')\n"
        "def rss():\n"
        "    return open('/proc/self/status').read()\n"
        "app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']))\n"
    )
    tmpdir = tmp_path / "spill"  # the server's own TMPDIR: nothing else writes there
    tmpdir.mkdir()
    p = run_script(str(script), env={"TMPDIR": str(tmpdir)})
    httpx.get(p.url + "/rss")  # warm up: the first request builds what every request reuses
    before = _rss_kib(p.proc.pid)
    size = 100 * MiB
    boundary = "tiercel-upload-test-boundary"
    block = hashlib.sha256(b"seed").digest() * (MiB // 32)  # 1 MiB, not all one byte
    expected = hashlib.sha256()
    for _ in range(size // MiB):
        expected.update(block)

    def body():  # generated as it is sent: the client does not hold 100 MB either
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nholiday\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        for _ in range(size // MiB):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(
        p.url + "/upload", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=120,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"title": "holiday", "size": size, "sha256": expected.hexdigest(), "filename": "clip.mp4"}
    peak = _peak_kib(p.proc.pid)
    print(f"server RSS before {before} KiB, peak during the 100 MB upload {peak} KiB", file=sys.stderr)
    assert peak - before < 24 * 1024, f"memory grew by {(peak - before) // 1024} MiB for a 100 MB upload"
    # The spilled file goes with the request's form, freed just after the answer is written: wait for it.
    deadline = time.monotonic() + 5
    while (leftovers := os.listdir(tmpdir)) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"leftovers {leftovers} after {5 - (deadline - time.monotonic()):.3f} s", file=sys.stderr)
    assert leftovers == []


def test_streamed_form_fields_files_and_errors(serve):
    s = serve(make_app({}), form_spill_size=64 * 1024)
    blob = os.urandom(300_000)
    r = httpx.post(
        s.url + "/form", data={"title": "t\u00e9", "n": "1"},
        files={"big": ("big.bin", blob, "application/x-big"), "small": ("s.txt", b"tiny")},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["form"] == {"title": "t\u00e9", "n": "1"} and body["same"] is True
    digest = hashlib.sha256(blob).hexdigest()
    assert body["files"]["big"] == {"filename": "big.bin", "size": len(blob), "sha256": digest, "spilled": True}
    assert body["files"]["small"]["spilled"] is False
    # urlencoded works the same way
    r = httpx.post(s.url + "/form", data={"a": "1", "b": "x y"})
    assert r.json()["form"] == {"a": "1", "b": "x y"}
    # malformed multipart: a 400 that says what is wrong
    bad = b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\nno closing boundary"
    r = httpx.post(s.url + "/form", content=bad, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert r.status_code == 400 and "truncated" in r.text
    # a field that is not a file is bounded (files are not)
    field = b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n" + b"v" * (2 * MiB) + b"\r\n--B--\r\n"
    r = httpx.post(s.url + "/form", content=field, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert r.status_code == 413 and "only files may be larger" in r.text
    assert httpx.get(s.url + "/ping").text == "pong"


def test_misuse_is_explained(serve):
    s = serve(make_app({}))
    r = httpx.post(s.url + "/misuse", content=b"data")
    assert r.status_code == 200
    errors = r.json()["errors"]
    assert len(errors) == 3 and all("request.stream()" in e for e in errors)
    assert "await request.form()" in errors[2]


def test_bad_declarations_fail_at_start_up():
    app = Tiercel(__file__)
    with pytest.raises(TypeError, match="stream_body=True needs an async handler"):

        @app.post("/sync", stream_body=True)
        def sync_handler(request):
            return "x"

    @app.post("/body", stream_body=True)
    async def with_body(body):
        return body

    with pytest.raises(TypeError, match="cannot take body"), TestClient(app):
        pass


def test_stream_and_form_on_ordinary_routes(serve):
    s = serve(make_app({}))
    r = httpx.post(s.url + "/buffered", data={"x": "1"})
    assert r.json() == {"pieces": 1, "size": 3, "form": {"x": "1"}}
    r = httpx.post(s.url + "/buffered")
    assert r.json() == {"pieces": 0, "size": 0, "form": {}}


def test_answer_before_the_body_closes_the_connection(serve):
    s = serve(make_app({}))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/early", 10 * MiB) + b"x" * 1000)
        status, headers, body = read_response(c)
        assert status == 200 and body == b"answered without reading"
        assert headers["connection"] == "close"
        c.settimeout(5)
        while c.recv(65536):  # then the server closes (lingering: it reads what is in flight first)
            pass
    assert httpx.get(s.url + "/ping").text == "pong"


def test_keep_alive_and_pipelining_after_a_streamed_body(serve):
    s = serve(make_app({}))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        c.sendall(head("/sum") + chunked + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n" + head("/sum", 3) + b"abc")
        first = read_response(c)
        second = read_response(c)
        third = read_response(c)
    assert first[0] == 200 and b'"size":11' in first[2]
    assert second[2] == b"pong"
    assert third[0] == 200 and b'"size":3' in third[2]


def test_expect_continue(serve):
    s = serve(make_app({}))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/sum", 4, "Expect: 100-continue\r\n"))
        assert c.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.sendall(b"data")
        status, _, body = read_response(c)
    assert status == 200 and b'"size":4' in body


def test_malformed_chunked_and_slow_body(serve):
    state: dict = {}
    s = serve(make_app(state), header_timeout=1)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/errors") + b"5\r\nhello\r\nZZ\r\n")
        status, headers, body = read_response(c)
    assert status == 400 and headers["connection"] == "close"
    assert state["error"].startswith("ClientError")  # the HTTPException of the framework's own client errors
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/errors", 100) + b"only part of it")
        t0 = time.monotonic()
        status, _, body = read_response(c)
    assert status == 408 and 0.9 < time.monotonic() - t0 < 4
    assert b"not received in time" in body


def test_client_leaving_mid_body(serve):
    state: dict = {}
    s = serve(make_app(state))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head("/errors", 1000) + b"x" * 10)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while "error" not in state and time.monotonic() < deadline:
        time.sleep(0.02)
    # The handler's read fails (or its task is cancelled), and the server goes on.
    assert httpx.get(s.url + "/ping").text == "pong"
    assert state.get("error", "CancelledError").split(":")[0] in ("ConnectionResetError", "CancelledError")


def test_test_client_streams_too():
    with TestClient(make_app({})) as client:
        r = client.post("/sum", content=b"x" * 3_000_000)
        assert r.json()["size"] == 3_000_000
        r = client.post("/form", data={"k": "v"})
        assert r.json()["form"] == {"k": "v"}
