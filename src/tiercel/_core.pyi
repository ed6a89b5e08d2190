"""Tiercel's native engine (private; import from `tiercel`)."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
import concurrent.futures
import datetime
import os
from typing import Any


def set_json_functions(dumps: object, loads: object) -> None:
    """Sets the JSON functions (orjson.dumps, orjson.loads)."""

def set_client_errors(client_error: object, json_error: object, validation_error: object) -> None:
    """
    The exceptions for the framework's own client errors: ClientError(status, detail) and JSONBodyError(problem).
    """

class Headers:
    """Case-insensitive multi-map of HTTP header fields."""

    def __init__(self, headers: object | None = None) -> None: ...

    def get(self, key: str, default: object | None = None) -> object:
        """First value of `key`, or `default`."""

    def get_all(self, key: str) -> list[str]:
        """Every value of `key`, in order."""

    def contains(self, key: str) -> bool: ...

    def __contains__(self, arg: str, /) -> bool: ...

    def set(self, key: str, value: str) -> None:
        """Replaces every value of `key` with `value`."""

    def append(self, key: str, value: str) -> None:
        """Adds a value, keeping the existing ones."""

    def __getitem__(self, arg: str, /) -> str: ...

    def __setitem__(self, arg0: str, arg1: str, /) -> None: ...

    def __delitem__(self, arg: str, /) -> None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def items(self) -> list[tuple[str, str]]:
        """(name, value) pairs, repeats included."""

    def keys(self) -> list[str]: ...

    def values(self) -> list[str]: ...

    def to_dict(self) -> dict[str, str]:
        """A dict of the first value of each field."""

    def __eq__(self, arg: object, /) -> bool: ...

    def __repr__(self) -> str: ...

class QueryParams:
    """Decoded query parameters, repeats kept in order."""

    def __init__(self, params: object | None = None) -> None: ...

    def get(self, key: str, default: object | None = None) -> object:
        """Last value of `key` (as Robyn), or `default`."""

    def get_first(self, key: str) -> object:
        """First value of `key`, or None."""

    def get_all(self, key: str) -> list[str]:
        """Every value of `key`, in order."""

    def contains(self, key: str) -> bool: ...

    def __contains__(self, arg: str, /) -> bool: ...

    def __getitem__(self, arg: str, /) -> object: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def to_dict(self) -> dict[str, list[str]]:
        """{key: [values...]}, as Robyn."""

    def keys(self) -> list[str]: ...

    def values(self) -> list[str]: ...

    def items(self) -> list[tuple[str, str]]:
        """(key, value) pairs, repeats included."""

    def __repr__(self) -> str: ...

class Url:
    """scheme, host and path of the request URL."""

    @property
    def scheme(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def path(self) -> str: ...

    def __repr__(self) -> str: ...

class Identity:
    """
    Who sent a request: `claims` (a dict), as the authentication handler found them.
    """

    def __init__(self, claims: dict[str, Any] | None = None) -> None: ...

    @property
    def claims(self) -> dict[str, Any]: ...

    @claims.setter
    def claims(self, arg: dict[str, Any], /) -> None: ...

    def __eq__(self, arg: object, /) -> bool: ...

    def __repr__(self) -> str: ...

def bearer_token(request: Request) -> str | None:
    """
    The token of the request's `Authorization: Bearer <token>` header, or None.
    """

class Request:
    """An HTTP request. Containers are built on first access."""

    @property
    def method(self) -> str:
        """'GET', 'POST', ..."""

    @property
    def path(self) -> str:
        """The percent-decoded path, without the query string."""

    @property
    def url(self) -> Url:
        """Url with scheme, host and path."""

    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive)."""

    @property
    def query_params(self) -> QueryParams:
        """Decoded query parameters."""

    @property
    def path_params(self) -> dict[str, str]:
        """Path parameters by name, percent-decoded."""

    @property
    def body(self) -> str | bytes:
        """The body as str when it is UTF-8, else bytes."""

    @property
    def raw_body(self) -> bytes:
        """The body as bytes."""

    def json(self) -> Any:
        """
        The body parsed as JSON; JSONBodyError (a ValueError, answered 400 unless caught) when it is not JSON.
        """

    @property
    def cookies(self) -> dict[str, str]:
        """
        The request's cookies (RFC 6265 `name=value; ...`), as sent: the first of a repeated name wins.
        """

    @property
    def ip_addr(self) -> str:
        """The client's IP address."""

    @property
    def tls(self) -> dict[str, Any] | None:
        """
        The TLS connection the request came on (version, cipher, alpn, server_name, resumed), or None.
        """

    @property
    def client_cert(self) -> dict[str, Any] | None:
        """
        The client's certificate (mTLS: ssl_cert_reqs with ssl_ca_certs), verified against ssl_ca_certs: subject and issuer (RFC 2253), serial (hex), not_before, not_after, dns_names, pem. None without one.
        """

    @property
    def form_data(self) -> dict[str, str]:
        """
        The fields of an application/x-www-form-urlencoded or multipart/form-data body (the first value of a repeated one); {} for other bodies. A malformed multipart body is a 400.
        """

    @property
    def files(self) -> dict[str, UploadFile]:
        """The files of a multipart/form-data body by field name."""

    @property
    def session(self) -> dict[str, Any]:
        """
        The session (a dict) kept in a signed cookie: changes are saved with the response. Needs app.configure_sessions(secret_key).
        """

    @property
    def identity(self) -> object:
        """
        Who the authentication handler says sent the request (an Identity), or None.
        """

    @identity.setter
    def identity(self, arg: object, /) -> None: ...

    def __repr__(self) -> str: ...

    def stream(self) -> BodyStream:
        """
        The body as an async iterator of bytes: `async for chunk in request.stream()`. On a route declared with stream_body=True the pieces come as they arrive (the client is read only as fast as they are taken); elsewhere the body, already read, comes as one piece.
        """

    def form(self) -> Awaitable[dict[str, str]]:
        """
        `await request.form()`: form_data, with request.files filled too. On a route declared with stream_body=True the body is parsed as it arrives and files larger than form_spill_size go straight to temporary files, so an upload of any size takes little memory.
        """

