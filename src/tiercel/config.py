"""Every run-time setting, in one table: its default, its `app.start(...)` keyword, its `TIERCEL_*` variable and
its command-line flag. Precedence: built-in default < `app.start(...)` < environment < command line.

>>> s = resolve({"port": 9000}, {"TIERCEL_PROCESSES": "2"})
>>> (s.port, s.processes)
(9000, 2)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOOPS = ("auto", "uvloop", "asyncio")
RELOAD_CHILD_ENV = "TIERCEL_RELOAD_CHILD_FD"  # set by the --dev reloader (tiercel.reload) in its child: the socket's fd


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS or t == "":
        return False
    raise ValueError(f"must be true or false (1/0, yes/no, on/off), got {text!r}")


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bounds}, got {value}")
        return value

    return parse


def _seconds(allow_zero: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be a number of seconds, got {text!r}") from None
        if not value == value or value in (float("inf"), float("-inf")) or value < 0 or (value == 0 and not allow_zero):
            raise ValueError(
                f"must be a {'non-negative' if allow_zero else 'positive'} number of seconds, got {text!r}"
            )
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        t = text.strip().lower()
        if t not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {text!r}")
        return t

    return parse


def _text(text: str) -> str:
    return text


def _optional_text(text: str) -> str | None:
    return text or None


def _path(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith("/"):
        raise ValueError(f"must be a path starting with '/', got {text!r}")
    return text


def _cert_reqs(text: str) -> str:
    """none / optional / required, or Python ssl's CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED numbers 0 / 1 / 2."""
    t = text.strip().lower()
    t = {"0": "none", "1": "optional", "2": "required"}.get(t, t)
    if t not in ("none", "optional", "required"):
        raise ValueError(f"must be none, optional or required (or 0, 1, 2), got {text!r}")
    return t


