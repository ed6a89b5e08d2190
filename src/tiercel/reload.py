"""Development mode: the app runs in a child process, restarted whenever a Python file under the watched
directory changes. The parent binds the socket once and hands it to each child, so a restart refuses no
connection and never finds the port still taken. 500 responses carry the traceback in this mode; while the app
cannot start (a syntax or import error, an error raised at import), every request is answered with a 500 showing
that error, until the next change is saved.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from tiercel.config import RELOAD_CHILD_ENV, Settings
from tiercel.server import READY_LINE, bind_socket, configure_logging, socket_url

logger = logging.getLogger("tiercel")


def child_fd() -> int | None:
    """In a reloader's child, the listening socket it was given; None otherwise."""
    text = os.environ.get(RELOAD_CHILD_ENV)
    return int(text) if text else None


def run_with_reload(settings: Settings, watch: str | None = None) -> None:
    """Runs this same command line as a child, again after every change, until SIGINT/SIGTERM."""
    try:
        import watchfiles
    except ImportError:
        raise SystemExit("tiercel: --dev needs watchfiles to notice changes: pip install watchfiles") from None
    configure_logging(settings.log_level)
    directory = os.path.abspath(watch or os.getcwd())
    sock = bind_socket(settings)
    fd = sock.fileno()
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, RELOAD_CHILD_ENV: str(fd)}
    stop = False

    def on_stop(sig: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(READY_LINE.format(url=socket_url(sock, settings)) + " (dev mode: restarting on changes)", flush=True)
    watcher = _Watcher(watchfiles, directory)
    try:
        while not stop:
            watcher.drain()  # the child about to start reads the files as they are now
            child = subprocess.Popen(command, env=env, pass_fds=(fd,), stderr=subprocess.PIPE)
            output = _Tee(child)

            def child_done(child: subprocess.Popen[bytes] = child) -> bool:
                return stop or child.poll() is not None

            changes = watcher.next_change(child_done)
            if changes:
                names = ", ".join(sorted({os.path.relpath(path, directory) for _, path in changes}))
                logger.info("changed: %s; restarting", names)
            _stop_child(child, settings.timeout_graceful_shutdown)
            output.join()
            if not changes and not stop:
                # The child ended on its own (a syntax or import error, a crash): until a fix is saved, every
                # request is answered with a 500 showing what the child printed, instead of waiting unanswered.
                logger.error("the app exited with code %s; waiting for a change to restart it", child.returncode)
                page = ErrorPage(sock, child.returncode, output.text(), tls=bool(settings.ssl_certfile))
                try:
                    watcher.next_change(lambda: stop)
                finally:
                    page.stop()
    finally:
        watcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


class _Watcher:
    """One watchfiles watch over the whole session, in a thread: a change saved while no child runs (between a
    crash and the wait for a fix) is queued, not lost."""

    def __init__(self, watchfiles: Any, directory: str) -> None:
        self.changes: queue.Queue[set[tuple[Any, str]]] = queue.Queue()
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=self._watch, args=(watchfiles, directory), name="tiercel-dev-watch", daemon=True
        )
        self.thread.start()

    def _watch(self, watchfiles: Any, directory: str) -> None:
        for changes in watchfiles.watch(
            directory,
            watch_filter=watchfiles.PythonFilter(),
            stop_event=self.stopped,
            rust_timeout=200,
            yield_on_timeout=False,
            raise_interrupt=False,
        ):
            self.changes.put(set(changes))

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.changes.get_nowait()

    def next_change(self, done: Callable[[], bool]) -> set[tuple[Any, str]] | None:
        """The next batch of changes to Python files, or None once `done()` is true (checked every 0.1 s)."""
        while True:
            try:
                return self.changes.get(timeout=0.1)
            except queue.Empty:
                if done():
                    return None

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


class _Tee:
    """Copies a child's stderr to ours, keeping its last lines for the error page."""

    def __init__(self, child: subprocess.Popen[bytes], keep: int = 200) -> None:
        self.lines: collections.deque[bytes] = collections.deque(maxlen=keep)
        self.thread = threading.Thread(target=self._copy, args=(child,), name="tiercel-dev-stderr", daemon=True)
        self.thread.start()

    def _copy(self, child: subprocess.Popen[bytes]) -> None:
        assert child.stderr is not None
        out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        for line in child.stderr:
            self.lines.append(line)
            if out is not None:
                out.write(line)
                out.flush()
        child.stderr.close()

    def join(self) -> None:
        self.thread.join(5)

    def text(self) -> str:
        return b"".join(self.lines).decode("utf-8", "replace")


class ErrorPage:
    """Answers every connection on the listening socket with a 500 naming the error, in threads, until stop():
    the dev server's stand-in while the app cannot start."""

    def __init__(self, sock: socket.socket, code: int | None, error: str, tls: bool = False) -> None:
        body = (
            f"tiercel --dev: the app could not start (exit code {code}). Fix it and save: it restarts by itself.\n\n"
            f"{error.strip() or '(it printed nothing)'}\n"
        ).encode()
        head = (
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ).encode()
        self.response = (head, body)
        self.sock = sock
        self.tls = tls
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="tiercel-dev-error-page", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready or self.stopped.is_set():
                continue
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another process (a new child) took it
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            if self.tls:
                return  # no certificate here to answer with: close rather than leave the client waiting
            conn.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, body = self.response
                conn.sendall(head if data.startswith(b"HEAD ") else head + body)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def _stop_child(child: subprocess.Popen[bytes], grace: float) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(grace + 2)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


__all__ = ["ErrorPage", "child_fd", "run_with_reload"]
