"""The MCP endpoint's transport: JSON-RPC 2.0 messages over MCP's Streamable HTTP, answered as JSON.

One POST carries one JSON-RPC message (or, at protocol versions 2024-11-05 and 2025-03-26, a batch). A request is
answered 200 with its JSON-RPC response as `application/json`; a notification or a response is acknowledged 202
with no body. The server keeps no session (it assigns no `Mcp-Session-Id`), so any worker process can answer any
request, and it offers no server-to-client stream: GET and DELETE on the endpoint get the router's 405.

Two eras of the protocol are told apart by the `MCP-Protocol-Version` header, as the specification says:

* absent, or one of the handshake versions (2024-11-05 ... 2025-11-25): the client began with `initialize`;
  JSON-RPC errors travel in 200 answers, and only the transport's own refusals use 4xx;
* anything else: the stateless 2026-07-28 protocol, where every request carries its protocol version and the
  client's capabilities in `params._meta`, repeats its method (and tool, prompt or resource name) in the
  `Mcp-Method` / `Mcp-Name` headers, and an error's HTTP status follows its code (404 for an unknown method, 400
  for bad parameters, a header mismatch or an unsupported version).

>>> _decode_header("=?base64?w6k=?=")
'é'
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from tiercel._core import Request, Response

logger = logging.getLogger("tiercel")

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)
BATCH_VERSIONS = ("2024-11-05", "2025-03-26")  # JSON-RPC batching was removed in 2025-06-18
DEFAULT_VERSION = "2025-03-26"  # what a request without MCP-Protocol-Version speaks (the specification's rule)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
RESOURCE_NOT_FOUND = -32002
HEADER_MISMATCH, UNSUPPORTED_VERSION = -32020, -32022
# 2026-07-28: the HTTP status of an error answer follows its JSON-RPC code (any other code: 200).
MODERN_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}  # mirrored in Mcp-Name
# 2026-07-28 results a client may cache: how widely (ttlMs is 0: always stale, the registries can change).
CACHE_SCOPE = {
    "server/discover": "public",
    "tools/list": "public",
    "prompts/list": "public",
    "resources/list": "public",
    "resources/templates/list": "public",
    "resources/read": "private",  # what a resource says may depend on who asks
}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_SENTINEL = re.compile(r"^=\?base64\?(.*)\?=$")
_JSON = {"Content-Type": "application/json"}


class RPCError(Exception):
    """A JSON-RPC error answer: `code`, `message` and optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Server(Protocol):
    """What the transport needs from the MCP registry (tiercel.mcp.MCPApp)."""

    allowed_origins: list[str]

    def server_info(self) -> dict[str, str]: ...

    def call(self, method: str, params: dict[str, Any], version: str) -> Awaitable[dict[str, Any]]: ...


def _error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def _reply(status: int, body: Any) -> Response:
    return Response(status, dict(_JSON), orjson.dumps(body))


def _media_types(value: Any) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in str(value or "").split(",")]


def _accepts_json(accept: Any) -> bool:
    return any(t in ("application/json", "application/*", "*/*") for t in _media_types(accept))


