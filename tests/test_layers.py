"""The package's modules import one another in one direction, from the app up to the command line:

    app        the app as declared (App, its routers, routes, parameters, settings) and what it is made of
    compile    the app turned into the engine's tables (tiercel.compile)
    serve      one process serving an engine (tiercel.server), or the TestClient's in-memory one
    supervise  the supervisor and its forked workers (tiercel.supervisor)
    start      how an app is started (tiercel.start: Tiercel, run), the dev reloader, the CLI, the re-exports

A module imports from its own layer or a lower one, never a higher one: not at the top, not inside a function
(the way import cycles used to be dodged), not under TYPE_CHECKING. Checked twice: in the source (`ast`), and
by importing each module alone in a fresh interpreter, without the package's __init__, and listing what it
loaded.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tiercel

PACKAGE = Path(tiercel.__file__).parent
LAYERS: list[tuple[str, set[str]]] = [
    (
        "app",
        {
            "_core",  # native
            "answers",
            "app",
            "authentication",
            "body_plan",
            "config",
            "cors",
            "docs_page",
            "exceptions",
            "fields",
            "interfaces",
            "json_schemas",
            "mcp",
            "mcp_http",
            "mcp_signature",
            "models",
            "openapi",
            "openapi_document",
            "optional",
            "params",
            "routers",
            "routing",
            "startup_errors",
            "state",
            "status_codes",
            "templating",
            "types",
            "websockets",
        },
    ),
    ("compile", {"compile"}),
    ("serve", {"lifespan", "server", "testing"}),
    ("supervise", {"supervisor"}),
    ("start", {"start", "reload", "cli", "__main__", "__init__"}),
]
LAYER_OF = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def layer_name(module: str) -> str:
    return LAYERS[LAYER_OF[module]][0]


def package_modules() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")}


def imported_modules(module: str) -> list[tuple[str, int, bool]]:
    """(tiercel module, line, inside a function) for every import of one in `module`'s source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("tiercel."):
                        found.append((alias.name.split(".")[1], child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom) and child.module is not None and child.level == 0:
                if child.module == "tiercel":  # from tiercel import _core, docs_page: submodules (or __init__'s names)
                    for alias in child.names:
                        name = alias.name if alias.name in LAYER_OF else "__init__"
                        found.append((name, child.lineno, in_function))
                elif child.module.startswith("tiercel."):
                    found.append((child.module.split(".")[1], child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def test_every_module_has_a_layer():
    modules = package_modules() | {"_core"}
    assert modules - set(LAYER_OF) == set(), "add the new module to a layer in LAYERS"
    assert set(LAYER_OF) - modules == set(), "a module in LAYERS no longer exists"


@pytest.mark.parametrize("module", sorted(package_modules()))
def test_no_module_imports_from_a_higher_layer(module):
    upward = [
        f"line {line}: {module} ({layer_name(module)}) imports {target} ({layer_name(target)})"
        for target, line, _ in imported_modules(module)
        if LAYER_OF[target] > LAYER_OF[module]
    ]
    assert upward == []


@pytest.mark.parametrize("module", sorted(package_modules()))
def test_no_import_in_a_function_reaches_a_lower_layer(module):
    """An import inside a function is there to dodge a cycle; one from a lower layer dodges none (there is none
    to dodge), so it belongs at the top of the module."""
    lazy = [
        f"line {line}: {module} imports {target} inside a function"
        for target, line, in_function in imported_modules(module)
        if in_function and LAYER_OF[target] < LAYER_OF[module]
    ]
    assert lazy == []


IMPORT_ALONE = """
import importlib, json, sys, types
package = types.ModuleType("tiercel")
package.__path__ = [sys.argv[1]]
sys.modules["tiercel"] = package  # the package without its __init__ (which imports every layer)
importlib.import_module("tiercel." + sys.argv[2])
print(json.dumps(sorted(name.split(".")[1] for name in sys.modules if name.startswith("tiercel."))))
"""


@pytest.mark.parametrize(
    "layer", [name for name, _ in LAYERS], ids=[name for name, _ in LAYERS]
)  # in the declared order, lowest first
def test_each_module_imported_alone_loads_nothing_from_a_higher_layer(layer):
    index = next(i for i, (name, _) in enumerate(LAYERS) if name == layer)
    modules = sorted(LAYERS[index][1] - {"_core", "__init__", "__main__"})  # __main__ would run the CLI
    for module in modules:
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_ALONE, str(PACKAGE), module],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=os.path.dirname(PACKAGE),
        )
        assert out.returncode == 0, f"tiercel.{module} does not import on its own:\n{out.stderr}"
        loaded = json.loads(out.stdout)
        assert module in loaded
        higher = [m for m in loaded if LAYER_OF[m] > index]
        assert higher == [], f"importing tiercel.{module} ({layer}) loaded {higher}"
