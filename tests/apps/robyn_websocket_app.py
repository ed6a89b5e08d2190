"""A WebSocket app written for Robyn 0.88 (its documented API: `@app.websocket`, `@handler.on_connect` /
`@handler.on_close`, `await websocket.broadcast(...)`, typed query parameters on the handler and its hooks), with
only the import line changed: run as a subprocess by test_websocket_api.py."""

import os

from tiercel import Tiercel as Robyn
from tiercel import WebSocketAdapter, WebSocketDisconnect

app = Robyn(__file__)
app.inject_global(motd="stay sharp")


@app.websocket("/echo")
async def echo(websocket):
    try:
        while True:
            text = await websocket.receive_text()
            if text == "quit":
                await websocket.close()
                break
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect:
        print(f"client {websocket.id} left", flush=True)


@echo.on_connect
def greet(websocket):
    return "connected to echo"


@echo.on_close
def farewell(websocket):
    print(f"closed {websocket.id}", flush=True)
    return "see you"  # the connection is closed by now: not sent


@app.websocket("/room")
async def room(websocket, name: str = "anonymous", seat: int = 0):
    while True:
        text = await websocket.receive_text()
        await websocket.broadcast(f"{name}@{seat}: {text}")


@room.on_connect
async def joined(websocket, name: str = "anonymous"):
    return f"welcome {name}"


@room.on_close
def left(websocket, name: str = "anonymous"):
    print(f"{name} left the room", flush=True)


@app.websocket("/data")
async def data(socket: WebSocketAdapter, global_dependencies):
    await socket.send_json({"motd": global_dependencies["motd"], "query": socket.query_params.get("q", "")})
    while True:
        payload = await socket.receive_bytes()
        await socket.send_bytes(payload[::-1])


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(os.environ.get("TIERCEL_PORT", "8080")))
