"""The supervisor and its forked workers (`processes > 1`, or recycling with `max_requests` / `max_rss`).

This process binds the listening socket once and forks workers that all accept on it (the kernel hands each
connection to one of them), so a worker can die, be replaced or recycled without a single refused connection. Each
worker serves as one process does (tiercel.server). The supervisor:

- restarts a worker that dies (with a back-off, and gives up with a clear message when workers keep dying
  before they ever become ready);
- kills and replaces a worker whose event loop stops beating for `heartbeat_timeout` seconds;
- replaces a worker that asks to retire (after `max_requests`, or past `max_rss` MiB) by starting its
  successor first;
- SIGTERM/SIGINT: every worker drains (up to `timeout_graceful_shutdown`), runs its shutdown handlers and
  exits, then the supervisor exits 0; a second signal kills them at once;
- SIGHUP: rolling restart, each worker replaced once its successor is ready;
- SIGTTIN / SIGTTOU: one worker more / one fewer.

Only start-up, signals and a once-a-second tick run Python here; requests never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from tiercel.app import App
from tiercel.compile import check_app, metrics_memory
from tiercel.config import Settings
from tiercel.server import READY_LINE, Server, bind_socket, loop_factory, socket_url, unlink_socket
from tiercel.startup_errors import is_setup_error

logger = logging.getLogger("tiercel")

MAX_START_FAILURES = 5  # workers that die before becoming ready, in a row, before the supervisor gives up
TICK = 1.0  # seconds between a worker's heartbeats and recycling checks


# ---- what the supervisor and its workers share ---------------------------------------------------------
STARTING, READY, RETIRE, STOPPING = range(4)
_SLOT = struct.Struct("qqdq")  # pid, state, last heartbeat (CLOCK_MONOTONIC, shared by every process), requests


class Slots:
    """Worker slots in memory shared across fork(): each worker reports its state, heartbeat and request count."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.mem = mmap.mmap(-1, _SLOT.size * capacity)
        self.used = [False] * capacity

    def allocate(self) -> int:
        for i, used in enumerate(self.used):
            if not used:
                self.used[i] = True
                self.write(i, 0, STARTING, time.monotonic(), 0)
                return i
        raise RuntimeError("no free worker slot")

    def free(self, i: int) -> None:
        self.used[i] = False

    def write(self, i: int, pid: int, state: int, heartbeat: float, requests: int) -> None:
        _SLOT.pack_into(self.mem, i * _SLOT.size, pid, state, heartbeat, requests)

    def read(self, i: int) -> tuple[int, int, float, int]:
        pid, state, heartbeat, requests = _SLOT.unpack_from(self.mem, i * _SLOT.size)
        return pid, state, heartbeat, requests


