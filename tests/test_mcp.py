"""The MCP endpoint (issue 16, item 7): `app.mcp.tool()`, `.resource(uri)`, `.prompt()` served over MCP's
Streamable HTTP, checked with the official `mcp` SDK client against a real server, in both eras the client speaks
(the stateless 2026-07-28 protocol its default `mode="auto"` finds through `server/discover`, and the
`initialize` handshake of 2025-11-25 and older), plus raw HTTP for what a conforming client never sends.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from pathlib import Path
from typing import Any, Literal

import httpx
import pydantic
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tiercel import AuthenticationHandler, BearerGetter, Identity, TestClient, Tiercel

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "mcp_server.py")
MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Dimensions(pydantic.BaseModel):
    width: float
    height: float


class Parcel(pydantic.BaseModel):
    label: str
    size: Dimensions


def make_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/before")
    def before(request):
        return "declared before the MCP endpoint"

    @app.mcp.tool()
    def add(a: int, b: float = 1.5) -> float:
        """Adds two numbers.

        Args:
            a: the first number
            b: the second number
        """
        return a + b

    @app.mcp.tool(name="paint", description="Paints a thing")
    async def paint_tool(thing: str, color: Color, finish: Literal["matte", "gloss"] = "matte") -> dict:
        await asyncio.sleep(0)  # really suspends: the endpoint awaits async tools
        return {"thing": thing, "color": color.value, "finish": finish}

    @app.mcp.tool()
    def fail(reason: str) -> str:
        raise RuntimeError(f"cannot: {reason}")

    @app.mcp.resource("users://{user_id}/profile")
    def profile(user_id: int) -> dict:
        """A user's profile."""
        return {"id": user_id, "double": user_id * 2}

    @app.mcp.resource("config://app", mime_type="text/plain")
    async def config() -> str:
        return "debug=false"

    @app.mcp.resource("files://{+path}")
    def file(path: str) -> bytes:
        return path.encode()

    @app.mcp.prompt()
    def review(code: str, language: str = "python") -> str:
        """Asks for a code review."""
        return f"Review this {language} code: {code}"

    @app.mcp.prompt()
    def chat(topic: str, turns: int) -> list:
        return [{"role": "assistant", "content": f"Let us talk about {topic}."}, f"{turns} turns, please."]

    @app.get("/after")
    def after(request):
        return "declared after it"

    return app


@pytest.fixture
def server(serve: Any) -> Any:
    return serve(make_app())


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


