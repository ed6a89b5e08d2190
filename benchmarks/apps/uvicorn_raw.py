"""Raw ASGI hello app (no framework) for benchmarks/hello.py, the uvicorn baseline.

Run as: python -m uvicorn benchmarks.apps.uvicorn_raw:app --loop uvloop
        --http httptools --no-access-log --log-level warning --workers 1
"""

# Built once: the baseline should be as cheap as raw ASGI gets, so the
# comparison measures the server, not per-request allocations in the app.
BODY = b"Hello, World!"
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
HELLO_BODY = {"type": "http.response.body", "body": BODY}
NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"9"),
    ],
}
NOT_FOUND_BODY = {"type": "http.response.body", "body": b"Not Found"}


async def app(scope, receive, send):
    if scope["type"] == "http":
        if scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
            await send(HELLO_START)
            await send(HELLO_BODY)
        else:
            await send(NOT_FOUND_START)
            await send(NOT_FOUND_BODY)
    elif scope["type"] == "lifespan":
        # Answer startup/shutdown so uvicorn does not log "lifespan unsupported".
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
