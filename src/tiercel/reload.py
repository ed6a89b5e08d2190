"""Development mode: the app runs in a child process, restarted whenever a Python file under the watched
directory changes. The parent binds the socket once and hands it to each child, so a restart refuses no
connection and never finds the port still taken. 500 responses carry the traceback in this mode.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from tiercel.config import Settings

logger = logging.getLogger("tiercel")

CHILD_ENV = "TIERCEL_RELOAD_CHILD_FD"  # set in the child: the listening socket's fd


def child_fd() -> int | None:
    """In a reloader's child, the listening socket it was given; None otherwise."""
    text = os.environ.get(CHILD_ENV)
    return int(text) if text else None


def run_with_reload(settings: Settings, watch: str | None = None) -> None:
    """Runs this same command line as a child, again after every change, until SIGINT/SIGTERM."""
    try:
        import watchfiles
    except ImportError:
        raise SystemExit("tiercel: --dev needs watchfiles to notice changes: pip install watchfiles") from None
    from tiercel.runner import READY_LINE, bind_socket, configure_logging, socket_url

    configure_logging(settings.log_level)
    directory = os.path.abspath(watch or os.getcwd())
    sock = bind_socket(settings)
    fd = sock.fileno()
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, CHILD_ENV: str(fd)}
    stop = False

    def on_stop(sig: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(READY_LINE.format(url=socket_url(sock, settings)) + " (dev mode: restarting on changes)", flush=True)
    try:
        while not stop:
            child = subprocess.Popen(command, env=env, pass_fds=(fd,))

            def child_done(child: subprocess.Popen[bytes] = child) -> bool:
                return stop or child.poll() is not None

            changes = _next_change(watchfiles, directory, child_done)
            if changes:
                names = ", ".join(sorted({os.path.relpath(path, directory) for _, path in changes}))
                logger.info("changed: %s; restarting", names)
            _stop_child(child, settings.timeout_graceful_shutdown)
            if not changes and not stop:
                # The child ended on its own (a crash, or an import error): wait for a fix.
                logger.error("the app exited with code %s; waiting for a change to restart it", child.returncode)
                _next_change(watchfiles, directory, lambda: stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _next_change(watchfiles: Any, directory: str, done: Callable[[], bool]) -> set[tuple[Any, str]] | None:
    """The next batch of changes to Python files under `directory`, or None once `done()` is true."""
    for changes in watchfiles.watch(
        directory,
        watch_filter=watchfiles.PythonFilter(),
        stop_event=_Stopped(done),
        rust_timeout=200,
        yield_on_timeout=False,
        raise_interrupt=False,
    ):
        return set(changes)
    return None


class _Stopped:
    """watchfiles' stop_event protocol (is_set) over a predicate."""

    def __init__(self, predicate: Callable[[], bool]) -> None:
        self.predicate = predicate

    def is_set(self) -> bool:
        return self.predicate()


def _stop_child(child: subprocess.Popen[bytes], grace: float) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(grace + 2)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