class BodyStream:
    """A request body as an async iterator of bytes (request.stream())."""

    def __aiter__(self) -> object: ...

    def __anext__(self) -> Awaitable[bytes]: ...

class Response:
    """An HTTP response: Response(200, {'X-A': '1'}, 'body')."""

    def __init__(self, status_code: int = 200, headers: object | None = None, description: object | None = None, *, body: object | None = None) -> None: ...

    @property
    def status_code(self) -> int: ...

    @status_code.setter
    def status_code(self, arg: int, /) -> None: ...

    @property
    def headers(self) -> object: ...

    @headers.setter
    def headers(self, arg: object, /) -> None: ...

    @property
    def description(self) -> object: ...

    @description.setter
    def description(self, arg: object, /) -> None: ...

    @property
    def body(self) -> object: ...

    @body.setter
    def body(self, arg: object, /) -> None: ...

    def set_cookie(self, key: str, value: str = '', *, path: str | None = None, domain: str | None = None, max_age: int | None = None, expires: datetime.datetime | int | float | str | None = None, secure: bool = False, http_only: bool = False, same_site: str | None = None) -> None:
        """Adds a Set-Cookie header (RFC 6265) with the given attributes."""

    def __repr__(self) -> str: ...

def check_header(name: str, value: str) -> None:
    """
    ValueError unless `name` is a token and `value` holds no CR, LF, NUL or other control character but tab.
    """

def redirect(url: str, status_code: int = 307) -> Response:
    """
    A redirect to `url` (307 keeps the method and body; 301, 302, 303 and 308 as the status says).
    """

def html(text: str, status_code: int = 200) -> Response:
    """An HTML response."""

def serve_html(path: str) -> Response:
    """
    The HTML file at `path` as a response (read now; OSError when it cannot be).
    """

