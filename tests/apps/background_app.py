"""An app with background tasks, run as a subprocess by test_background_tasks.py (graceful shutdown, recycling).

A task that waits for TEST_RELEASE_FILE to exist lets a test stop the server while the task is running, then let
it finish; a task that never ends shows what shutdown does with it.
"""

import asyncio
import os
import time

from tiercel import BackgroundTasks, Tiercel

app = Tiercel(__file__)
RELEASE_FILE = os.environ.get("TEST_RELEASE_FILE", "")


def wait_for_release(label: str) -> None:
    """Sync: runs in the thread pool until the test creates the release file."""
    print(f"{label} started", flush=True)
    while not os.path.exists(RELEASE_FILE):
        time.sleep(0.01)
    print(f"{label} finished", flush=True)


async def never_ends() -> None:
    print("never_ends started", flush=True)
    await asyncio.Event().wait()


def queued_behind() -> None:
    print("queued_behind ran", flush=True)


@app.get("/")
def index():
    return "up"


@app.post("/wait")
def wait(tasks: BackgroundTasks):
    tasks.add_task(wait_for_release, "sync task")
    return "queued"


@app.post("/stuck")
def stuck(tasks: BackgroundTasks):
    tasks.add_task(never_ends)
    tasks.add_task(queued_behind)
    return "queued"


if __name__ == "__main__":
    app.start(loop=os.environ.get("TEST_LOOP", "auto"))
