"""The app the production-runtime tests run under the CLI and the supervisor (tests/server_processes.py)."""

import asyncio
import os
import time

from tiercel import Tiercel

app = Tiercel(__file__)


@app.startup_handler
def startup():
    if os.environ.get("RUNTIME_APP_FAIL_STARTUP"):
        raise RuntimeError("the database is unreachable (a test's deliberate start-up failure)")


@app.shutdown_handler
async def shutdown():
    print(f"shutdown handler ran in {os.getpid()}", flush=True)


@app.get("/pid")
def pid():
    return str(os.getpid())


@app.get("/slow")
async def slow(s: float = 1.0):
    await asyncio.sleep(s)
    return f"slept {s} in {os.getpid()}"


@app.get("/hang")
def hang():
    while True:  # a sync handler stuck forever: the heartbeat must notice
        time.sleep(0.01)


@app.get("/boom")
def boom():
    raise RuntimeError("secret detail")


@app.get("/blocking", blocking=True)
def blocking(s: float = 1.0):
    time.sleep(s)  # a blocking call: in the thread pool, it must not stall the loop
    return f"blocked {s}"
