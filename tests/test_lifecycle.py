"""Starting and stopping real server processes: env overrides, signals, idle CPU, the README example."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tiercel import Tiercel

HERE = Path(__file__).parent
APP = str(HERE / "apps" / "lifecycle_app.py")
EXAMPLE = str(HERE.parent / "examples" / "hello.py")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_signal_stops_cleanly(run_script, sig, loop):
    p = run_script(APP, env={"TEST_LOOP": loop})
    assert httpx.get(p.url + "/").text == "up"
    assert p.stop(sig) == 0
    out = "".join(p.output)
    assert "stopped" in out
    assert "Traceback" not in out
    assert "leaked" not in out  # nanobind reports native objects still alive at exit


# SIGHUP too: without the supervisor there is nothing to restart in place, so it stops the process as SIGTERM does
# (a closed terminal, a reload command) instead of its default, which kills it with the request in flight.
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_lets_in_flight_request_finish(run_script, sig):
    p = run_script(APP)
    result = {}

    def call():
        result["r"] = httpx.get(p.url + "/slow?s=0.5", timeout=10)

    t = threading.Thread(target=call)
    t.start()
    # Signal only once the handler is running (it prints a line when it starts).
    assert p.wait_for_output("slow started", timeout=10)
    assert p.stop(sig) == 0
    t.join(10)
    assert result["r"].text == "slow done"
    if sig == signal.SIGHUP:
        assert any("one process has nothing to restart in place" in line for line in p.output), p.output


def test_env_host_and_port_override(run_script):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run_script(APP, env={"TIERCEL_HOST": "127.0.0.1", "TIERCEL_PORT": str(port)})
    assert p.port == port
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "up"


def test_bad_port_env_fails_with_clear_message(run_script):
    with pytest.raises(RuntimeError, match="TIERCEL_PORT must be an integer"):
        run_script(APP, env={"TIERCEL_PORT": "eighty"})


def test_port_in_use_fails_with_clear_message(run_script):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RuntimeError, match="cannot bind"):
            run_script(APP, env={"TIERCEL_PORT": str(port)})


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_idle_server_uses_no_cpu(run_script, loop):
    p = run_script(APP, env={"TEST_LOOP": loop})
    with httpx.Client(base_url=p.url) as c:
        assert c.get("/").text == "up"  # an open keep-alive connection (its sweep timer runs at 1 Hz)
        before = cpu_seconds(p.proc.pid)
        time.sleep(1.5)
        used = cpu_seconds(p.proc.pid) - before
    assert used < 0.05, f"idle server burned {used:.3f} s of CPU in 1.5 s"


def test_readme_example(run_script):
    p = run_script(EXAMPLE)
    with httpx.Client(base_url=p.url) as c:
        assert c.get("/").text == "Hello, World!"
        assert c.get("/users/42").json() == {"id": "42"}
        r = c.post("/users", json={"name": "Ada"})
        assert (r.status_code, r.json()) == (201, {"id": 1, "name": "Ada"})
    assert p.stop() == 0
    assert "leaked" not in "".join(p.output)


def test_state_item_and_attribute_access_from_a_startup_handler(serve):
    """Robyn tutorials' `app.state["db"] = await create_db_pool()`: item and attribute access are one entry."""
    app = Tiercel(__file__)

    async def create_db_pool() -> dict:
        await asyncio.sleep(0)
        return {"name": "pool"}

    @app.startup_handler
    async def open_pool():
        app.state["db"] = await create_db_pool()
        app.state.cache = {}
        app.state["scratch"] = 1
        del app.state["scratch"]

    @app.shutdown_handler
    def close_pool():
        del app.state.db

    @app.get("/state")
    def read_state():
        return {
            "item": app.state["db"]["name"],
            "attribute": app.state.db["name"],
            "contains": "db" in app.state and "scratch" not in app.state,
            "get": [app.state.get("cache"), app.state.get("missing", "default")],
            "keys": sorted(app.state),
            "len": len(app.state),
        }

    @app.get("/missing")
    def missing():
        errors = []
        try:
            app.state["nope"]
        except KeyError as e:
            errors.append(str(e))
        try:
            app.state.nope  # noqa: B018
        except AttributeError as e:
            errors.append(str(e))
        return errors

    s = serve(app)
    assert httpx.get(s.url + "/state").json() == {
        "item": "pool",
        "attribute": "pool",
        "contains": True,
        "get": [{}, "default"],
        "keys": ["cache", "db"],
        "len": 2,
    }
    item_error, attribute_error = httpx.get(s.url + "/missing").json()
    assert "'nope'" in item_error and "'db', 'cache'" in item_error
    assert "'nope'" in attribute_error
    s.stop()
    assert "db" not in app.state and list(app.state) == ["cache"]


def test_state_refuses_attributes_named_like_its_methods():
    state = Tiercel(__file__).state
    with pytest.raises(AttributeError, match=r"use app.state\['get'\]"):
        state.get = 1
    state["get"] = 1  # an entry of that name is reached by item
    assert state["get"] == 1 and state.get("get") == 1
    with pytest.raises(TypeError, match="keys are str"):
        state[1] = "x"
    assert repr(state) == "State(get=1)"
