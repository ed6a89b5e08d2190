"""BackgroundTasks: work a handler queues runs once its answer is written, over real HTTP.

Ordering is shown with events and with what the client's socket already holds when a task starts, never with
timings: a task peeks at the client's socket (same process, loopback) and finds the whole answer there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tiercel import BackgroundTasks, HTTPException, StreamingResponse, TestClient, Tiercel, serve_file

APP_DIR = os.path.join(os.path.dirname(__file__), "apps")
SERVER_THREAD = "tiercel-test-server"  # conftest.RunningServer's loop thread


def cli(*flags: str) -> list[str]:
    return ["-m", "tiercel", "background_app:app", "--app-dir", APP_DIR, *flags]


def metric(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"{name} not in the metrics:\n{text}")


@pytest.mark.parametrize("kind", ["sync", "async", "stream", "file"])
def test_a_task_starts_once_the_answer_is_on_the_wire(serve, loop_kind, kind, tmp_path):
    app = Tiercel(__file__)
    (tmp_path / "page.txt").write_bytes(b"the file's body")
    client: dict[str, socket.socket] = {}
    peeked: list[bytes] = []
    looked = threading.Event()

    def look() -> None:
        try:
            peeked.append(client["sock"].recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            peeked.append(b"")
        looked.set()

    async def look_async() -> None:
        look()

    @app.get("/")
    def index(tasks: BackgroundTasks):
        tasks.add_task(look_async if kind == "async" else look)
        if kind == "stream":
            return StreamingResponse(iter([b"first ", b"second"]))
        if kind == "file":
            return serve_file(str(tmp_path / "page.txt"))
        return "the answer"

    s = serve(app, loop_kind)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        client["sock"] = sock
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert looked.wait(10)
    assert peeked[0].startswith(b"HTTP/1.1 200 OK\r\n")
    if kind == "stream":
        assert peeked[0].endswith(b"6\r\nsecond\r\n0\r\n\r\n")  # the stream's last chunk went out first
    elif kind == "file":
        assert peeked[0].endswith(b"\r\n\r\nthe file's body")
    else:
        assert peeked[0].endswith(b"\r\n\r\nthe answer")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_client_has_its_answer_while_a_slow_task_runs(serve, loop_kind, kind):
    app = Tiercel(__file__)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.set()

    async def slow_async() -> None:
        started.set()
        await asyncio.to_thread(release.wait, 10)
        finished.set()

    @app.post("/items")
    async def create(tasks: BackgroundTasks):
        tasks.add_task(slow if kind == "sync" else slow_async)
        return {"created": True}

    s = serve(app, loop_kind)
    r = httpx.post(s.url + "/items", timeout=10)
    assert r.status_code == 200 and r.json() == {"created": True}
    assert started.wait(10) and not finished.is_set()  # answered while the task waits for `release`
    assert httpx.get(s.url + "/items").status_code == 405  # and the server answers others meanwhile
    release.set()
    assert finished.wait(10)


def test_sync_tasks_run_in_the_pool_and_async_ones_on_the_loop(serve, loop_kind):
    app = Tiercel(__file__)
    seen: dict[str, Any] = {}
    done = threading.Event()

    def sync_task(a: int, b: str, *, c: list[int]) -> None:
        seen["sync"] = (threading.current_thread().name, a, b, c)

    async def async_task(a: int, *, b: str = "unset") -> None:
        task = asyncio.current_task()
        seen["async"] = (threading.current_thread().name, task is not None, a, b)
        done.set()

    @app.post("/")
    def index(tasks: BackgroundTasks):
        tasks.add_task(sync_task, 1, "two", c=[3])
        tasks.add_task(async_task, 4, b="five")
        return "ok"

    s = serve(app, loop_kind)
    assert httpx.post(s.url + "/").text == "ok"
    assert done.wait(10)
    name, *args = seen["sync"]
    assert name.startswith("tiercel-blocking") and args == [1, "two", [3]]
    assert seen["async"] == (SERVER_THREAD, True, 4, "five")


def test_a_requests_tasks_run_one_after_another_in_order(serve, loop_kind):
    app = Tiercel(__file__)
    order: list[int] = []
    done = threading.Event()

    def sync_step(n: int) -> None:
        order.append(n)

    async def async_step(n: int) -> None:
        await asyncio.sleep(0)  # suspends: the next task must still wait for this one
        order.append(n)

    @app.get("/")
    def index(tasks: BackgroundTasks, request):
        for n in range(1, 7):
            tasks.add_task(async_step if n % 2 == 0 else sync_step, n)
        tasks.add_task(done.set)
        return "ok"

    s = serve(app, loop_kind)
    assert httpx.get(s.url + "/").text == "ok"
    assert done.wait(10)
    assert order == [1, 2, 3, 4, 5, 6]


def test_a_failing_task_is_logged_and_changes_nothing_else(serve, loop_kind, caplog):
    caplog.set_level(logging.ERROR, logger="tiercel")
    app = Tiercel(__file__)
    after = threading.Event()

    def send_mail(to: str) -> None:
        raise ConnectionRefusedError(f"the mail server is down ({to})")

    async def notify() -> None:
        await asyncio.sleep(0)
        raise ValueError("no one to notify")

    @app.post("/signup")
    def signup(tasks: BackgroundTasks):
        tasks.add_task(send_mail, "ada@example.com")
        tasks.add_task(notify)
        tasks.add_task(after.set)  # the tasks after a failing one still run
        return "welcome"

    @app.get("/")
    def index():
        return "up"

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as client:
        r = client.post("/signup")
        assert (r.status_code, r.text) == (200, "welcome")
        assert after.wait(10)
        assert client.get("/").text == "up"  # the same connection, the next request
    failures = [r for r in caplog.records if r.name == "tiercel" and r.getMessage().startswith("Background task")]
    assert [r.getMessage() for r in failures] == [
        f"Background task {__name__}.{send_mail.__qualname__} (after POST /signup) failed",
        f"Background task {__name__}.{notify.__qualname__} (after POST /signup) failed",
    ]
    assert isinstance(failures[0].exc_info[1], ConnectionRefusedError)
    assert isinstance(failures[1].exc_info[1], ValueError)
    assert "raise ConnectionRefusedError" in caplog.text  # the traceback is in the log


def test_tasks_of_a_handler_that_raises_never_run(serve, loop_kind):
    """As in FastAPI: a handler that raises (here an HTTPException) did not do its work, so its tasks do not run."""
    app = Tiercel(__file__)
    ran: list[str] = []
    done = threading.Event()

    @app.post("/fails")
    def fails(tasks: BackgroundTasks):
        tasks.add_task(ran.append, "fails")
        raise HTTPException(409, "already there")

    @app.post("/works")
    def works(tasks: BackgroundTasks):
        tasks.add_task(ran.append, "works")
        tasks.add_task(done.set)
        return "ok"

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as client:
        assert client.post("/fails").status_code == 409
        assert client.post("/works").text == "ok"
    assert done.wait(10)
    assert ran == ["works"]


def test_add_task_after_the_answer_is_refused(serve, loop_kind):
    app = Tiercel(__file__)
    kept: list[BackgroundTasks] = []

    @app.get("/")
    def index(tasks: BackgroundTasks):
        kept.append(tasks)
        return "ok"

    s = serve(app, loop_kind)
    assert httpx.get(s.url + "/").text == "ok"
    with pytest.raises(RuntimeError, match="after the answer was written"):
        kept[0].add_task(print, "too late")
    with pytest.raises(TypeError, match="callable"):
        BackgroundTasks().add_task("not a function")  # type: ignore[arg-type]


def test_the_metrics_count_queued_done_and_failed_tasks(serve, loop_kind):
    app = Tiercel(__file__)

    def fine() -> None:
        pass

    def broken() -> None:
        raise RuntimeError("broken task")

    @app.post("/:n")
    def index(n: int, tasks: BackgroundTasks):
        for _ in range(n):
            tasks.add_task(fine)
        tasks.add_task(broken)
        return "ok"

    @app.get("/none")
    def none(tasks: BackgroundTasks):
        return "no task"

    s = serve(app, loop_kind, metrics="/metrics")
    with httpx.Client(base_url=s.url) as client:
        assert client.post("/2").text == "ok"
        assert client.post("/3").text == "ok"
        assert client.get("/none").text == "no task"
        deadline = time.monotonic() + 10
        while True:  # the last task is counted once its done-callback ran on the server's loop
            text = client.get("/metrics").text
            ended = sum(metric(text, f"tiercel_background_tasks_{what}_total") for what in ("done", "failed"))
            if ended == 7 or time.monotonic() > deadline:
                break
    assert metric(text, "tiercel_background_tasks_queued_total") == 7
    assert metric(text, "tiercel_background_tasks_done_total") == 5
    assert metric(text, "tiercel_background_tasks_failed_total") == 2
    assert metric(text, "tiercel_background_tasks_abandoned_total") == 0


def test_the_test_client_returns_once_the_tasks_have_run():
    """As Starlette's TestClient: a test can check a task's effect right after the request."""
    app = Tiercel(__file__)
    effects: list[str] = []

    async def remember(what: str) -> None:
        await asyncio.sleep(0)
        effects.append(what)

    @app.post("/remember/:what")
    def index(what: str, tasks: BackgroundTasks):
        tasks.add_task(remember, what)
        tasks.add_task(effects.append, "sync " + what)
        return "queued"

    with TestClient(app) as client:
        assert client.post("/remember/this").text == "queued"
        assert effects == ["this", "sync this"]


def test_a_websocket_handler_cannot_take_background_tasks():
    app = Tiercel(__file__)

    @app.websocket("/ws")
    async def ws(websocket, tasks: BackgroundTasks):
        pass

    with pytest.raises(TypeError, match="BackgroundTasks"):
        TestClient(app).get("/")


# ---- shutdown: a subprocess stopped by a signal ------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_waits_for_a_running_task(run_script, tmp_path, sig):
    release = tmp_path / "release"
    p = run_script(*cli(), cwd=APP_DIR, env={"TEST_RELEASE_FILE": str(release)})
    assert httpx.post(p.url + "/wait").text == "queued"
    assert p.wait_for_output("sync task started", 10)
    p.proc.send_signal(sig)
    assert p.wait_for_output("finishing in-flight requests", 10)
    assert p.proc.poll() is None  # stopping, but held by the running task
    release.touch()
    assert p.proc.wait(15) == 0
    assert p.stop() == 0
    out = "".join(p.output)
    assert "sync task finished" in out and "abandoned" not in out


def test_a_task_past_the_graceful_timeout_is_abandoned_by_name(run_script):
    p = run_script(*cli(), cwd=APP_DIR, env={"TIERCEL_TIMEOUT_GRACEFUL_SHUTDOWN": "0.3"})
    assert httpx.post(p.url + "/stuck").text == "queued"
    assert p.wait_for_output("never_ends started", 10)
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(15) == 0
    assert p.stop() == 0
    out = "".join(p.output)
    why = "abandoned: not finished within the graceful shutdown timeout (0.3 s)"
    assert f"Background task background_app.never_ends (after POST /stuck) {why}" in out
    assert f"Background task background_app.queued_behind (after POST /stuck) {why}" in out
    assert "queued_behind ran" not in out


def test_a_recycled_worker_names_and_counts_its_abandoned_tasks(run_script):
    """SIGHUP replaces every worker; the one running a task that never ends gives up on it after the graceful
    timeout, names it, and the metrics (shared by the workers, kept across restarts) count it."""
    p = run_script(
        *cli("--processes", "2", "--metrics", "/metrics"), cwd=APP_DIR, env={"TIERCEL_TIMEOUT_GRACEFUL_SHUTDOWN": "0.3"}
    )
    assert httpx.post(p.url + "/stuck").text == "queued"
    assert p.wait_for_output("never_ends started", 10)
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_for_output("background_app.queued_behind (after POST /stuck) abandoned", 20)
    assert p.wait_for_lines("exited with code 0", 2, 20)  # both old workers gone: their counts are archived
    text = httpx.get(p.url + "/metrics").text
    assert metric(text, "tiercel_background_tasks_queued_total") == 2
    assert metric(text, "tiercel_background_tasks_abandoned_total") == 2
    assert metric(text, "tiercel_background_tasks_done_total") == 0
    assert p.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("how", ["blocking", "suspended", "hooked"])
def test_every_way_a_handler_runs_hands_its_tasks_over(serve, loop_kind, how):
    """A blocking=True handler (arguments filled on the loop, add_task in a pool thread), an async handler that
    suspends before adding, and a route with before/after hooks all pass their tasks on."""
    app = Tiercel(__file__)
    ran = threading.Event()

    if how == "blocking":

        @app.post("/", blocking=True)
        def handler(tasks: BackgroundTasks):
            tasks.add_task(ran.set)
            return "ok"

    elif how == "suspended":

        @app.post("/")
        async def handler(tasks: BackgroundTasks):
            await asyncio.sleep(0)
            tasks.add_task(ran.set)
            return "ok"

    else:

        @app.post("/")
        def handler(tasks: BackgroundTasks):
            tasks.add_task(ran.set)
            return "ok"

        @app.before_request("/")
        async def before(request):
            await asyncio.sleep(0)
            return request

        @app.after_request("/")
        def after(response):
            response.headers.set("x-after", "1")
            return response

    s = serve(app, loop_kind)
    r = httpx.post(s.url + "/")
    assert r.text == "ok"
    assert ran.wait(10)
    if how == "hooked":
        assert r.headers["x-after"] == "1"


def test_a_blocking_handler_whose_client_left_can_still_add_tasks(serve, loop_kind):
    """Its wrapper is cancelled when the client leaves, but the thread goes on: add_task must not raise into it
    (the rest of its work still runs); the tasks are dropped, as a cancelled handler's are."""
    app = Tiercel(__file__)
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    @app.post("/slow", blocking=True)
    def slow(tasks: BackgroundTasks):
        entered.set()
        release.wait(10)
        try:
            tasks.add_task(outcome.append, "task ran")
            outcome.append("added")
        finally:
            finished.set()
        return "too late"

    s = serve(app, loop_kind)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
        assert entered.wait(10)
    deadline = time.monotonic() + 10
    while s.call(lambda: s.server.engine.pending_count) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the engine has seen the client leave and given up on the answer
    assert s.call(lambda: s.server.engine.pending_count) == 0
    release.set()
    assert finished.wait(10)
    assert s.call(lambda: s.server.engine.background_count) == 0
    assert outcome == ["added"]