# ---- the official SDK client ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_sdk_client_lists_and_calls_everything(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with Client(f"{server.url}/mcp", mode=mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"add", "paint", "fail"}
            assert tools["add"].description == "Adds two numbers."
            assert tools["add"].input_schema == {
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "description": "the first number"},
                    "b": {"type": "number", "description": "the second number", "default": 1.5},
                },
                "required": ["a"],
            }
            assert tools["paint"].description == "Paints a thing"
            assert tools["paint"].input_schema["properties"]["color"] == {"enum": ["red", "blue"], "type": "string"}

            added = await client.call_tool("add", {"a": 2, "b": 0.25})
            assert not added.is_error and added.content[0].text == "2.25"
            painted = await client.call_tool("paint", {"thing": "door", "color": "blue"})
            assert painted.structured_content == {"thing": "door", "color": "blue", "finish": "matte"}

            failed = await client.call_tool("fail", {"reason": "no paint"})
            assert failed.is_error and failed.content[0].text == "cannot: no paint"
            wrong = await client.call_tool("add", {"a": "two"})
            assert wrong.is_error and "a: expected integer, got a string" in wrong.content[0].text
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("nope", {})
            assert unknown.value.code == -32602

            listed = (await client.list_resources()).resources
            assert [(str(r.uri), r.mime_type) for r in listed] == [("config://app", "text/plain")]
            templates = (await client.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["users://{user_id}/profile", "files://{+path}"]
            assert templates[0].description == "A user's profile."

            read = (await client.read_resource("users://21/profile")).contents[0]
            assert read.mime_type == "application/json" and read.text == '{"id":21,"double":42}'
            assert (await client.read_resource("config://app")).contents[0].text == "debug=false"
            blob = (await client.read_resource("files://a/b%20c.txt")).contents[0]
            assert blob.mime_type == "application/octet-stream" and blob.blob == "YS9iIGMudHh0"  # "a/b c.txt"
            with pytest.raises(MCPError) as missing:
                await client.read_resource("users://21/settings")
            assert missing.value.code == -32002
            with pytest.raises(MCPError) as not_int:
                await client.read_resource("users://abc/profile")
            assert not_int.value.code == -32602

            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            assert [(a.name, a.required) for a in prompts["review"].arguments or []] == [
                ("code", True),
                ("language", False),
            ]
            got = await client.get_prompt("review", {"code": "x = 1"})
            assert got.description == "Asks for a code review."
            assert [(m.role, m.content.text) for m in got.messages] == [("user", "Review this python code: x = 1")]
            chat = await client.get_prompt("chat", {"topic": "MCP", "turns": "3"})
            assert [(m.role, m.content.text) for m in chat.messages] == [
                ("assistant", "Let us talk about MCP."),
                ("user", "3 turns, please."),
            ]
            with pytest.raises(MCPError) as no_arg:
                await client.get_prompt("review", {})
            assert no_arg.value.code == -32602 and "code" in no_arg.value.message

    run(scenario())


def test_sdk_session_handshake(server: Any) -> None:
    """ClientSession over streamable_http_client: initialize negotiates the newest handshake version."""

    async def scenario() -> None:
        async with streamable_http_client(f"{server.url}/mcp") as (read, write), ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.protocol_version == "2025-11-25"
            assert init.server_info.name == "tiercel-mcp-server"
            assert init.capabilities.tools is not None and init.capabilities.prompts is not None
            result = await session.call_tool("add", {"a": 40, "b": 2})
            assert result.content[0].text == "42.0"

    run(scenario())


def test_the_test_client_reaches_the_endpoint() -> None:
    with TestClient(make_app()) as client:
        r = client.post("/mcp", json=rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}), headers=HEADERS)
        assert r.status_code == 200 and r.json()["result"]["content"] == [{"type": "text", "text": "3.0"}]


def test_plain_routes_around_the_endpoint(server: Any) -> None:
    assert httpx.get(f"{server.url}/before").text == "declared before the MCP endpoint"
    assert httpx.get(f"{server.url}/after").text == "declared after it"
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert "/before" in paths and "/mcp" not in paths  # the endpoint is the framework's, not in the document


# ---- raw HTTP: the transport's rules -------------------------------------------------------------
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post(server: Any, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}/mcp", headers={**HEADERS, **(headers or {})}, content=raw, json=None if raw else body
    )


def rpc(method: str, params: dict[str, Any] | None = None, id_: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, **({"params": params} if params is not None else {})}


