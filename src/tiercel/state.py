"""`app.state` and the start-up / shutdown handlers that usually fill and empty it (checked, and run).

>>> state = State()
>>> state["db"] = "pool"
>>> state.db, "db" in state, state.get("cache")
('pool', True, None)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

logger = logging.getLogger("tiercel")


class State(MutableMapping[str, Any]):
    """Objects the handlers share (a database pool, a client, ...), reached by item or by attribute on the same
    object: `state["db"]` and `state.db` are one entry. It is a mapping (`in`, `get`, `keys`, iteration, `del`,
    `pop`, `update`); an entry named like one of those methods is reached by item (`state["get"]`).

    Each worker process has its own: what one process stores, the others do not see."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, Any] | None = None, **more: Any) -> None:
        object.__setattr__(self, "_entries", {})
        self.update(entries or {}, **more)

    # ---- item access -----------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"app.state has no {key!r}{self._known()}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"app.state keys are str, got {key!r}")
        self._entries[key] = value

    def __delitem__(self, key: str) -> None:
        try:
            del self._entries[key]
        except KeyError:
            raise KeyError(f"app.state has no {key!r}{self._known()}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    # ---- attribute access (only reached for names that are not State's own) ----------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            entries = object.__getattribute__(self, "_entries")
        except AttributeError:  # copy/pickle look attributes up before __init__ ran
            raise AttributeError(name) from None
        if name in entries:
            return entries[name]
        raise AttributeError(f"app.state has no {name!r}{self._known()}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._check_attribute(name)
        self._entries[name] = value

    def __delattr__(self, name: str) -> None:
        self._check_attribute(name)
        if name not in self._entries:
            raise AttributeError(f"app.state has no {name!r}{self._known()}")
        del self._entries[name]

    def _check_attribute(self, name: str) -> None:
        if hasattr(type(self), name):
            raise AttributeError(
                f"{name!r} is a method of app.state, not an entry: use app.state[{name!r}] for an entry of that name"
            )

    def _known(self) -> str:
        return f" (it has {', '.join(map(repr, self._entries))})" if self._entries else " (it is empty)"

    def __repr__(self) -> str:
        return f"State({', '.join(f'{k}={v!r}' for k, v in self._entries.items())})"

    def __getstate__(self) -> dict[str, Any]:
        return dict(self._entries)

    def __setstate__(self, entries: dict[str, Any]) -> None:
        object.__setattr__(self, "_entries", dict(entries))


def lifecycle_handler(handler: Callable[[], Any], kind: str) -> Callable[[], Any]:
    """`handler` checked for being callable with no arguments (a start-up or shutdown handler)."""
    if not callable(handler):
        raise TypeError(f"a {kind} handler must be callable, got {handler!r}")
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return handler
    required = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise TypeError(
            f"a {kind} handler is called with no arguments, but {handler.__qualname__} requires {', '.join(required)}"
        )
    return handler


async def await_call(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), awaited when it returns an awaitable (sync or async user functions alike)."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def run_startup_handlers(handlers: Iterable[Callable[[], Any]]) -> None:
    """Runs each start-up handler in turn; one that fails stops the start (its error propagates)."""
    for handler in handlers:
        await await_call(handler)


async def run_shutdown_handlers(handlers: Iterable[Callable[[], Any]]) -> None:
    """Runs each shutdown handler; one that fails is logged and the others still run."""
    for handler in handlers:
        try:
            await await_call(handler)
        except Exception:
            logger.exception("shutdown handler %s failed", getattr(handler, "__qualname__", handler))


__all__ = ["State", "await_call", "lifecycle_handler", "run_shutdown_handlers", "run_startup_handlers"]
