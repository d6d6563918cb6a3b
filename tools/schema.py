"""Generate ``Pulumi.yaml``'s ``config:`` block and ``docs/configuration.md`` from the settings table.

    python -m tools.schema           # rewrite both files
    python -m tools.schema --check   # exit 1, with a diff, when either differs from the table

The table is settings/schema.py (rows in settings/schema_stack.py and schema_deployment.py); the
defaults are settings/defaults.py. Everything else in ``Pulumi.yaml`` is left as it is. The output
depends on nothing but the table, so two runs write the same bytes.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from settings import SECRET_KEYS, SETTINGS_TABLE, Key, Section
from settings.schema import allowed_text

ROOT = Path(__file__).resolve().parent.parent
PULUMI_YAML = "Pulumi.yaml"
REFERENCE = "docs/configuration.md"
# The config types Pulumi.yaml may declare; structured keys (objects, lists of objects) go untyped.
PULUMI_TYPES = ("string", "integer", "boolean")


class SchemaError(Exception):
    """Pulumi.yaml has no top-level ``config:`` block to replace."""


# --- Pulumi.yaml ---------------------------------------------------------------------------------


def pulumi_config(stack: Section) -> dict[str, Any]:
    """The ``config:`` mapping: type (where Pulumi has one), description and default per key."""
    config: dict[str, Any] = {}
    for key in stack.keys:
        entry: dict[str, Any] = {}
        if key.type in PULUMI_TYPES:
            entry["type"] = key.type
        elif key.type == "array" and key.item_type in PULUMI_TYPES:
            entry["type"] = "array"
            entry["items"] = {"type": key.item_type}
        allowed = allowed_text(key)
        entry["description"] = key.description + (f" Allowed: {allowed}." if allowed else "")
        entry["default"] = stack.defaults[key.name]
        config[key.name] = entry
    return config


def config_block(stack: Section) -> str:
    text = yaml.safe_dump(
        {"config": pulumi_config(stack)},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return text


def with_config_block(pulumi_yaml: str, stack: Section) -> str:
    """``pulumi_yaml`` with its top-level ``config:`` block (up to the next top-level key, or the
    end) replaced by the generated one."""
    lines = pulumi_yaml.splitlines(keepends=True)
    try:
        start = next(index for index, line in enumerate(lines) if line.rstrip() == "config:")
    except StopIteration:
        raise SchemaError(f"{PULUMI_YAML} has no top-level 'config:' block") from None
    end = start + 1
    while end < len(lines) and (lines[end][:1] in (" ", "\n", "#") or lines[end].strip() == ""):
        end += 1
    return "".join(lines[:start]) + config_block(stack) + "".join(lines[end:])


# --- docs/configuration.md -----------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and outside code spans ``<`` and ``>`` too, so that
    ``rg-<project>-<stack>`` is not read as an HTML tag."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _code(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value)
    return f"`{shown}`"


def default_text(key: Key, default: Any) -> str:
    if key.default_text is not None:
        return key.default_text
    if default == "" or default is None:
        return "empty"
    if isinstance(default, list) and default and all(isinstance(item, str) for item in default):
        return ", ".join(_code(item) for item in default)
    return _code(default)


def type_text(key: Key) -> str:
    shown = f"list of {key.item_type}s" if key.type == "array" and key.item_type else key.type
    return f"{shown} (secret)" if key.name in SECRET_KEYS and key.type == "string" else shown


def _section(section: Section, stack_level: bool) -> list[str]:
    where = f" (`{section.path}`)" if section.path and "`" not in section.title else ""
    lines = [f"## {section.title}{where}", ""]
    if section.intro:
        lines += [section.intro, ""]
    lines += ["| Key | Type | Default | Allowed | Description |", "| --- | --- | --- | --- | --- |"]
    for key in section.keys:
        name = key.name if stack_level else f"{section.path}.{key.name}"
        default = section.defaults.get(key.name)
        row = (
            f"`{name}`",
            type_text(key),
            default_text(key, default),
            allowed_text(key),
            key.description,
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return [*lines, ""]


def reference(sections: Sequence[Section] = SETTINGS_TABLE) -> str:
    """The configuration reference, every key of every section."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m tools.schema` from settings/schema*.py; do not edit by hand. "
        "`make lint` fails when this file is out of date. -->",
        "",
        "Every key a stack file may set, with its type, default and the values settings accept. "
        "A value outside them stops the program before anything is deployed, with one line per "
        "problem naming the stack, the key, the value given and what is allowed. Keys left out "
        "take their defaults.",
        "",
    ]
    for index, section in enumerate(sections):
        lines += _section(section, stack_level=index == 0)
    return "\n".join(lines).rstrip() + "\n"


# --- command line --------------------------------------------------------------------------------


def generated(root: Path) -> dict[str, str]:
    """Each generated file's path (relative to ``root``) and the text it should hold."""
    stack = SETTINGS_TABLE[0]
    pulumi_yaml = (root / PULUMI_YAML).read_text(encoding="utf-8")
    return {PULUMI_YAML: with_config_block(pulumi_yaml, stack), REFERENCE: reference()}


def check(root: Path, out: TextIO) -> int:
    drifted = 0
    for name, text in generated(root).items():
        path = root / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            drifted += 1
            out.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"{name} (committed)",
                    f"{name} (from the settings table)",
                )
            )
    if drifted:
        out.write(
            f"\n{drifted} generated file(s) differ from the settings table; "
            "run `venv/bin/python -m tools.schema` and commit the result.\n"
        )
    return 1 if drifted else 0


def write(root: Path, out: TextIO) -> int:
    for name, text in generated(root).items():
        path = root / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            out.write(f"wrote {name}\n")
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schema", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff when a generated file drifted"
    )
    args = parser.parse_args(argv)
    try:
        return check(root, out) if args.check else write(root, out)
    except (OSError, SchemaError) as error:
        out.write(f"tools.schema: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
