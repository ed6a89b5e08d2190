"""Cross-origin resource sharing. `ALLOW_CORS(app, origins, headers)` as in Robyn, or
`app.configure_cors(...)` for every setting. The engine adds the CORS headers and answers preflights itself.

>>> # ALLOW_CORS(app, ["https://app.example"], headers=["Content-Type", "X-Token"])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tiercel.app import Tiercel

DEFAULT_HEADERS = ("Authorization", "Content-Type")


@dataclass
class CorsSettings:
    """What the engine gets: `origins` empty means any origin."""

    origins: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=lambda: list(DEFAULT_HEADERS))
    any_header: bool = False
    credentials: bool = False
    max_age: int = 600
    expose_headers: list[str] = field(default_factory=list)


def cors_settings(
    origins: str | Iterable[str],
    headers: str | Iterable[str] | None,
    credentials: bool,
    max_age: int,
    expose_headers: Iterable[str] | None,
) -> CorsSettings:
    """Checks the settings and returns them in the engine's form; ValueError says what is wrong."""
    listed = [origins] if isinstance(origins, str) else list(origins)
    if not listed:
        raise ValueError('CORS needs at least one origin, or "*" for any')
    settings = CorsSettings(credentials=bool(credentials))
    if "*" in listed:
        if len(listed) > 1:
            raise ValueError('"*" allows every origin: give it alone, not in a list with others')
        if credentials:
            raise ValueError(
                "CORS credentials cannot be allowed for every origin (any site could read your users' data): "
                "list the origins"
            )
    else:
        settings.origins = [_origin(o) for o in listed]
    if headers is not None:
        names = [headers] if isinstance(headers, str) else list(headers)
        if names == ["*"]:
            settings.any_header, settings.headers = True, []
        else:
            settings.headers = names
    if not isinstance(max_age, int) or isinstance(max_age, bool) or not 0 <= max_age <= 86400 * 7:
        raise ValueError(f"max_age is a number of seconds from 0 to 604800, got {max_age!r}")
    settings.max_age = max_age
    settings.expose_headers = list(expose_headers or [])
    return settings


def _origin(origin: str) -> str:
    if not isinstance(origin, str):
        raise TypeError(f"a CORS origin is a str, got {origin!r}")
    o = origin.rstrip("/")
    split = urlsplit(o)
    if split.scheme not in ("http", "https") or not split.netloc or split.path or split.query:
        raise ValueError(f"a CORS origin is a scheme and a host, like 'https://app.example:8443', got {origin!r}")
    return o


def ALLOW_CORS(app: Tiercel, origins: str | list[str], headers: str | list[str] | None = None) -> None:  # noqa: N802
    """Robyn's name: lets `origins` ("*" or a list) read the app's responses, with `headers` allowed in
    requests (Authorization and Content-Type when None; "*" for any). As in Robyn, listed origins may send
    credentials (cookies, Authorization) and preflights are cached an hour; "*" allows no credentials (browsers
    refuse them with "*" anyway)."""
    listed = [origins] if isinstance(origins, str) else list(origins)
    app.configure_cors(listed, headers, credentials="*" not in listed, max_age=3600)


__all__ = ["ALLOW_CORS", "CorsSettings", "cors_settings"]
