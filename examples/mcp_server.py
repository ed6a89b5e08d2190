"""An MCP server (Model Context Protocol): run `python examples/mcp_server.py`, then point an MCP client at
http://127.0.0.1:8080/mcp (for instance `Client("http://127.0.0.1:8080/mcp")` of the `mcp` SDK)."""

from typing import Literal

from tiercel import Tiercel

app = Tiercel(__file__)
NOTES: dict[int, str] = {1: "buy milk"}


@app.get("/")
def index(request):
    return "An MCP server lives at POST /mcp"


@app.mcp.tool()
def add_note(text: str, priority: Literal["low", "high"] = "low") -> dict[str, int]:
    """Adds a note.

    Args:
        text: what to remember
        priority: how urgent it is
    """
    note_id = max(NOTES, default=0) + 1
    NOTES[note_id] = f"[{priority}] {text}"
    return {"id": note_id}


@app.mcp.resource("notes://{note_id}")
def note(note_id: int) -> str:
    """One note, by its id."""
    return NOTES.get(note_id, "(no such note)")


@app.mcp.prompt()
def summarize(style: str = "short") -> str:
    """Asks the model to summarize every note."""
    return f"Summarize these notes in a {style} way:\n" + "\n".join(NOTES.values())


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
