"""A small app run as a subprocess by test_lifecycle.py."""

import asyncio
import os

from tiercel import Tiercel

app = Tiercel(__file__)


@app.get("/")
def index(request):
    return "up"


@app.get("/slow")
async def slow(request):
    print("slow started", flush=True)
    await asyncio.sleep(float(request.query_params.get("s", "0.5")))
    return "slow done"


if __name__ == "__main__":
    app.start(loop=os.environ.get("TEST_LOOP", "auto"))
