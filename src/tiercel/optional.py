"""Optional dependencies (pydantic, msgspec, Jinja2, ...): imported when a feature that needs one is used, and a
clear start-up error naming the command that installs it when it is missing: a ModuleNotFoundError, as the import
itself would raise, so `except ImportError` catches it too.

>>> require("json", "json", "reading JSON").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, feature: str) -> ModuleType:
    """`module`, imported; a ModuleNotFoundError saying `pip install 'tiercel[extra]'` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ModuleNotFoundError(
            f"{feature} needs {top}, which is not installed: pip install 'tiercel[{extra}]'", name=top
        ) from None


def installed(module: str) -> ModuleType | None:
    """`module` when it is installed (and imports), else None."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


__all__ = ["installed", "require"]
