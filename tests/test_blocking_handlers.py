"""`blocking=True` handlers run in the engine's thread pool: the loop keeps serving while one blocks, and their
parameters, hooks and errors work as an inline handler's do."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from server_processes import APP_DIR, tiercel

from tiercel import TestClient, Tiercel


def test_blocking_handler_does_not_stall_the_loop(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR)
    slow: list[httpx.Response] = []
    t = threading.Thread(target=lambda: slow.append(httpx.get(p.url + "/blocking?s=1.5", timeout=10)))
    t.start()
    time.sleep(0.2)
    with httpx.Client(base_url=p.url) as c:
        fast = [c.get("/pid", timeout=5) for _ in range(20)]
    assert slow == []  # all served while the blocking one still sleeps
    assert all(r.status_code == 200 for r in fast)
    t.join(10)
    assert slow[0].text == "blocked 1.5"


def test_blocking_handlers_in_process():
    app = Tiercel(__file__)
    seen_threads = set()

    @app.get("/b/:n", blocking=True)
    def b(n: int, request):
        seen_threads.add(threading.current_thread().name)
        return {"n": n, "path": request.path}

    @app.before_request("/hooked")
    def before(request):
        request.headers.set("x-b", "1")

    @app.get("/hooked", blocking=True)
    def hooked(headers):
        return headers.get("x-b")

    @app.get("/fails", blocking=True)
    def fails():
        raise ValueError("nope")

    with TestClient(app, blocking_threads=2) as client:
        assert client.get("/b/4").json() == {"n": 4, "path": "/b/4"}
        assert client.get("/b/x").status_code == 400
        assert client.get("/hooked").text == "1"
        assert client.get("/fails").status_code == 500
    assert seen_threads and all(name.startswith("tiercel-blocking") for name in seen_threads)

    with pytest.raises(TypeError, match="blocking=True runs a sync handler"):

        @app.get("/async", blocking=True)
        async def not_sync():
            return "x"