# ---- a worker ------------------------------------------------------------------------------------------------
def worker_main(
    app: App, settings: Settings, fd: int, slots: Slots, index: int, metrics: tuple[mmap.mmap, int, int] | None
) -> NoReturn:
    """The body of a forked worker: serve on the shared socket until SIGTERM, then exit."""
    code = 1
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        # Ctrl-C in a terminal reaches the whole process group: the supervisor alone decides what happens.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        loop = loop_factory(settings.loop)()
        asyncio.set_event_loop(loop)
        server = Server(app, settings, fd=fd, metrics=metrics)
        pid = os.getpid()
        state = STARTING
        limit = settings.max_requests + random.randint(0, settings.max_requests_jitter) if settings.max_requests else 0

        def report() -> None:
            nonlocal state
            served = server.engine.requests_served if server.engine is not None else 0
            if state == READY and limit and served >= limit:
                logger.info("worker %d served %d requests (max_requests %d): asking to be replaced", pid, served, limit)
                state = RETIRE
            elif state == READY and settings.max_rss and _rss_mib() > settings.max_rss:
                logger.info(
                    "worker %d uses %d MiB (max_rss %d): asking to be replaced", pid, _rss_mib(), settings.max_rss
                )
                state = RETIRE
            slots.write(index, pid, state, time.monotonic(), served)

        def tick() -> None:
            report()
            loop.call_later(TICK, tick)

        def ready(_: Server) -> None:
            nonlocal state
            state = READY
            report()

        def on_term() -> None:
            nonlocal state
            state = STOPPING
            report()
            server.stop()

        loop.add_signal_handler(signal.SIGTERM, on_term)
        slots.write(index, pid, STARTING, time.monotonic(), 0)
        loop.call_later(TICK, tick)
        loop.run_until_complete(server.serve(ready))
        loop.run_until_complete(loop.shutdown_asyncgens())
        code = 0
    except BaseException as e:
        if isinstance(e, Exception) and is_setup_error(e):
            logger.error("worker %d cannot start: %s", os.getpid(), e)
        else:
            logger.exception("worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _rss_mib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0


# ---- the supervisor ----------------------------------------------------------------------------------------------
@dataclass
class Worker:
    pid: int
    slot: int
    started: float
    ready: bool = False
    retiring: bool = False  # sent SIGTERM on purpose (replaced, scaled down, shutting down)
    replaces: int = 0  # the pid this worker takes over from, once it is ready
    successor: int = 0  # the pid starting to take over from this one
    killed: str = ""  # why the supervisor killed it


class Supervisor:
    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.target = settings.processes
        self.workers: dict[int, Worker] = {}
        self.slots = Slots(max(64, 4 * settings.processes + 16))
        self.signals: list[int] = []
        self.stopping = False
        self.stop_deadline = 0.0
        self.exit_code = 0
        self.start_failures = 0
        self.recent_crashes: list[float] = []
        self.next_spawn = 0.0
        self.announced = False
        self.restarts = 0
        self.fd = -1
        self.sock: socket.socket | None = None
        # Metrics: block 0 keeps what finished workers counted (and the restarts), block slot+1 is a worker's.
        self.metrics_blocks = self.slots.capacity + 1
        self.metrics = metrics_memory(app, self.metrics_blocks) if settings.metrics else None

    def run(self) -> int:
        check_app(self.app, self.settings)  # a mistake is one message here, not one per worker
        sock = self.sock = bind_socket(self.settings)
        self.fd = sock.fileno()
        url = socket_url(sock, self.settings)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        logger.info("supervisor %d: starting %d worker(s) on %s", os.getpid(), self.target, url)
        try:
            while True:
                self._spawn_missing()
                select.select([wake_r], [], [], 0.1)
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                self._handle_signals()
                self._reap()
                if self.stopping:
                    if not self.workers:
                        break
                    if time.monotonic() > self.stop_deadline:
                        for w in self.workers.values():
                            self._kill(w, signal.SIGKILL, "did not stop within the graceful timeout")
                    continue
                self._watch()
                ready = sum(1 for w in self.workers.values() if w.ready and not w.retiring)
                if not self.announced and ready >= self.target:
                    self.announced = True
                    print(READY_LINE.format(url=url) + f" ({self.target} processes)", flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)
            sock.close()
            if self.settings.uds:
                unlink_socket(self.settings.uds)
        logger.info("supervisor %d: stopped", os.getpid())
        return self.exit_code

    # -- events --------------------------------------------------------------------------------------------
    def _on_signal(self, sig: int, frame: Any) -> None:
        self.signals.append(sig)

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT):
                if self.stopping:
                    logger.warning("second %s: killing the workers at once", signal.Signals(sig).name)
                    for w in self.workers.values():
                        self._kill(w, signal.SIGKILL, "second stop signal")
                    self.exit_code = 1
                else:
                    logger.info("%s received: stopping the workers gracefully", signal.Signals(sig).name)
                    self._stop(0)
            elif sig == signal.SIGHUP and not self.stopping:
                logger.info("SIGHUP received: replacing every worker")
                for w in list(self.workers.values()):
                    if not w.retiring and not w.successor:
                        self._spawn(replaces=w)
            elif sig == signal.SIGTTIN and not self.stopping:
                self.target += 1
                logger.info("SIGTTIN: %d worker(s)", self.target)
            elif sig == signal.SIGTTOU and not self.stopping and self.target > 1:
                self.target -= 1
                logger.info("SIGTTOU: %d worker(s)", self.target)
                active = [w for w in self.workers.values() if not w.retiring]
                if len(active) > self.target:
                    newest = max(active, key=lambda w: w.started)
                    newest.retiring = True
                    os.kill(newest.pid, signal.SIGTERM)

    def _stop(self, code: int) -> None:
        self.stopping = True
        self.exit_code = code
        # No worker will be started on the socket again: once the workers stop listening too it closes, and a new
        # connection is refused at once (a client retries elsewhere) rather than queued where nobody accepts it
        # until the drain is over, then reset.
        if self.sock is not None:
            self.sock.close()
        self.stop_deadline = time.monotonic() + self.settings.timeout_graceful_shutdown + 5
        for w in self.workers.values():
            w.retiring = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGTERM)

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            self.slots.free(w.slot)
            self._archive_metrics(w.slot)
            if w.replaces and w.replaces in self.workers:
                self.workers[w.replaces].successor = 0
            if w.successor and w.successor in self.workers:
                self.workers[w.successor].replaces = 0
            how = _exit_text(status)
            if w.retiring or self.stopping:
                logger.info("worker %d %s", pid, how)
                continue
            now = time.monotonic()
            if not w.ready:
                self.start_failures += 1
                logger.error("worker %d %s before it was ready (%d in a row)", pid, how, self.start_failures)
                if self.start_failures >= MAX_START_FAILURES:
                    logger.error(
                        "workers keep dying at start-up (%d in a row): giving up. The errors above say why; "
                        "fix the app (or its start-up handlers) and start again",
                        self.start_failures,
                    )
                    self._stop(3)
                    return
            else:
                logger.warning("worker %d %s%s: starting another", pid, how, f" ({w.killed})" if w.killed else "")
            self.restarts += 1
            if self.metrics is not None:
                words = memoryview(self.metrics).cast("Q")
                words[1] += 1
                words.release()
            self.recent_crashes = [t for t in self.recent_crashes if now - t < 30] + [now]
            delay = min(0.05 * 2 ** (len(self.recent_crashes) - 1), 5.0)
            self.next_spawn = max(self.next_spawn, now + delay)

    def _archive_metrics(self, slot: int) -> None:
        """Adds a finished worker's counters to block 0 and clears its block for the slot's next worker."""
        if self.metrics is None:
            return
        words = memoryview(self.metrics).cast("Q")
        size = len(words) // self.metrics_blocks
        start = (slot + 1) * size
        for i in range(2, size):  # not the open connections (gone with it) nor the restarts: counters only
            if words[start + i]:
                words[i] += words[start + i]
        words[start : start + size] = memoryview(bytes(size * 8)).cast("Q")
        words.release()

    def _watch(self) -> None:
        now = time.monotonic()
        for w in list(self.workers.values()):
            pid, state, heartbeat, _ = self.slots.read(w.slot)
            if pid != w.pid:
                continue  # the worker has not written its slot yet
            if not w.ready and state in (READY, RETIRE):
                w.ready = True
                self.start_failures = 0
                old = self.workers.get(w.replaces)
                if old is not None:
                    old.retiring = True
                    old.successor = 0
                    w.replaces = 0
                    os.kill(old.pid, signal.SIGTERM)
            timeout = self.settings.heartbeat_timeout
            if timeout and w.ready and not w.retiring and now - heartbeat > timeout:
                self._kill(w, signal.SIGKILL, f"its event loop stopped answering for {now - heartbeat:.1f} s")
            elif state == RETIRE and w.ready and not w.retiring and not w.successor:
                self._spawn(replaces=w)

    def _spawn_missing(self) -> None:
        if self.stopping or time.monotonic() < self.next_spawn:
            return
        active = [w for w in self.workers.values() if not w.retiring and not w.replaces]
        for _ in range(self.target - len(active)):
            self._spawn()

    def _spawn(self, replaces: Worker | None = None) -> None:
        slot = self.slots.allocate()
        pid = os.fork()
        if pid == 0:  # the worker
            signal.set_wakeup_fd(-1)
            metrics = (self.metrics, self.metrics_blocks, slot + 1) if self.metrics is not None else None
            worker_main(self.app, self.settings, self.fd, self.slots, slot, metrics)
        w = Worker(pid, slot, time.monotonic())
        if replaces is not None:
            w.replaces = replaces.pid
            replaces.successor = pid
        self.workers[pid] = w

    def _kill(self, w: Worker, sig: int, why: str) -> None:
        if not w.killed:
            logger.error("killing worker %d: %s", w.pid, why)
        w.killed = why
        with contextlib.suppress(ProcessLookupError):
            os.kill(w.pid, sig)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


__all__ = ["Slots", "Supervisor", "worker_main"]
