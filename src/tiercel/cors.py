"""Cross-origin resource sharing settings, as `app.configure_cors(...)` and Robyn's `ALLOW_CORS(app, origins,
headers)` (tiercel.app) take them. The engine adds the CORS headers and answers preflights itself.

>>> cors_settings(["https://app.example"], ["Content-Type", "X-Token"], False, 600, None).origins
['https://app.example']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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


__all__ = ["CorsSettings", "cors_settings"]
