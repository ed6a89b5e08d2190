"""MkDocs hook: replaces `<!-- settings-table -->` in a page with the table of every run-time setting, made from
the settings' own definitions (tiercel.config.OPTIONS and the defaults of tiercel.config.Settings) and grouped as
`tiercel --help` groups them, so the reference cannot drift from the code."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- settings-table -->"


def settings_table() -> str:
    from tiercel.cli import GROUPS
    from tiercel.config import OPTIONS, Settings

    defaults = Settings()
    parts = []
    for group, title in GROUPS.items():
        options = [o for o in OPTIONS if o.group == group]
        if not options:
            continue
        parts.append(f"## {title[0].upper()}{title[1:]}\n")
        parts.append("| `app.start()` keyword | Flag | Variable | Default | What it does |")
        parts.append("| --- | --- | --- | --- | --- |")
        for o in options:
            default = o.default_text or f"`{getattr(defaults, o.name)!r}`"
            meaning = o.help.replace("|", "\\|")
            parts.append(f"| `{o.name}` | `{o.flag}` | `{o.env}` | {default} | {meaning} |")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return markdown.replace(MARKER, settings_table()) if MARKER in markdown else markdown