def _decode_header(value: Any) -> str | None:
    """A header value as the client meant it: `=?base64?...?=` wraps text an HTTP field cannot carry as is."""
    if value is None:
        return None
    m = _SENTINEL.fullmatch(str(value))
    if m is None:
        return str(value)
    try:
        return base64.b64decode(m.group(1), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _shape(message: Any) -> tuple[str, str | None]:
    """("request" | "notification" | "response", None), or ("invalid", why) for what JSON-RPC 2.0 refuses."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return "invalid", 'a JSON-RPC 2.0 message is an object with "jsonrpc": "2.0"'
    has_id = "id" in message
    if has_id and (isinstance(message["id"], bool) or not isinstance(message["id"], (str, int))):
        return "invalid", "an MCP request id is a string or an integer"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "invalid", "method must be a string"
        if "params" in message and not isinstance(message["params"], dict):
            return "invalid", "params must be an object"
        return ("request" if has_id else "notification"), None
    if has_id and ("result" in message or "error" in message):
        return "response", None
    return "invalid", "a message is a request (method, id), a notification (method) or a response (id, result)"


class Endpoint:
    """The POST handler of the MCP endpoint (framework Python: MCP is opt-in, plain routes never run it)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def handle(self, request: Request) -> Response:
        headers = request.headers
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(str(origin)):
            # DNS rebinding: a page of another site must not reach a server on this machine or network.
            return _reply(403, _error(None, INVALID_REQUEST, f"Forbidden: origin {origin} is not allowed"))
        if not _accepts_json(headers.get("accept")):
            message = "Not Acceptable: the client must accept application/json and text/event-stream"
            return _reply(406, _error(None, INVALID_REQUEST, message))
        if "application/json" not in _media_types(headers.get("content-type")):
            message = "Unsupported Media Type: the body must be application/json"
            return _reply(415, _error(None, INVALID_REQUEST, message))
        try:
            message = orjson.loads(request.raw_body)
        except orjson.JSONDecodeError as e:
            return _reply(400, _error(None, PARSE_ERROR, f"Parse error: {e}"))
        versions = headers.get_all("mcp-protocol-version")
        if versions and versions[0] not in HANDSHAKE_VERSIONS:
            return await self._modern(request, message, versions[0])
        return await self._handshake(message, versions[0] if versions else DEFAULT_VERSION)

    def _origin_allowed(self, origin: str) -> bool:
        allowed = self.server.allowed_origins
        if "*" in allowed or origin in allowed:
            return True
        try:
            parts = urlsplit(origin)
            return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS
        except ValueError:
            return False

    # ---- protocol versions 2024-11-05 to 2025-11-25 ---------------------------------------------
    async def _handshake(self, message: Any, version: str) -> Response:
        if isinstance(message, list):
            if version not in BATCH_VERSIONS:
                no_batch = f"JSON-RPC batches are not part of MCP {version}: send one message per POST"
                return _reply(400, _error(None, INVALID_REQUEST, no_batch))
            if not message:
                return _reply(400, _error(None, INVALID_REQUEST, "an empty batch"))
            replies = [r for item in message if (r := await self._batch_item(item, version)) is not None]
            return _reply(200, replies) if replies else Response(202, {}, b"")
        kind, why = _shape(message)
        if why is not None:
            return _reply(400, _error(_valid_id(message), INVALID_REQUEST, f"Invalid Request: {why}"))
        if kind != "request":
            return Response(202, {}, b"")  # notifications (initialized, cancelled, ...) need no answer
        return _reply(200, await self._request(message, version))

    async def _batch_item(self, item: Any, version: str) -> dict[str, Any] | None:
        kind, why = _shape(item)
        if why is not None:
            return _error(_valid_id(item), INVALID_REQUEST, f"Invalid Request: {why}")
        if kind != "request":
            return None
        if item["method"] == "initialize":
            return _error(item["id"], INVALID_REQUEST, "initialize cannot be part of a batch")
        return await self._request(item, version)

    async def _request(self, message: dict[str, Any], version: str) -> dict[str, Any]:
        id_, method = message["id"], message["method"]
        try:
            result = await self.server.call(method, message.get("params") or {}, version)
        except RPCError as e:
            return _error(id_, e.code, e.message, e.data)
        except Exception:
            logger.exception("MCP %s failed", method)
            return _error(id_, INTERNAL_ERROR, "Internal error")
        return {"jsonrpc": "2.0", "id": id_, "result": result}

    # ---- protocol version 2026-07-28: stateless, every request self-contained -------------------
    async def _modern(self, request: Request, message: Any, version: str) -> Response:
        headers = request.headers
        kind, why = _shape(message)
        if why is not None:
            return _reply(400, _error(_valid_id(message), INVALID_REQUEST, f"Invalid Request: {why}"))
        if kind != "request":  # the 2026-07-28 wire has no client notifications: acknowledged and dropped
            if version not in MODERN_VERSIONS:
                return _modern_reply(_unsupported(None, version))
            return Response(202, {}, b"")
        id_, method = message["id"], message["method"]
        params: dict[str, Any] = message.get("params") or {}  # _shape saw to it that params is an object
        for name in ("mcp-protocol-version", "mcp-method", "mcp-name"):
            if len(headers.get_all(name)) > 1:
                return _modern_reply(_error(id_, HEADER_MISMATCH, f"the {name} header appears more than once"))
        meta = params.get("_meta")
        if not isinstance(meta, dict) or VERSION_KEY not in meta or CAPABILITIES_KEY not in meta:
            envelope = f"params._meta must carry {VERSION_KEY!r} and {CAPABILITIES_KEY!r}"
            return _modern_reply(_error(id_, INVALID_PARAMS, envelope))
        if meta[VERSION_KEY] != version:
            mismatch = "the MCP-Protocol-Version header does not match the request's protocol version"
            return _modern_reply(_error(id_, HEADER_MISMATCH, mismatch))
        if headers.get("mcp-method") != method:
            return _modern_reply(_error(id_, HEADER_MISMATCH, "the Mcp-Method header does not match the method"))
        key = NAME_PARAM.get(method)
        if key is not None and params.get(key) is not None and _decode_header(headers.get("mcp-name")) != params[key]:
            return _modern_reply(_error(id_, HEADER_MISMATCH, f"the Mcp-Name header does not match params.{key}"))
        if version not in MODERN_VERSIONS:
            return _modern_reply(_unsupported(id_, version))
        reply = await self._request(message, version)
        result = reply.get("result")
        if result is not None:
            result["resultType"] = "complete"
            if method in CACHE_SCOPE:
                result.update(ttlMs=0, cacheScope=CACHE_SCOPE[method])
            result.setdefault("_meta", {})[SERVER_INFO_KEY] = self.server.server_info()
        return _modern_reply(reply)


def _modern_reply(reply: dict[str, Any]) -> Response:
    status = MODERN_STATUS.get(reply["error"]["code"], 200) if "error" in reply else 200
    return _reply(status, reply)


def _unsupported(id_: Any, version: str) -> dict[str, Any]:
    supported = {"supported": [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS], "requested": version}
    return _error(id_, UNSUPPORTED_VERSION, "Unsupported protocol version", supported)


def _valid_id(message: Any) -> Any:
    """The id to answer an invalid message with: its own when that is a usable id, else null."""
    id_ = message.get("id") if isinstance(message, dict) else None
    return id_ if isinstance(id_, (str, int)) and not isinstance(id_, bool) else None


__all__ = ["HANDSHAKE_VERSIONS", "MODERN_VERSIONS", "Endpoint", "RPCError"]