def _ips(text: str) -> str:
    """A comma-separated list of IP addresses and networks, or "*"."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"must list IP addresses or networks (or '*'), and {item!r} is neither") from None
    return ",".join(items)


@dataclass(frozen=True)
class Option:
    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str = ""
    group: str = "server"
    default_text: str = ""  # what --help shows as the default, when the value itself (None) says nothing

    @property
    def is_bool(self) -> bool:
        """A true/false setting: its flag alone means true (`--dev`)."""
        return self.parse is _bool

    @property
    def env(self) -> str:
        return "TIERCEL_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass
class Settings:
    """The resolved settings of a run (see OPTIONS for what each one means)."""

    host: str = "127.0.0.1"
    port: int = 8080
    uds: str | None = None
    processes: int = 1
    dev: bool = False
    log_level: str = "info"
    access_log: bool = False
    timeout_keep_alive: float = 5.0
    timeout_graceful_shutdown: float = 30.0
    header_timeout: float = 10.0
    write_timeout: float = 30.0
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_body: int = 16 * 1024 * 1024
    max_stream_body: int = 1024 * 1024 * 1024
    form_spill_size: int = 1 << 20
    ws_max_message: int = 1 << 20
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_idle_timeout: float = 0.0
    max_connections: int = 10_000
    max_pipelined: int = 64
    write_high_watermark: int = 1 << 20
    server_header: str = "tiercel"
    backlog: int = 1024
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    blocking_threads: int = 40
    heartbeat_timeout: float = 30.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_rss: int = 0
    metrics: str | None = None
    disable_openapi: bool = False
    loop: str = "auto"
    lifespan: str = "auto"
    http2: bool = True
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_keyfile_password: str | None = None
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: str = "none"
    ssl_ciphers: str | None = None
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scheme(self) -> str:
        """The URL scheme the server speaks: https with a certificate, else http."""
        return "https" if self.ssl_certfile else "http"

    def needs_supervisor(self) -> bool:
        """Several processes, or recycling: a parent process watches the workers."""
        return self.processes > 1 or self.max_requests > 0 or self.max_rss > 0


OPTIONS: tuple[Option, ...] = (
    Option("host", _text, "address to bind (0.0.0.0 or :: for every interface)", "ADDR"),
    Option("port", _int(0, 65535), "TCP port (0 picks a free one)", "PORT"),
    Option("uds", _optional_text, "serve on this Unix domain socket path instead of host:port", "PATH"),
    Option("processes", _int(1, 1024), "worker processes (a supervisor forks and watches them when above 1)", "N"),
    Option("dev", _bool, "development mode: restart on file changes, tracebacks in 500 responses", group="run"),
    Option("log_level", _choice(LOG_LEVELS), "logging level of the tiercel logger and the root logger", "LEVEL", "run"),
    Option("access_log", _bool, "write an access-log line per request to stdout (batched in C++)", group="run"),
    Option("timeout_keep_alive", _seconds(), "close idle keep-alive connections after this many seconds", "S"),
    Option("timeout_graceful_shutdown", _seconds(True), "on SIGTERM, let in-flight requests finish this long", "S"),
    Option(
        "header_timeout",
        _seconds(),
        "a request head (and each body gap) must arrive within this many seconds",
        "S",
        "limits",
    ),
    Option("write_timeout", _seconds(), "close a client that takes no output for this many seconds", "S", "limits"),
    Option("max_request_line", _int(64), "longest request line in bytes (414 above)", "BYTES", "limits"),
    Option("max_header_bytes", _int(256), "largest request head in bytes (431 above)", "BYTES", "limits"),
    Option("max_header_count", _int(1), "most header fields in a request (431 above)", "N", "limits"),
    Option("max_body", _int(1), "largest request body in bytes (413 above, before it is read)", "BYTES", "limits"),
    Option(
        "max_stream_body",
        _int(1),
        "largest body of a stream_body=True route, read as it arrives (413 above)",
        "BYTES",
        "limits",
    ),  # fmt: skip
    Option(
        "form_spill_size", _int(0), "uploaded files above this many bytes go to a temporary file", "BYTES", "limits"
    ),
    Option("ws_max_message", _int(1), "largest WebSocket message in bytes (close 1009 above)", "BYTES", "websocket"),
    Option(
        "ws_ping_interval",
        _seconds(True),
        "ping a WebSocket client silent this many seconds (0: never)",
        "S",
        "websocket",
    ),  # fmt: skip
    Option(
        "ws_ping_timeout", _seconds(), "close a WebSocket (1011) whose ping is unanswered this long", "S", "websocket"
    ),
    Option(
        "ws_idle_timeout",
        _seconds(True),
        "close a WebSocket (1001) with no message this long (0: never)",
        "S",
        "websocket",
    ),
    Option("max_connections", _int(1), "a worker at this many stops accepting until one closes", "N", "limits"),
    Option("max_pipelined", _int(1), "answers pending per connection before reading pauses", "N", "limits"),
    Option("write_high_watermark", _int(1024), "unsent bytes per connection before reading pauses", "BYTES", "limits"),
    Option("server_header", _text, "value of the Server header (empty: none)", "TEXT", "limits"),
    Option("backlog", _int(1, 65535), "listen backlog", "N", "limits"),
    Option(
        "proxy_headers", _bool, "trust X-Forwarded-For/-Proto and Forwarded from --forwarded-allow-ips", group="proxy"
    ),
    Option(
        "forwarded_allow_ips",
        _ips,
        "proxies trusted for proxy headers: IPs and networks, comma-separated, or *",
        "IPS",
        "proxy",
    ),
    Option(
        "blocking_threads",
        _int(1, 1024),
        "threads for blocking=True handlers and the sync generators of streamed answers",
        "N",
        "run",
    ),
    Option(
        "heartbeat_timeout",
        _seconds(True),
        "kill and replace a worker whose loop is stuck this long (0: never)",
        "S",
        "processes",
    ),
    Option("max_requests", _int(0), "recycle a worker after this many requests (0: never)", "N", "processes"),
    Option(
        "max_requests_jitter",
        _int(0),
        "add up to this many requests at random to max_requests, per worker",
        "N",
        "processes",
    ),
    Option(
        "max_rss", _int(0), "recycle a worker whose memory (RSS) passes this many MiB (0: never)", "MIB", "processes"
    ),
    Option("metrics", _path, "serve Prometheus metrics on this path (for example /metrics)", "PATH", "run"),
    Option("disable_openapi", _bool, "serve neither /openapi.json nor the /docs page", group="run"),
    Option("loop", _choice(LOOPS), "event loop: uvloop when installed (auto), uvloop, or asyncio", "KIND", "run"),
    Option(
        "lifespan",
        _choice(("auto", "on", "off")),
        "ASGI apps' lifespan events: when the app takes them (auto), required (on), or never (off)",
        "MODE",
        "run",
    ),
    Option("http2", _bool, "speak HTTP/2: ALPN h2 over TLS, prior-knowledge h2c on cleartext", group="tls"),
    Option(
        "ssl_certfile",
        _optional_text,
        "serve HTTPS with this PEM certificate (chain included); several, comma-separated, are chosen by SNI",
        "FILES",
        "tls",
    ),  # fmt: skip
    Option(
        "ssl_keyfile",
        _optional_text,
        "the private key of each certificate, comma-separated in the same order",
        "FILES",
        "tls",
    ),  # fmt: skip
    Option("ssl_keyfile_password", _optional_text, "password of encrypted private keys", "TEXT", "tls"),
    Option(
        "ssl_ca_certs", _optional_text, "CA certificates (PEM) that sign accepted client certificates", "FILE", "tls"
    ),
    Option(
        "ssl_cert_reqs",
        _cert_reqs,
        "client certificates: none, optional (verified if sent) or required (mTLS)",
        "WHEN",
        "tls",
    ),  # fmt: skip
    Option(
        "ssl_ciphers",
        _optional_text,
        "TLS 1.2 cipher suites, in OpenSSL's syntax",
        "LIST",
        "tls",
        "Mozilla's intermediate suites, forward-secret AEAD only",
    ),
)
BY_NAME = {o.name: o for o in OPTIONS}
# The names app.start() / app.server() accepted before this table, kept as aliases.
ALIASES = {"keepalive_timeout": "timeout_keep_alive", "graceful_timeout": "timeout_graceful_shutdown"}


def _check_type(option: Option, value: Any, source: str) -> Any:
    """A value given in code: checked by the same rules as text, so the messages are the same."""
    if value is None and getattr(Settings(), option.name) is None:
        return None  # an optional setting left unset (uds, metrics, the ssl_* files...)
    if isinstance(value, bool):
        text = "true" if value else "false"
        if option.parse not in (_bool,):
            raise ValueError(f"{source} {_describe(option, 'must not be a bool')}")
        return value
    if isinstance(value, (int, float, str)):
        if option.parse is _bool and not isinstance(value, str):
            raise ValueError(f"{source} {_describe(option, f'must be True or False, got {value!r}')}")
        text = str(value)
    else:
        raise ValueError(f"{source} {_describe(option, f'has the wrong type: {type(value).__name__}')}")
    try:
        return option.parse(text)
    except ValueError as e:
        raise ValueError(f"{source} {_describe(option, str(e))}") from None


def _describe(option: Option, problem: str) -> str:
    return f"{option.name} {problem}"


def resolve(
    code: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, str] | None = None,
    where: str = "app.start()",
) -> Settings:
    """Settings from defaults, then `app.start(**code)`, then TIERCEL_* variables, then command-line values (text).
    ValueError/TypeError saying which setting, from where, and what is wrong; `where` names the call that gave
    `code` (app.start(), app.server(), TestClient())."""
    settings = Settings()
    for name, value in (code or {}).items():
        key = ALIASES.get(name, name)
        option = BY_NAME.get(key)
        if option is None:
            raise TypeError(f"unknown setting {name!r}; known: {', '.join(sorted([*BY_NAME, *ALIASES]))}")
        setattr(settings, key, _check_type(option, value, where + ":"))
        settings.sources[key] = where
    for option in OPTIONS:
        if env is not None and option.env in env:
            try:
                value = option.parse(env[option.env])
            except ValueError as e:
                raise ValueError(f"environment variable {option.env} {e}") from None
            setattr(settings, option.name, value)
            settings.sources[option.name] = option.env
    for name, text in (cli or {}).items():
        option = BY_NAME[name]
        try:
            value = option.parse(text)
        except ValueError as e:
            raise ValueError(f"{option.flag} {e}") from None
        setattr(settings, name, value)
        settings.sources[name] = option.flag
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Checks that need several settings at once."""
    if settings.uds and settings.sources.get("port"):
        raise ValueError("give either uds (a Unix socket path) or port, not both")
    if settings.max_requests_jitter and not settings.max_requests:
        raise ValueError("max_requests_jitter needs max_requests")
    if settings.dev and settings.processes > 1:
        raise ValueError("dev mode runs one process (it restarts it on changes): drop processes or dev")


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "sources"]


__all__ = ["ALIASES", "OPTIONS", "RELOAD_CHILD_ENV", "Option", "Settings", "resolve"]
