"""An MCP (Model Context Protocol) server inside a Tiercel app: tools, resources and prompts, as Robyn names them.

>>> from tiercel import Tiercel
>>> app = Tiercel(__file__)
>>> @app.mcp.tool()
... def add(a: int, b: int = 1) -> int:
...     '''Adds two numbers.'''
...     return a + b
>>> @app.mcp.resource("users://{user_id}/profile")
... def profile(user_id: int) -> dict:
...     return {"id": user_id}
>>> [r.path for r in app.routes]
['/mcp']

The first declaration adds the endpoint (POST /mcp; `app.mcp.path` changes it before then). A tool's input schema
comes from its type hints and its docstring (tiercel.json_schema); tools, resources and prompts may be sync or
async. The transport is in tiercel.mcp_http.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import inspect
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson

from tiercel.mcp_http import (
    HANDSHAKE_VERSIONS,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    MODERN_VERSIONS,
    RESOURCE_NOT_FOUND,
    Endpoint,
    RPCError,
)
from tiercel.mcp_signature import ArgumentError, Signature
from tiercel.routing import is_async_callable

if TYPE_CHECKING:
    from tiercel.app import App

logger = logging.getLogger("tiercel")
Fn = Callable[..., Any]
_VARIABLE = re.compile(r"\{(\+?)([A-Za-z_][A-Za-z0-9_]*)\}")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")  # the names MCP 2025-11-25 recommends
_STRUCTURED_SINCE = "2025-06-18"  # structuredContent in tool results


@dataclasses.dataclass
class Entry:
    """A declared tool, resource or prompt: its function, the function's signature, what a list shows of it, and
    for a resource template the regex of its URIs."""

    fn: Fn
    signature: Signature
    listing: dict[str, Any]
    pattern: re.Pattern[str] | None = None


def _listing(name: str, title: str | None, description: str | None, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name}
    if title is not None:
        entry["title"] = title
    if description:
        entry["description"] = description
    entry.update({k: v for k, v in more.items() if v is not None})
    return entry


def _template(uri: str) -> tuple[re.Pattern[str] | None, list[str]]:
    """A URI template (RFC 6570 `{var}`, one segment, and `{+var}`, any text) as a regex and its variables."""
    names = [m.group(2) for m in _VARIABLE.finditer(uri)]
    if not names:
        if "{" in uri or "}" in uri:
            raise ValueError(f"resource URI {uri!r}: a template variable is written {{name}} or {{+name}}")
        return None, []
    if len(set(names)) != len(names):
        raise ValueError(f"resource URI template {uri!r} names a variable twice")
    parts, last = [], 0
    for m in _VARIABLE.finditer(uri):
        literal = uri[last : m.start()]
        if "{" in literal or "}" in literal:
            raise ValueError(f"resource URI template {uri!r}: a variable is written {{name}} or {{+name}}")
        parts.append(re.escape(literal))
        parts.append(f"(?P<{m.group(2)}>{'.+' if m.group(1) else '[^/?#]+'})")
        last = m.end()
    parts.append(re.escape(uri[last:]))
    return re.compile("".join(parts)), names


async def _run(fn: Fn, kwargs: dict[str, Any]) -> Any:
    value = fn(**kwargs)
    return await value if inspect.isawaitable(value) else value


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # a pydantic model
    return dump(mode="json") if callable(dump) else value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(_jsonable(value)).decode()
    except TypeError:
        return str(value)


class MCPApp:
    """`app.mcp`: the MCP server of a Tiercel app. Robyn's decorators: `tool`, `resource`, `prompt`."""

    def __init__(self, app: App, path: str = "/mcp") -> None:
        self.app = app
        self._path = path
        self._auth_required = False
        self._mounted = False
        self.tools: dict[str, Entry] = {}
        self.resources: dict[str, Entry] = {}  # by URI or URI template
        self.prompts: dict[str, Entry] = {}
        self.server_name = "tiercel-mcp-server"
        self.server_version = "1.0.0"
        self.instructions: str | None = None  # sent to clients at initialize / server/discover
        # Origins (besides loopback ones) whose pages may call the endpoint; "*" for any. A request without Origin
        # (any non-browser client) is always served.
        self.allowed_origins: list[str] = []

    @property
    def path(self) -> str:
        """Where the endpoint is (default /mcp); set before the first tool, resource or prompt."""
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        self._before_mount("path")
        self._path = value

    @property
    def auth_required(self) -> bool:
        """True: the endpoint is an `auth_required` route (the app's configure_authentication handler answers
        401 before any MCP code runs); set before the first tool, resource or prompt."""
        return self._auth_required

    @auth_required.setter
    def auth_required(self, value: bool) -> None:
        self._before_mount("auth_required")
        self._auth_required = bool(value)

    def _before_mount(self, setting: str) -> None:
        if self._mounted:
            raise ValueError(
                f"app.mcp.{setting} is set before the first tool, resource or prompt: POST {self._path} is declared"
            )

    def _mount(self) -> None:
        if not self._mounted:
            self.app.add_route(
                "POST", self._path, Endpoint(self).handle, auth_required=self._auth_required, include_in_schema=False
            )
            self._mounted = True

    # ---- declarations ----------------------------------------------------------------------------
    def tool(
        self,
        name: str | Fn | None = None,
        description: str | None = None,
        input_schema: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        annotations: dict[str, Any] | None = None,
        blocking: bool = False,
    ) -> Callable[[Fn], Fn]:
        """`@app.mcp.tool()`: `fn` is a tool named `name` (default: the function's name) that clients call with
        JSON arguments, described by `input_schema` (default: from the type hints and docstring). What it returns
        is the result (text, or JSON for other values); what it raises is a result with isError true.
        `blocking=True`: a sync tool that may block (file or database I/O) runs in a thread, not on the loop."""

        if callable(name):  # used bare: @app.mcp.tool
            return self.tool()(name)

        def register(fn: Fn) -> Fn:
            tool_name = name or fn.__name__
            if not _TOOL_NAME.match(tool_name):
                raise ValueError(f"tool name {tool_name!r}: 1 to 128 letters, digits, '_', '-' or '.'")
            if tool_name in self.tools:
                raise ValueError(f"a tool named {tool_name!r} is already declared")
            if blocking and is_async_callable(fn):
                raise ValueError(f"tool {tool_name!r}: blocking=True is for sync functions; an async one awaits")
            sig = Signature(fn)
            schema = input_schema if input_schema is not None else sig.schema
            entry = _listing(tool_name, title, description or sig.summary, inputSchema=schema, annotations=annotations)
            self.tools[tool_name] = Entry(functools.partial(asyncio.to_thread, fn) if blocking else fn, sig, entry)
            self._mount()
            return fn

        return register

    def resource(
        self,
        uri: str | Fn | None = None,
        name: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        *,
        title: str | None = None,
    ) -> Callable[[Fn], Fn]:
        """`@app.mcp.resource("users://{user_id}/profile")`: `fn` gives what the URI reads as. A template's
        variables are `fn`'s parameters (converted to their type hints); `{+var}` may span slashes. `fn` returns
        str (text), bytes (a blob) or JSON-able data (sent as application/json). Without `uri`, the resource is
        `function://<function name>`, as in Robyn."""
        if callable(uri):  # used bare: @app.mcp.resource
            return self.resource()(uri)
        given = uri

        def register(fn: Fn) -> Fn:
            uri = given if given is not None else f"function://{fn.__name__}"  # Robyn's default
            if not isinstance(uri, str) or not uri:
                raise TypeError(f"@app.mcp.resource takes the resource's URI, got {uri!r}")
            if uri in self.resources:
                raise ValueError(f"a resource {uri!r} is already declared")
            pattern, variables = _template(uri)
            sig = Signature(fn)
            required = {n for n, (_, req) in sig.params.items() if req}
            if (unknown := [v for v in variables if v not in sig.params and not sig.takes_any]) or (
                missing := sorted(required - set(variables))
            ):
                what = f"has no parameter for {unknown}" if unknown else f"needs {missing}, not in the URI"
                raise TypeError(f"resource {uri!r}: {fn.__qualname__} {what}")
            key = "uriTemplate" if pattern else "uri"
            more = {key: uri, "mimeType": mime_type}
            entry = _listing(name or fn.__name__, title, description or sig.summary, **more)
            self.resources[uri] = Entry(fn, sig, entry, pattern)
            self._mount()
            return fn

        return register

    def prompt(
        self,
        name: str | Fn | None = None,
        description: str | None = None,
        arguments: list[dict[str, Any]] | None = None,
        *,
        title: str | None = None,
    ) -> Callable[[Fn], Fn]:
        """`@app.mcp.prompt()`: `fn` makes the prompt's messages from its (string) arguments: a str (one user
        message), or a list of str and {"role": ..., "content": ...} messages."""

        if callable(name):  # used bare: @app.mcp.prompt
            return self.prompt()(name)

        def register(fn: Fn) -> Fn:
            prompt_name = name or fn.__name__
            if prompt_name in self.prompts:
                raise ValueError(f"a prompt named {prompt_name!r} is already declared")
            sig = Signature(fn)
            if arguments is None:
                props = sig.schema["properties"]
                args = [
                    _listing(n, None, props[n].get("description"), required=req) for n, (_, req) in sig.params.items()
                ]
            else:
                args = arguments
            self.prompts[prompt_name] = Entry(
                fn, sig, _listing(prompt_name, title, description or sig.summary, arguments=args)
            )
            self._mount()
            return fn

        return register

    # ---- the methods clients call -----------------------------------------------------------------
    def server_info(self) -> dict[str, str]:
        return {"name": self.server_name, "version": self.server_version}

    def capabilities(self) -> dict[str, Any]:
        kinds = {"tools": self.tools, "resources": self.resources, "prompts": self.prompts}
        return {kind: {"listChanged": False} for kind, registry in kinds.items() if registry}

    async def call(self, method: str, params: dict[str, Any], version: str) -> dict[str, Any]:
        """The result of `method`, as the protocol `version` has it; RPCError for an error answer."""
        handler = _METHODS.get(method)
        if (
            handler is None
            or (method in _HANDSHAKE_ONLY and version in MODERN_VERSIONS)
            or (method == "server/discover" and version not in MODERN_VERSIONS)
        ):
            raise RPCError(METHOD_NOT_FOUND, f"Method not found: {method}")
        result: dict[str, Any] = await handler(self, params, version)
        return result

    async def _initialize(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        if not isinstance(asked, str):
            raise RPCError(INVALID_PARAMS, "initialize: params.protocolVersion must be a string")
        result = {
            "protocolVersion": asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1],
            "capabilities": self.capabilities(),
            "serverInfo": self.server_info(),
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _discover(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        result = {"supportedVersions": list(MODERN_VERSIONS), "capabilities": self.capabilities()}
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _ping(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        return {}

    async def _list_tools(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        return {"tools": [t.listing for t in self.tools.values()]}

    async def _call_tool(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        name, arguments = params.get("name"), params.get("arguments") or {}
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise RPCError(INVALID_PARAMS, f"Unknown tool: {name}")
        if not isinstance(arguments, dict):
            raise RPCError(INVALID_PARAMS, "tools/call: params.arguments must be an object")
        try:  # since 2025-11-25, arguments that do not fit are a tool error the model can read and correct
            value = await _run(tool.fn, tool.signature.bind(arguments))
        except ArgumentError as e:
            return {"content": [{"type": "text", "text": f"Invalid arguments for tool {name}: {e}"}], "isError": True}
        except Exception as e:
            logger.exception("MCP tool %s raised", name)
            return {"content": [{"type": "text", "text": str(e) or type(e).__name__}], "isError": True}
        value = _jsonable(value)
        result: dict[str, Any] = {"content": [] if value is None else [{"type": "text", "text": _text(value)}]}
        if isinstance(value, dict) and (version in MODERN_VERSIONS or version >= _STRUCTURED_SINCE):
            result["structuredContent"] = value
        result["isError"] = False
        return result

    async def _list_resources(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        return {"resources": [r.listing for r in self.resources.values() if r.pattern is None]}

    async def _list_templates(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        return {"resourceTemplates": [r.listing for r in self.resources.values() if r.pattern is not None]}

    async def _read_resource(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RPCError(INVALID_PARAMS, "resources/read: params.uri must be a string")
        resource, variables = self.resources.get(uri), {}
        if resource is not None and resource.pattern is not None:
            resource = None  # a template's own text is not one of its URIs
        for candidate in self.resources.values() if resource is None else ():
            if candidate.pattern is not None and (m := candidate.pattern.fullmatch(uri)):
                resource, variables = candidate, {k: unquote(v) for k, v in m.groupdict().items()}
                break
        if resource is None:
            raise RPCError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        try:
            kwargs = resource.signature.bind(variables, from_text=True)
        except ArgumentError as e:
            raise RPCError(INVALID_PARAMS, f"{uri}: {e}") from None
        value = _jsonable(await _run(resource.fn, kwargs))
        content: dict[str, Any] = {"uri": uri}
        declared = resource.listing.get("mimeType")
        if isinstance(value, (bytes, bytearray, memoryview)):
            content.update(mimeType=declared or "application/octet-stream", blob=base64.b64encode(value).decode())
        elif isinstance(value, str):
            content.update(mimeType=declared or "text/plain", text=value)
        else:
            content.update(mimeType=declared or "application/json", text=_text(value))
        return {"contents": [content]}

    async def _list_prompts(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        return {"prompts": [p.listing for p in self.prompts.values()]}

    async def _get_prompt(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        name, arguments = params.get("name"), params.get("arguments") or {}
        prompt = self.prompts.get(name) if isinstance(name, str) else None
        if prompt is None:
            raise RPCError(INVALID_PARAMS, f"Unknown prompt: {name}")
        if not isinstance(arguments, dict):
            raise RPCError(INVALID_PARAMS, "prompts/get: params.arguments must be an object")
        try:
            kwargs = prompt.signature.bind(arguments, from_text=True)
        except ArgumentError as e:
            raise RPCError(INVALID_PARAMS, f"prompt {name}: {e}") from None
        value = await _run(prompt.fn, kwargs)
        messages = [_message(m) for m in (value if isinstance(value, list) else [value])]
        result: dict[str, Any] = {"messages": messages}
        if "description" in prompt.listing:
            result["description"] = prompt.listing["description"]
        return result


def _message(m: Any) -> dict[str, Any]:
    """A prompt message: a str is the user's text; a dict whose content is a str gets it as text content."""
    if isinstance(m, dict) and "role" in m:
        content = m.get("content")
        return {**m, "content": {"type": "text", "text": content}} if isinstance(content, str) else m
    return {"role": "user", "content": {"type": "text", "text": _text(m)}}


_METHODS = {
    "initialize": MCPApp._initialize,
    "ping": MCPApp._ping,
    "server/discover": MCPApp._discover,
    "tools/list": MCPApp._list_tools,
    "tools/call": MCPApp._call_tool,
    "resources/list": MCPApp._list_resources,
    "resources/templates/list": MCPApp._list_templates,
    "resources/read": MCPApp._read_resource,
    "prompts/list": MCPApp._list_prompts,
    "prompts/get": MCPApp._get_prompt,
}
_HANDSHAKE_ONLY = ("initialize", "ping")  # gone in 2026-07-28, where every request stands alone

__all__ = ["MCPApp"]
