"""The ASGI lifespan protocol (lifespan spec 2.0) for a mounted ASGI application, once per worker process: its
startup before the server accepts a connection, its shutdown after the last one closed. Runs at start-up and
shutdown only, never per request.

`lifespan` (a setting): "auto" runs it when the application takes it (one that raises before answering, as
Django's ASGI handler does, runs without), "on" requires it, "off" never sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

logger = logging.getLogger("tiercel")
LIFESPAN_MODES = ("auto", "on", "off")


class Lifespan:
    """One application's lifespan: `await startup()`, then `await shutdown(timeout)`. `state` is the dict the
    application fills at startup; every request's scope gets a shallow copy of it."""

    def __init__(self, app: Any, mode: str, where: str) -> None:
        self.app = app
        self.mode = mode
        self.where = where  # the mount's path, for messages
        self.state: dict[str, Any] = {}
        self.running = False  # startup completed: shutdown is owed
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def startup(self) -> None:
        """Sends lifespan.startup and waits for the application's answer. RuntimeError (one line at start-up) when
        it reports startup.failed, or when mode is "on" and it does not take lifespan events."""
        if self.mode == "off":
            return
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self._task = asyncio.get_running_loop().create_task(self._run(scope))
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        kind = answer.get("type") if answer else None
        if kind == "lifespan.startup.complete":
            self.running = True
            return
        if answer and kind == "lifespan.startup.failed":
            raise RuntimeError(f"the ASGI application at {self.where} failed its startup: {answer.get('message', '')}")
        reason = f"{type(self._error).__name__}: {self._error}" if self._error else "it returned"
        if self.mode == "on":
            raise RuntimeError(
                f"the ASGI application at {self.where} does not take lifespan events ({reason}); "
                "--lifespan on requires them"
            )
        logger.info("the ASGI application at %s takes no lifespan events (%s): it runs without", self.where, reason)
        if not self._task.done():
            self._task.cancel()

    async def shutdown(self, timeout: float) -> None:
        """Sends lifespan.shutdown and waits up to `timeout` seconds for the application's answer."""
        if not self.running or self._task is None:
            return
        self.running = False
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            answer = await asyncio.wait_for(self._from_app.get(), timeout)
        except asyncio.TimeoutError:
            logger.warning("the ASGI application at %s did not finish its shutdown in %g s", self.where, timeout)
            self._task.cancel()
            return
        if answer and answer.get("type") == "lifespan.shutdown.failed":
            logger.error("the ASGI application at %s failed its shutdown: %s", self.where, answer.get("message", ""))
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout)

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as e:  # an app that refuses lifespan raises here (auto mode goes on without it)
            self._error = e
            if self.running:
                logger.error("the ASGI application at %s ended its lifespan with %r", self.where, e)
        finally:
            await self._from_app.put(None)  # whoever waits for an answer learns there will be none

    async def _receive(self) -> dict[str, Any]:
        return await self._to_app.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if not (isinstance(kind, str) and kind.startswith("lifespan.")):
            # An application that answers every scope as HTTP does not take lifespan events: stop it here.
            raise RuntimeError(f"{kind!r} is no lifespan message: the application does not take lifespan events")
        await self._from_app.put(message)


async def start_lifespans(mounted: list[tuple[str, Any]], mode: str, timeout: float) -> list[Lifespan]:
    """Starts the lifespan of each (path, app) mounted, in order; if one fails, those started are shut down (each
    given `timeout` seconds)."""
    lifespans = [Lifespan(app, mode, path) for path, app in mounted]
    try:
        for lifespan in lifespans:
            await lifespan.startup()
    except BaseException:
        await end_lifespans(lifespans, timeout)
        raise
    return lifespans


async def end_lifespans(lifespans: list[Lifespan], timeout: float) -> None:
    """Their shutdown, the last started first."""
    for lifespan in reversed(lifespans):
        await lifespan.shutdown(timeout)


def lifespan_states(lifespans: list[Lifespan]) -> dict[str, dict[str, Any]]:
    """By mount path, the state of each app whose startup completed (build_engine's `states`)."""
    return {ls.where: ls.state for ls in lifespans if ls.running}


__all__ = ["LIFESPAN_MODES", "Lifespan", "end_lifespans", "lifespan_states", "start_lifespans"]
