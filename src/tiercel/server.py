"""Serving in one process: the native engine embedded in the running asyncio loop (Server), on a socket it binds or
one it is given, until SIGTERM/SIGINT drains it gracefully. A supervisor's workers (tiercel.supervisor) and the dev
reloader's child (tiercel.reload) each run one of these.

The only Python here runs at start-up and shutdown; per request, C++ calls the handlers.

>>> # await app.server("127.0.0.1", 8000).serve()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import signal
import socket
import stat
from collections.abc import Callable
from typing import Any

from tiercel import _core
from tiercel.app import App
from tiercel.compile import build_engine, close_engine_executor, load_tls
from tiercel.config import Settings
from tiercel.lifespan import Lifespan, end_lifespans, lifespan_states, start_lifespans
from tiercel.optional import installed, require
from tiercel.state import run_shutdown_handlers, run_startup_handlers

logger = logging.getLogger("tiercel")

READY_LINE = "Tiercel listening on {url}"


async def _flush_every_second(engine: _core.Engine) -> None:
    """Writes out the access log's batch once a second (it is also written whenever 64 KiB are waiting)."""
    while True:
        await asyncio.sleep(1.0)
        engine.flush_access_log()


class Server:
    """One engine serving `app` on the running asyncio loop until `stop()` is called. `fd`: a listening socket
    made by someone else (a supervisor, a Unix socket); otherwise the engine binds settings.host:settings.port."""

    def __init__(
        self, app: App, settings: Settings, fd: int | None = None, metrics: tuple[mmap.mmap, int, int] | None = None
    ):
        self.app = app
        self.metrics = metrics
        self.settings = settings
        self.host = settings.host
        self.port = settings.port
        self.fd = fd
        self.engine: _core.Engine | None = None
        self._stop: asyncio.Event | None = None
        self.lifespans: list[Lifespan] = []  # of the mounted ASGI apps

    @property
    def dev(self) -> bool:
        return self.settings.dev

    async def serve(self, ready: Callable[[Server], Any] | None = None) -> None:
        """Serves until stop(); `ready(server)` is called once the socket accepts (server.port is bound)."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        ensure_file_limit(self.settings.max_connections)
        await run_startup_handlers(self.app.startup_handlers)
        self.lifespans = await start_lifespans(
            self.app.mounted_apps(), self.settings.lifespan, self.settings.timeout_graceful_shutdown
        )
        engine = await build_engine(self.app, self.settings, self.metrics, lifespan_states(self.lifespans))
        if self.fd is not None:
            engine.listen_fd(self.fd, self.settings.backlog)
            self.fd = None  # the engine owns it now
        else:
            self.port = engine.listen(self.host, self.port, self.settings.backlog)
        self.engine = engine
        engine.attach(loop)
        flusher = loop.create_task(_flush_every_second(engine)) if self.settings.access_log else None
        try:
            if ready is not None:
                ready(self)
            await self._stop.wait()
            await self._drain(engine)
        finally:
            if flusher is not None:
                flusher.cancel()
            engine.close()
            engine.flush_access_log()
            close_engine_executor(engine)
            self.engine = None
            await end_lifespans(self.lifespans, self.settings.timeout_graceful_shutdown)
            await run_shutdown_handlers(self.app.shutdown_handlers)

    async def _drain(self, engine: _core.Engine) -> None:
        """Graceful shutdown: stop accepting; busy connections close after their answers (which say
        `Connection: close`); idle keep-alive ones after a grace of ~100 ms in which a request that arrives (one
        already sent when the signal came) is answered the same way; background tasks are awaited; whatever is
        still running after timeout_graceful_shutdown is cancelled (a background task, logged as abandoned)."""
        engine.stop_listening()
        engine.drain_connections()
        loop = asyncio.get_running_loop()
        timeout = self.settings.timeout_graceful_shutdown
        deadline = loop.time() + timeout
        while (engine.connection_count or engine.pending_count) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if engine.connection_count or engine.pending_count:
            logger.warning(
                "graceful shutdown: %d connection(s) still busy after %.1f s; closing them",
                engine.connection_count,
                timeout,
            )
        # Background tasks get what is left of the same grace; those still unfinished are named, one by one.
        if engine.background_count:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(engine.background_idle(), max(0.0, deadline - loop.time()))
        engine.abandon_background_tasks(f"not finished within the graceful shutdown timeout ({timeout:g} s)")

    def reload_tls(self) -> bool:
        """Loads the certificates again (SIGHUP): new connections get them, open ones keep theirs. A certificate
        that fails to load is logged and the old ones stay."""
        if self.engine is None or not self.settings.ssl_certfile:
            return False
        try:
            load_tls(self.engine, self.settings)
        except ValueError as e:
            logger.error("TLS certificates not reloaded, the current ones stay: %s", e)
            return False
        logger.info("TLS certificates reloaded")
        return True

    def stop(self) -> None:
        """Asks serve() to finish (safe to call from a signal handler on the loop)."""
        if self._stop is not None:
            self._stop.set()


FILE_HEADROOM = 64  # descriptors besides the connections: the listener, the loop's, log files, a database pool


def ensure_file_limit(max_connections: int) -> None:
    """Each connection is a file descriptor: raises this process's soft open-file limit (`ulimit -n`) towards
    max_connections, as far as the hard limit allows, and says so when it cannot reach it. Past the limit the
    kernel refuses accept() and libuv closes the connections it cannot take, so clients see resets, not a 503."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FILE_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        logger.warning(
            "the open-file limit (ulimit -n) is %d, below max_connections (%d) plus %d: connections past about "
            "%d will be reset. Raise the limit (ulimit -n, systemd's LimitNOFILE=) or lower --max-connections",
            soft, max_connections, FILE_HEADROOM, max(0, soft - FILE_HEADROOM),
        )  # fmt: skip


def configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    logging.getLogger().setLevel(level.upper())
    logging.getLogger("tiercel").setLevel(level.upper())


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"loop must be 'auto', 'uvloop' or 'asyncio', got {kind!r}")
    if kind == "asyncio":
        return asyncio.new_event_loop
    uvloop = require("uvloop", "uvloop", "loop='uvloop'") if kind == "uvloop" else installed("uvloop")
    if uvloop is None:
        return asyncio.new_event_loop
    new_event_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_event_loop


def bind_socket(settings: Settings) -> socket.socket:
    """The listening socket: settings.uds, or settings.host:settings.port."""
    if settings.uds:
        path = settings.uds
        if os.path.exists(path):
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                raise ValueError(f"uds path {path!r} exists and is not a socket; refusing to replace it")
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            raise OSError(f"cannot bind the Unix socket {path}: {e.strerror or e}") from e  # e keeps the errno
    else:
        infos = socket.getaddrinfo(
            settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and settings.host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind(address)
        except OSError as e:
            sock.close()
            raise OSError(f"cannot bind {settings.host}:{settings.port}: {e.strerror or e}") from e
    sock.listen(settings.backlog)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket, settings: Settings) -> str:
    if settings.uds:
        return f"unix:{settings.uds}"
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"{settings.scheme}://{host}:{port}"


def serve_in_process(app: App, settings: Settings, fd: int | None = None, announce: bool = True) -> None:
    """Serves in this process until SIGTERM/SIGINT (graceful) or a second one (at once); on `fd` when given."""
    if fd is None and settings.uds:
        fd = bind_socket(settings).detach()
    loop = loop_factory(settings.loop)()
    asyncio.set_event_loop(loop)
    server = Server(app, settings, fd=fd)
    _install_stop_signals(loop, server)

    def ready(s: Server) -> None:
        if announce:  # tests and supervisors wait for this exact line
            url = f"unix:{settings.uds}" if settings.uds else f"{settings.scheme}://{s.host}:{s.port}"
            print(READY_LINE.format(url=url), flush=True)

    try:
        loop.run_until_complete(server.serve(ready))
    finally:
        _remove_stop_signals(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
        if settings.uds and announce:
            unlink_socket(settings.uds)
    logger.info("stopped")


def _install_stop_signals(loop: asyncio.AbstractEventLoop, server: Server) -> None:
    seen = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal seen
        seen += 1
        if seen > 1:
            logger.warning("second %s: exiting at once", sig.name)
            os._exit(1)
        if sig == signal.SIGHUP:
            logger.info(
                "SIGHUP received: one process has nothing to restart in place (the supervisor does that, with "
                "--processes 2 or more)"
            )
        logger.info("%s received: finishing in-flight requests, then stopping", sig.name)
        server.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    if server.settings.ssl_certfile:  # SIGHUP reloads the certificates without dropping a connection
        loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
    else:  # a graceful stop (SIGHUP's default would end the process at once, dropping the requests in flight)
        loop.add_signal_handler(signal.SIGHUP, on_signal, signal.SIGHUP)


def _remove_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.remove_signal_handler(sig)


def unlink_socket(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


__all__ = [
    "READY_LINE",
    "Server",
    "bind_socket",
    "configure_logging",
    "loop_factory",
    "serve_in_process",
    "socket_url",
    "unlink_socket",
]