def jsonify(obj: object) -> str:
    """`obj` as a JSON string (orjson)."""

class StreamingResponse:
    """
    A body sent as a sync or async iterator of str/bytes produces it: StreamingResponse(gen(), media_type='text/csv').
    """

    def __init__(self, content: object, status_code: int = 200, headers: object | None = None, media_type: str = 'text/plain; charset=utf-8') -> None: ...

    @property
    def status_code(self) -> int: ...

    @status_code.setter
    def status_code(self, arg: int, /) -> None: ...

    @property
    def headers(self) -> object: ...

    @headers.setter
    def headers(self, arg: object, /) -> None: ...

    @property
    def content(self) -> object: ...

    @property
    def media_type(self) -> str: ...

    @media_type.setter
    def media_type(self, arg: str, /) -> None: ...

    def __repr__(self) -> str: ...

def SSEResponse(content: object, status_code: int | None = 200, headers: object | None = None, ping_interval: float = 15.0) -> StreamingResponse:
    """
    Server-sent events from a (sync or async) generator of SSE text (str, as SSEMessage makes it; passed as written), bytes, or dict/list (each a JSON `data:` event): text/event-stream, Cache-Control: no-cache, no-store, must-revalidate, Pragma: no-cache, Expires: 0, X-Accel-Buffering: no (each unless `headers` has it), each event sent when yielded, a `: ping` comment after `ping_interval` idle seconds (0: none).
    """

def SSEMessage(data: object = '', event: object | None = None, id: object | None = None, retry: int | None = None) -> str:
    """
    One server-sent event as SSE text, to yield from an SSEResponse generator: `event: `, `id: `, `retry: ` lines (event and id omitted when None or empty; a line break in them is refused), then one `data: ` line per line of `data` (a dict/list as JSON, bytes as UTF-8, anything else as str()), then a blank line.
    """

class FileResponse:
    """
    A file answered by C++: serve_file(path, file_name=None). Hooks may set `headers` and `status_code`.
    """

    @property
    def path(self) -> str: ...

    @property
    def file_path(self) -> str:
        """The file's path (Robyn's name for `path`)."""

    @property
    def file_name(self) -> str: ...

    @property
    def status_code(self) -> int:
        """
        Replaces the 200 of a full answer (a 206, 304, 404 or 416 is the file's own).
        """

    @status_code.setter
    def status_code(self, arg: int, /) -> None: ...

    @property
    def headers(self) -> object:
        """
        Sent with the file's own headers; a name in both is sent once, with this value.
        """

    @headers.setter
    def headers(self, arg: object, /) -> None: ...

    def __repr__(self) -> str: ...

def serve_file(path: str | os.PathLike[str], file_name: str | None = None) -> FileResponse:
    """
    The file at `path`, sent by C++ in chunks with Content-Type, ETag, Last-Modified, 304s and Range support; sent as a download (Content-Disposition: attachment) named `file_name`, or the file's own name as in Robyn.
    """

def set_form_spill_size(size: int) -> None:
    """
    Uploaded files larger than `size` bytes are kept in a temporary file instead of memory.
    """

class UploadFile:
    """A file uploaded in a multipart/form-data body."""

    @property
    def filename(self) -> str:
        """The file name the client sent (not a safe path: never join it)."""

    @property
    def content_type(self) -> str: ...

    @property
    def field(self) -> str:
        """The form field it came in."""

    @property
    def size(self) -> int: ...

    @property
    def content(self) -> bytes:
        """The file's bytes."""

    def read(self) -> bytes:
        """The file's bytes."""

    @property
    def path(self) -> str | None:
        """
        The temporary file holding a large upload (removed with this object), or None when it is in memory.
        """

    def __repr__(self) -> str: ...