def test_parse_error_and_invalid_requests(server: Any) -> None:
    r = post(server, None, raw=b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700 and r.json()["id"] is None
    r = post(server, {"jsonrpc": "1.0", "id": 7, "method": "ping"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600 and r.json()["id"] == 7
    r = post(server, {"jsonrpc": "2.0", "id": True, "method": "ping"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = post(server, rpc("tools/list") | {"params": [1, 2]})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600


def test_json_rpc_errors_in_the_handshake_era(server: Any) -> None:
    r = post(server, rpc("tools/frobnicate"), {"MCP-Protocol-Version": "2025-11-25"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32601, "message": "Method not found: tools/frobnicate"},
    }
    r = post(server, rpc("tools/call", {"name": "add", "arguments": [1]}, id_="x"))
    assert r.json()["id"] == "x" and r.json()["error"]["code"] == -32602
    r = post(server, rpc("resources/read", {}))
    assert r.json()["error"]["code"] == -32602
    r = post(server, rpc("server/discover", {}))  # the 2026 probe, asked in the handshake era
    assert r.json()["error"]["code"] == -32601
    assert post(server, rpc("ping")).json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_initialize_negotiates_the_version(server: Any) -> None:
    params: dict[str, Any] = {"capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    for asked, answered in [("2025-03-26", "2025-03-26"), ("2024-11-05", "2024-11-05"), ("1999-01-01", "2025-11-25")]:
        r = post(server, rpc("initialize", {**params, "protocolVersion": asked}))
        assert r.status_code == 200 and r.json()["result"]["protocolVersion"] == answered
        assert "mcp-session-id" not in r.headers  # stateless: any worker answers any request
    assert post(server, rpc("initialize", params)).json()["error"]["code"] == -32602


def test_notifications_and_responses_are_accepted_without_a_body(server: Any) -> None:
    for message in [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        {"jsonrpc": "2.0", "id": 5, "result": {}},
    ]:
        r = post(server, message)
        assert r.status_code == 202 and r.content == b""


def test_batches_only_where_the_version_has_them(server: Any) -> None:
    batch = [rpc("ping", id_=1), {"jsonrpc": "2.0", "method": "notifications/initialized"}, rpc("nope", id_=2), 3]
    r = post(server, batch, {"MCP-Protocol-Version": "2025-03-26"})
    assert r.status_code == 200
    assert r.json() == [
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": 2, "error": {"code": -32601, "message": "Method not found: nope"}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": r.json()[2]["error"]["message"]}},
    ]
    only_notes = post(server, [{"jsonrpc": "2.0", "method": "notifications/initialized"}])  # no header: 2025-03-26
    assert only_notes.status_code == 202
    r = post(server, [rpc("ping")], {"MCP-Protocol-Version": "2025-06-18"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    assert post(server, []).status_code == 400


def test_transport_refusals(server: Any) -> None:
    url = f"{server.url}/mcp"
    r = httpx.get(url, headers={"Accept": "text/event-stream"})
    assert r.status_code == 405 and "POST" in r.headers["allow"]  # no server-to-client stream is offered
    assert httpx.delete(url).status_code == 405  # no session to end
    r = httpx.post(url, json=rpc("ping"), headers={"Accept": "text/html"})
    assert r.status_code == 406 and r.json()["error"]["code"] == -32600
    r = httpx.post(url, json=rpc("ping"), headers={"Accept": ""})
    assert r.status_code == 406
    r = httpx.post(
        url, content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers={**HEADERS, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    assert post(server, rpc("ping"), {"Accept": "*/*"}).status_code == 200


def test_origin_is_checked(server: Any) -> None:
    r = post(server, rpc("ping"), {"Origin": "https://evil.example"})
    assert r.status_code == 403
    for origin in ["http://localhost:5173", "http://127.0.0.1", "http://[::1]:8080"]:
        assert post(server, rpc("ping"), {"Origin": origin}).status_code == 200


def test_allowed_origins(serve: Any) -> None:
    app = make_app()
    app.mcp.allowed_origins = ["https://app.example"]
    s = serve(app)
    assert post(s, rpc("ping"), {"Origin": "https://app.example"}).status_code == 200
    assert post(s, rpc("ping"), {"Origin": "https://other.example"}).status_code == 403


def modern(server: Any, method: str, params: dict[str, Any], **headers: str) -> httpx.Response:
    base = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    return post(server, rpc(method, {**params, "_meta": META}), {**base, **headers})


def test_modern_requests_stand_alone(server: Any) -> None:
    r = modern(server, "server/discover", {})
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["supportedVersions"] == [MODERN] and result["resultType"] == "complete"
    assert result["ttlMs"] == 0 and result["cacheScope"] == "public"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "tiercel-mcp-server"
    r = modern(server, "tools/call", {"name": "add", "arguments": {"a": 1}}, **{"Mcp-Name": "add"})
    assert r.json()["result"]["content"] == [{"type": "text", "text": "2.5"}]
    r = modern(
        server, "resources/read", {"uri": "users://é/profile"}, **{"Mcp-Name": "=?base64?dXNlcnM6Ly/DqS9wcm9maWxl?="}
    )
    assert r.status_code == 400 and "é" in r.json()["error"]["message"]  # matched the header, then not an int


def test_modern_errors_carry_their_http_status(server: Any) -> None:
    r = modern(server, "initialize", {})  # the handshake is gone in 2026-07-28
    assert r.status_code == 404 and r.json()["error"]["code"] == -32601
    r = modern(server, "tools/call", {"name": "nope"}, **{"Mcp-Name": "nope"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    r = modern(server, "tools/call", {"name": "add", "arguments": {"a": 1}}, **{"Mcp-Name": "fail"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = modern(server, "tools/list", {}, **{"Mcp-Method": "prompts/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = post(server, rpc("tools/list", {}), {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602  # no _meta envelope
    r = post(server, rpc("tools/list", {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}}),
             {"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"})  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["code"] == -32022
    assert r.json()["error"]["data"]["requested"] == "2099-01-01" and MODERN in r.json()["error"]["data"]["supported"]
    r = post(server, [rpc("tools/list", {"_meta": META})], {"MCP-Protocol-Version": MODERN})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    note = post(server, {"jsonrpc": "2.0", "method": "notifications/cancelled"}, {"MCP-Protocol-Version": MODERN})
    assert note.status_code == 202


# ---- registration ----------------------------------------------------------------------------------
def test_registration_mistakes_fail_at_the_decorator() -> None:
    app = Tiercel(__file__)

    @app.mcp.tool()
    def one() -> str:
        return "1"

    with pytest.raises(ValueError, match="already declared"):
        app.mcp.tool(name="one")(lambda: "2")
    with pytest.raises(ValueError, match="tool name"):
        app.mcp.tool(name="has space")(lambda: "2")
    with pytest.raises(TypeError, match=r"has no parameter for \['user_id'\]"):
        app.mcp.resource("users://{user_id}")(lambda: "x")
    with pytest.raises(TypeError, match=r"needs \['extra'\], not in the URI"):
        app.mcp.resource("users://{user_id}")(lambda user_id, extra: "x")
    with pytest.raises(ValueError, match="template variable"):
        app.mcp.resource("users://{user-id}")(lambda: "x")
    with pytest.raises(ValueError, match="before the first tool"):
        app.mcp.path = "/elsewhere"
    with pytest.raises(ValueError, match="before the first tool"):
        app.mcp.auth_required = True
    with pytest.raises(ValueError):  # the endpoint's route is a route like any other: no second POST /mcp

        @app.post("/mcp")
        def mine(request):
            return "mine"


def test_custom_path_and_server_info(serve: Any) -> None:
    app = Tiercel(__file__)
    app.mcp.path = "/ai/mcp"
    app.mcp.server_name, app.mcp.server_version, app.mcp.instructions = "shop", "2.0", "Use the tools."

    @app.mcp.prompt(arguments=[{"name": "x", "required": True}])
    def p(x: str) -> str:
        return x

    @app.mcp.resource  # bare, like @app.mcp.tool and @app.mcp.prompt
    def motd() -> str:
        return "hello"

    @app.mcp.tool
    def echo(text: str) -> str:
        return text

    s = serve(app)

    async def scenario() -> None:
        async with Client(f"{s.url}/ai/mcp", mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_info is not None and client.server_info.name == "shop"
            assert client.instructions == "Use the tools."
            assert client.server_capabilities.resources is not None
            assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "hi"
            assert (await client.list_prompts()).prompts[0].arguments[0].name == "x"
            assert (await client.read_resource("function://motd")).contents[0].text == "hello"  # Robyn's default URI

    run(scenario())
    assert httpx.post(f"{s.url}/mcp", json=rpc("ping"), headers=HEADERS).status_code == 404


class TokenAuth(AuthenticationHandler):
    def authenticate(self, request: Any) -> Identity | None:
        token = self.token_getter.get_token(request)
        return Identity({"user": "ann"}) if token == "s3cret" else None


def test_auth_required(serve: Any) -> None:
    app = Tiercel(__file__)
    app.configure_authentication(TokenAuth(BearerGetter()))
    app.mcp.auth_required = True

    @app.mcp.tool()
    def whoami() -> str:
        return "ann"

    s = serve(app)
    assert post(s, rpc("tools/list")).status_code == 401
    r = post(s, rpc("tools/call", {"name": "whoami"}), {"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.json()["result"]["content"][0]["text"] == "ann"


def test_a_blocking_tool_runs_beside_the_loop(serve: Any) -> None:
    """`blocking=True`: while a sync tool waits in its thread, the same worker answers another call (inline, the
    first call would hold the loop until its wait timed out)."""
    app = Tiercel(__file__)
    released = threading.Event()

    @app.mcp.tool(blocking=True)
    def wait_for_release() -> bool:
        return released.wait(10)

    @app.mcp.tool()
    async def release() -> str:
        released.set()
        return "released"

    with pytest.raises(ValueError, match="blocking=True is for sync functions"):
        app.mcp.tool(name="bad", blocking=True)(release)
    s = serve(app)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=s.url, headers=HEADERS, timeout=15) as http:
            waiting = asyncio.create_task(http.post("/mcp", json=rpc("tools/call", {"name": "wait_for_release"})))
            await asyncio.sleep(0.2)
            releasing = await http.post("/mcp", json=rpc("tools/call", {"name": "release"}))
            assert releasing.json()["result"]["content"][0]["text"] == "released"
            assert (await waiting).json()["result"]["content"][0]["text"] == "true"

    run(scenario())


def test_a_pydantic_model_argument(serve: Any) -> None:
    app = Tiercel(__file__)

    @app.mcp.tool()
    def ship(parcel: Parcel, copies: int = 1) -> Parcel:
        """Ships a parcel."""
        return Parcel(label=parcel.label.upper() * copies, size=parcel.size)

    s = serve(app)

    async def scenario() -> None:
        async with Client(f"{s.url}/mcp") as client:
            (tool,) = (await client.list_tools()).tools
            assert tool.input_schema["properties"]["parcel"]["properties"]["size"] == {"$ref": "#/$defs/Dimensions"}
            assert tool.input_schema["$defs"]["Dimensions"]["required"] == ["width", "height"]
            parcel = {"label": "ab", "size": {"width": 1, "height": 2.5}}
            result = await client.call_tool("ship", {"parcel": parcel, "copies": 2})
            assert result.structured_content == {"label": "ABAB", "size": {"width": 1.0, "height": 2.5}}
            bad = await client.call_tool("ship", {"parcel": {"label": "ab", "size": {"width": 1}}})
            assert bad.is_error and "parcel" in bad.content[0].text

    run(scenario())


def test_what_raises_is_logged(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A tool that raises is a tool result the model reads; a resource or prompt that raises is an internal
    error (-32603) that says nothing of the exception to the client. Both are logged with their traceback."""
    app = make_app()

    @app.mcp.resource("broken://{key}")
    def broken(key: str) -> str:
        raise KeyError(f"secret {key}")

    s = serve(app)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        r = post(s, rpc("tools/call", {"name": "fail", "arguments": {"reason": "x"}}))
        assert r.json()["result"]["isError"] is True
        r = post(s, rpc("resources/read", {"uri": "broken://k1"}))
        assert r.json() == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "Internal error"}}
    logged = [(rec.getMessage(), rec.exc_info is not None) for rec in caplog.records]
    assert ("MCP tool fail raised", True) in logged and ("MCP resources/read failed", True) in logged


def test_the_example_as_a_client_sees_it(run_script: Any) -> None:
    """examples/mcp_server.py, started as a script, used the way an MCP client would."""
    p = run_script(EXAMPLE)

    async def scenario() -> None:
        async with Client(f"{p.url}/mcp") as client:
            (tool,) = (await client.list_tools()).tools
            assert tool.input_schema["properties"]["priority"] == {
                "enum": ["low", "high"],
                "type": "string",
                "description": "how urgent it is",
                "default": "low",
            }
            added = await client.call_tool("add_note", {"text": "call Bob", "priority": "high"})
            assert added.structured_content == {"id": 2}
            assert (await client.read_resource("notes://2")).contents[0].text == "[high] call Bob"
            prompt = await client.get_prompt("summarize", {})
            assert prompt.messages[0].content.text.endswith("buy milk\n[high] call Bob")

    run(scenario())
