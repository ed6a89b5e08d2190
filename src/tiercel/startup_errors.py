"""Start-up mistakes as one line: an error Tiercel raised about how the app or the server is set up (a route
declared twice, a handler it cannot call, a port in use) ends the start with `tiercel: error: ...` on stderr and
a non-zero exit, not a traceback. An error raised by the app's own code keeps its traceback.

>>> setup_error_line(OSError("cannot bind 127.0.0.1:8080: Address already in use"))
'tiercel: error: cannot bind 127.0.0.1:8080: Address already in use'
"""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def in_package(filename: str) -> bool:
    """True for a file of the tiercel package or one of its subpackages."""
    directory = os.path.dirname(os.path.abspath(filename))
    return directory == PACKAGE_DIR or directory.startswith(PACKAGE_DIR + os.sep)


def is_setup_error(e: BaseException) -> bool:
    """An error Tiercel raised about how the app or the server is set up: a ValueError or TypeError (a mistake in
    the app or its settings), an ImportError (a missing optional dependency), an OSError (a port in use) or a
    RuntimeError (the engine's own, such as its "cannot bind"), whose innermost Python frame is in the tiercel
    package (errors raised in the app's own code, such as a start-up handler's, keep their traceback)."""
    if not isinstance(e, (ValueError, TypeError, ImportError, OSError, RuntimeError)):
        return False
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return in_package(tb.tb_frame.f_code.co_filename)


def setup_error_line(e: BaseException) -> str:
    """`tiercel: error: FILE:LINE: message`, FILE:LINE being the app's own line that made the call Tiercel refused
    (a decorator, add_route, include_router...) when the error was raised while the app was being imported."""
    where = ""
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        if frame.filename.startswith("<"):
            continue  # generated code (a dataclass's __init__), frozen importlib
        if not in_package(frame.filename):
            rel = os.path.relpath(frame.filename)
            where = f"{frame.filename if rel.startswith('..') else rel}:{frame.lineno}: "
            break
    return f"tiercel: error: {where}{e}"


def report_in_main(file_object: str) -> None:
    """For `python app.py`: when the app is made in the __main__ module, a mistake Tiercel refuses while that module
    runs (a decorator's, before app.start()) is printed as one line too. Python's own hook (or the one installed
    before) still handles every other uncaught exception."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if not isinstance(file_object, str) or not main_file:
        return
    if os.path.abspath(main_file) != os.path.abspath(file_object) or getattr(sys.excepthook, "tiercel", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if isinstance(error, Exception) and is_setup_error(error):
            sys.stderr.write(setup_error_line(error) + "\n")
        else:
            previous(kind, error, tb)

    hook.tiercel = True  # type: ignore[attr-defined]
    sys.excepthook = hook


__all__ = ["is_setup_error", "report_in_main", "setup_error_line"]
