"""The reference pages (docs/reference/): every public name of the package is on one, every public class, function
and member has a docstring for mkdocstrings to render, and the settings table is made from the settings' own
definitions (docs/hooks/settings_table.py), so neither can drift from the code. tests/test_docs.py builds the site."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import tiercel
from tiercel.config import OPTIONS, Settings

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"


def reference_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(REFERENCE.glob("*.md")))


def test_every_public_name_is_on_a_reference_page() -> None:
    text = reference_text()
    rendered = set(re.findall(r"^::: tiercel\.(\w+)", text, re.M))
    mentioned = set(re.findall(r"`(\w+)`", text))
    missing = [name for name in tiercel.__all__ if name not in rendered and name not in mentioned]
    assert missing == []
    assert rendered <= set(tiercel.__all__), rendered - set(tiercel.__all__)  # no page renders a private name


def public_members(cls: type) -> list[tuple[str, object]]:
    """The public attributes the package defines on `cls` or its own base classes (not object's or ABC's)."""
    members = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((c for c in cls.__mro__ if name in vars(c)), None)
        if owner is None or not (owner.__module__ or "").startswith("tiercel"):
            continue
        value = vars(owner)[name]
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if callable(value) or isinstance(value, property) or type(value).__name__.endswith("property"):
            members.append((f"{cls.__name__}.{name}", value))
    return members


def test_every_public_name_and_member_has_a_docstring() -> None:
    undocumented = []
    for name in tiercel.__all__:
        obj = getattr(tiercel, name)
        typing_alias = name in ("RequestMethod", "RequestBody")  # typing objects: described on their page instead
        if not typing_alias and not (getattr(obj, "__doc__", None) or "").strip():
            undocumented.append(name)
        if inspect.isclass(obj):
            undocumented += [member for member, value in public_members(obj) if not (value.__doc__ or "").strip()]
    assert undocumented == []


def load_hook():
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "docs" / "hooks" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_table_lists_every_setting_with_its_default() -> None:
    hook = load_hook()
    table = hook.settings_table()
    defaults = Settings()
    for option in OPTIONS:
        row = next((line for line in table.splitlines() if line.startswith(f"| `{option.name}` |")), None)
        assert row is not None, option.name
        assert f"`{option.flag}`" in row and f"`{option.env}`" in row
        assert (option.default_text or repr(getattr(defaults, option.name))) in row
    page = (REFERENCE / "settings.md").read_text(encoding="utf-8")
    assert hook.MARKER in page
    assert hook.on_page_markdown(page) == page.replace(hook.MARKER, table)