class WebSocket:
    """A WebSocket connection, as its handler sees it."""

    def receive_text(self) -> Awaitable[str]:
        """
        The next message as str (WebSocketDisconnect once the connection is closed).
        """

    def receive_bytes(self) -> Awaitable[bytes]:
        """The next message as bytes."""

    def receive(self) -> Awaitable[str | bytes]:
        """The next message: str for a text message, bytes for a binary one."""

    def send_text(self, data: str) -> Awaitable[None]:
        """
        Sends a text message; awaiting it waits while the client is slow to read (backpressure).
        """

    def receive_json(self) -> Awaitable[Any]:
        """The next message parsed as JSON (ValueError when it is not JSON)."""

    def send_json(self, data: Any) -> Awaitable[None]:
        """Sends `data` as a JSON text message."""

    def send_bytes(self, data: bytes) -> Awaitable[None]:
        """Sends a binary message."""

    def close(self, code: int = 1000, reason: str = '') -> Awaitable[None]:
        """Starts the closing handshake with `code` and `reason`."""

    def send(self, data: str | bytes) -> Awaitable[None]:
        """Sends a str as a text message, bytes as a binary one."""

    def broadcast(self, data: str | bytes) -> Awaitable[int]:
        """
        Sends `data` (str as text, bytes as binary) to every open connection of this route in this process, this one included, as Robyn does; `await` gives how many (awaiting is optional: the messages are queued at once).
        """

    @property
    def id(self) -> str: ...

    @property
    def request(self) -> Request: ...

    @property
    def path_params(self) -> dict[str, str]: ...

    @property
    def query_params(self) -> QueryParams: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def close_code(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    def __eq__(self, other: object) -> bool: ...

    def __hash__(self) -> int: ...

    def __repr__(self) -> str: ...

class BackgroundTasks:
    """
    Work to do once the answer is written: declare a handler parameter `tasks: BackgroundTasks`, then
    `tasks.add_task(fn, *args, **kwargs)`. Sync functions run in the thread pool, async ones on the loop; one
    request's tasks run one after another, in order. A failing task is logged and changes nothing else.
    """

    def __init__(self) -> None: ...

    def add_task(self, func: Callable[..., object], /, *args: object, **kwargs: object) -> None:
        """
        Runs func(*args, **kwargs) after the answer is written (awaited when func is async).
        """

    def __len__(self) -> int:
        """The tasks queued so far."""

class AsgiCall:
    """A request to a mounted ASGI application: its receive and send."""

    def receive(self) -> object:
        """
        The next event of the request: its body, then http.disconnect once the response is complete or the client has left.
        """

    def send(self, message: object) -> object:
        """
        Sends http.response.start, then http.response.body messages; awaitable.
        """

class MemoryConnection:
    """A connection over memory to an engine (the TestClient's)."""

    def send(self, data: bytes) -> None:
        """Bytes from the client."""

    def receive(self) -> bytes:
        """What the server has sent since the last call."""

    @property
    def closed(self) -> bool:
        """The server closed the connection (or the client did)."""

    def disconnect(self) -> None:
        """The client closes; pending handlers are cancelled."""

    def set_on_output(self, fn: Callable[[], object] | None) -> None:
        """Called (with no arguments) whenever the server sends or closes."""

class RouteSpec:
    """One handler route as the app compiled it, for Engine.add_routes."""

    def __init__(self, method: str, path: str, *, handler: object | None = None, is_async: bool = False, nargs: int = 0, plan: list[tuple[int, str, int, object, object, bool, bool]] | None = None, stream_body_limit: int = 0, answer: tuple[object, object, int, object] | None = None, blocking: bool = False, response_headers: list[tuple[str, str]] = [], before: list[tuple[object, bool, int]] = [], after: list[tuple[object, bool, int]] = [], authenticate: object | None = None, authenticate_is_async: bool = False, unauthorized: object | None = None, is_const: bool = False, const_result: object | None = None) -> None:
        """
        method and path; the handler (None: the route is only checked) with is_async and nargs (0 or 1 positional: the request); its argument plan (tiercel/params.py); stream_body_limit (0: the body comes whole); answer, (validate, encode, status, exact) of a response model; blocking (runs in the thread pool); the app's global response_headers; before/after hooks as (callable, is_async, nargs); authenticate (auth_required) with what its None answers (unauthorized); is_const with const_result.
        """

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

class Engine:
    """The native HTTP engine of one event loop (internal)."""

    def __init__(self, *, max_request_line: int = 8192, max_header_bytes: int = 65536, max_header_count: int = 100, max_body: int = 16777216, header_timeout: float = 10.0, keepalive_timeout: float = 5.0, write_timeout: float = 30.0, max_connections: int = 10000, max_pipelined: int = 64, write_high_watermark: int = 1048576, server_header: str = 'tiercel') -> None: ...

    def add_routes(self, routes: Sequence[RouteSpec]) -> None:
        """
        The app's handler routes in one call (their ids follow in order): each RouteSpec with its plan, hooks, authentication, response model, headers, or const answer.
        """

    def add_static_route(self, prefix: str, root: str, index: str, listing: bool, response_headers: Sequence[tuple[str, str]]) -> None:
        """
        GET prefix and prefix/*path answered natively from the files under root, with these global headers.
        """

    def set_tls(self, certificates: Sequence[tuple[str, str, str]], ca_file: str, verify_client: int, ciphers: str, http2: bool = True) -> None:
        """
        Serves TLS: certificates as (cert file, key file, password), the first the default and the others chosen by SNI; client certificates verified against ca_file (verify_client 1: if sent, 2: required). Called again, it reloads the certificates for new connections.
        """

    @property
    def tls(self) -> bool: ...

    def set_http2(self, on: bool) -> None:
        """
        Accept HTTP/2 (prior-knowledge h2c on cleartext; ALPN h2 is set with set_tls).
        """

    @property
    def tls_failures(self) -> int:
        """TLS handshakes that failed since the start."""

    @property
    def last_tls_error(self) -> str: ...

    def set_executor(self, executor: object, wrap_future: object) -> None:
        """
        The thread pool that pulls sync generators of streamed answers and runs blocking=True handlers.
        """

    @property
    def blocking_executor(self) -> concurrent.futures.Executor | None: ...

    def set_sessions(self, key: bytes, cookie_name: str, max_age: int, path: str, domain: object | None, secure: bool, http_only: bool, same_site: object | None) -> None:
        """Signed cookie sessions (request.session) for every route."""

    def set_proxy_headers(self, trusted: str) -> None:
        """
        Believe X-Forwarded-For/-Proto and Forwarded from these proxies (addresses, networks, or *).
        """

    def set_access_log(self, on: bool, fd: int = 1) -> None:
        """
        Writes an access-log line per answer to `fd`, in batches (flush_access_log, or every 64 KiB).
        """

    def flush_access_log(self) -> None: ...

    def set_metrics(self, memory: object, nblocks: int, own: int, max_routes: int, path: str) -> None:
        """
        Counts into block `own` of the (shared) `memory` and serves every block's sum at GET `path`.
        """

    @staticmethod
    def metrics_block_bytes(max_routes: int) -> int:
        """Bytes of one worker's metrics block."""

    def set_compression(self, min_size: int, types: Sequence[str], codings: Sequence[str], level: int) -> None:
        """
        Compresses responses (before any route is added): size, content types, codings, level.
        """

    @staticmethod
    def available_codings() -> list[str]:
        """
        The codings this build can compress with, best first ('br', 'zstd', 'gzip').
        """

    def set_websocket(self, disconnect: object, max_message: int, ping_interval: float = 20.0, ping_timeout: float = 20.0, idle_timeout: float = 0.0) -> None:
        """
        WebSocket settings: largest message (1009 above), server pings (every ping_interval seconds without a frame from the client; no pong within ping_timeout closes 1011), idle timeout (1001); 0 turns one off.
        """

    def add_websocket_route(self, path: str, handler: object, on_connect: object | None, on_close: object | None, handler_args: list[tuple[int, str, int, object, object, bool, bool]] | None = None, on_connect_args: list[tuple[int, str, int, object, object, bool, bool]] | None = None, on_close_args: list[tuple[int, str, int, object, object, bool, bool]] | None = None) -> int:
        """
        A websocket route; each callable gets the arguments of its plan (set_arguments' tuples), filled at the upgrade, or the WebSocket alone when the plan is None.
        """

    @property
    def websocket_count(self) -> int: ...

    def set_cors(self, origins: Sequence[str], headers: Sequence[str], any_header: bool, credentials: bool, max_age: int, expose: Sequence[str]) -> None:
        """
        CORS for every route (before any route is added): allowed origins (empty: any), headers, credentials.
        """

    def add_preflight_route(self, path: str, allow_methods: str) -> int:
        """
        OPTIONS on `path` answered natively (CORS preflights, plain OPTIONS with Allow); returns its id.
        """

    def set_default_headers(self, headers: Sequence[tuple[str, str]]) -> None:
        """
        Header lines added to the answers connections make themselves (404, 405, refused input).
        """

    def set_request_headers(self, headers: Sequence[tuple[str, str, bool]]) -> None:
        """
        The app's global request headers: (name, value, replace) for every request.
        """

    def set_error_handling(self, handlers: list[tuple[type, object, bool, int]], http_exception: type, format_exception: object, dev: bool, param_error: type) -> None:
        """
        Exception handlers as (type, handler, is_async, nargs); HTTPException's type; traceback.format_exception; whether 500 responses show the traceback; the exception raised for a refused parameter, param_error(message, name).
        """

    def listen(self, host: str, port: int, backlog: int = 1024, reuse_port: bool = False) -> int:
        """Binds and listens; returns the bound port."""

    def attach(self, loop: object) -> None:
        """
        Registers the native loop with an asyncio loop (add_reader on its backend fd).
        """

    def open_memory_connection(self, peer_ip: str = 'testclient') -> MemoryConnection:
        """A connection over memory to this engine (the TestClient's transport)."""

    def detach(self) -> None: ...

    def poll(self) -> None:
        """Runs the native loop without blocking (the add_reader callback)."""

    def fileno(self) -> int: ...

    def stop_listening(self) -> None: ...

    def listen_fd(self, fd: int, backlog: int = 1024) -> None:
        """
        Listens on an already bound socket (a duplicate of `fd` is not made: the engine owns it from now on).
        """

    def add_asgi_mount(self, prefix: str, app: object, disconnected: object, response_headers: Sequence[tuple[str, str]], state: object | None = None) -> None:
        """
        Requests under `prefix` (every method) go to `app`, an ASGI 3 application; `disconnected` is the OSError subclass its send() raises once the client has left; `state` the dict its lifespan startup filled, shallow-copied into each request's scope (None: no lifespan).
        """

    def drain_connections(self) -> None:
        """
        Graceful shutdown: server-sent-event streams end at once (whole); busy connections close after their answers (with Connection: close), idle ones after a short grace in which a request that arrives is answered the same way.
        """

    @property
    def requests_served(self) -> int: ...

    def close_idle_connections(self) -> None: ...

    @property
    def connection_count(self) -> int: ...

    @property
    def pending_count(self) -> int: ...

    @property
    def background_count(self) -> int:
        """Background tasks queued (their answers written) and not finished yet."""

    def background_idle(self) -> asyncio.Future[None]:
        """An asyncio Future done once no background task is unfinished."""

    def abandon_background_tasks(self, why: str) -> int:
        """
        Logs every unfinished background task as abandoned (one warning naming its function, saying `why`), counts it, and cancels what can be; returns how many.
        """

    def close(self) -> None:
        """Cancels pending handlers, closes every connection and the listener."""

def synthetic_request(method: str, path: str) -> Request:
    """A Request with no headers or body (for rendering const routes)."""

class RouteChecker:
    """Checks route patterns as they are declared (no handlers kept)."""

    def __init__(self) -> None: ...

    def add(self, method: str, path: str) -> None:
        """
        Adds the route's pattern; ValueError for an unknown method, a bad pattern or a clash with an earlier route.
        """
