"""A chat room over WebSockets: every message goes to everyone in the room.

Run `python examples/chat/chat.py`, then open http://127.0.0.1:8080/ in two browser tabs, pick a name in each and
talk. The page (chat.html) opens a WebSocket to /ws?name=...; the server broadcasts each message, and who joins
and leaves, to every connection of that route (in this process: run one process for one room).
"""

import json
from pathlib import Path

from tiercel import Tiercel, serve_html

app = Tiercel(__file__)
PAGE = str(Path(__file__).with_name("chat.html"))


@app.get("/")
def index(request):
    return serve_html(PAGE)


async def joined(websocket, name: str = "anonymous"):
    await websocket.broadcast(json.dumps({"text": f"{name} joined"}))


async def left(websocket, name: str = "anonymous"):
    await websocket.broadcast(json.dumps({"text": f"{name} left"}))


@app.websocket("/ws", on_connect=joined, on_close=left)
async def chat(websocket, name: str = "anonymous"):
    while True:  # until the client leaves: then receive_text() raises and the handler ends
        text = await websocket.receive_text()
        await websocket.broadcast(json.dumps({"name": name, "text": text}))


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
