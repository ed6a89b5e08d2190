"""A live dashboard: the server pushes its metrics every second as server-sent events (SSE), and a page of HTML
with a few lines of JavaScript (EventSource) shows them as they come.

Run it with `python examples/dashboard/dashboard.py`, then open http://127.0.0.1:8080/ (or watch the raw events
with `curl -N localhost:8080/metrics`).
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator

from tiercel import SSEMessage, SSEResponse, Tiercel, html

app = Tiercel(__file__)

STARTED = time.monotonic()
requests_served = 0

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Tiercel dashboard</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px system-ui, sans-serif; margin: 3em; }
  dl { display: grid; grid-template-columns: max-content 8em; gap: .5em 2em; }
  dd { margin: 0; font: bold 1.6em ui-monospace, monospace; text-align: right; }
</style>
<h1>Tiercel dashboard</h1>
<p id="status">connecting…</p>
<dl>
  <dt>Uptime (s)</dt><dd id="uptime">-</dd>
  <dt>Requests served</dt><dd id="requests">-</dd>
  <dt>Load average (1 min)</dt><dd id="load">-</dd>
</dl>
<script>
  const events = new EventSource("/metrics");  // reconnects by itself if the server goes away
  const statusLine = document.getElementById("status");
  events.onopen = () => { statusLine.textContent = "live"; };
  events.onerror = () => { statusLine.textContent = "reconnecting…"; };
  events.addEventListener("metrics", (e) => {
    const m = JSON.parse(e.data);
    for (const key of ["uptime", "requests", "load"]) document.getElementById(key).textContent = m[key];
  });
</script>
</html>
"""


@app.before_request()
async def count_requests(request):
    global requests_served
    requests_served += 1
    return request


@app.get("/")
async def page():
    return html(PAGE)


def snapshot() -> dict[str, object]:
    return {
        "uptime": round(time.monotonic() - STARTED),
        "requests": requests_served,
        "load": round(os.getloadavg()[0], 2),
    }


@app.get("/metrics")
async def metrics():
    async def events() -> AsyncIterator[str]:
        while True:  # until the browser leaves: then the framework stops the generator
            yield SSEMessage(snapshot(), event="metrics")
            await asyncio.sleep(1)

    return SSEResponse(events())


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
