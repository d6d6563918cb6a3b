"""The settings table: every configuration key with its type, default, allowed values and meaning.

The table is the one source of what people read about the configuration: ``python -m tools.schema``
writes ``Pulumi.yaml``'s ``config:`` block and ``docs/configuration.md`` from it (``--check`` fails
when either has drifted). This module holds the row format; the rows are in
settings/schema_stack.py (the stack's top-level keys) and settings/schema_deployment.py (a
deployment and its parts). Defaults come from settings/defaults.py and allowed values from
lib/catalog.py where Azure fixes them; tests/settings/test_schema.py checks that the table lists
every key the parsers read and that each stated range and choice is what the parser accepts.

A new key: its default in defaults.py, its parser in the area's ``parse_<area>.py``, and its row in
the table, in the section of its area.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    """One configuration key.

    ``type`` is a Pulumi config type (string, integer, boolean, array) or, for structured values,
    number or object. ``minimum``/``maximum`` and ``choices`` state what the parser accepts, so the
    reference can list it; ``allowed`` says it in words where neither fits. ``default_text``
    replaces the default in the reference when the value itself would not explain it.
    """

    name: str
    type: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: Collection[str] | None = None
    allowed: str = ""
    item_type: str | None = None
    default_text: str | None = None


@dataclass(frozen=True)
class Section:
    """The keys of one object: the stack's top level, a deployment, or one of its parts."""

    title: str
    path: str
    defaults: Mapping[str, Any]
    keys: tuple[Key, ...]
    intro: str = ""


def allowed_text(key: Key) -> str:
    """What a value must be, in words, as the reference shows it."""
    if key.choices is not None:
        choices = list(key.choices)
        if isinstance(key.choices, frozenset):
            choices = sorted(choices)
        return ", ".join(choices)
    if key.minimum is not None and key.maximum is not None:
        if key.minimum == key.maximum:
            return _number(key.minimum)
        return f"{_number(key.minimum)}-{_number(key.maximum)}"
    return key.allowed


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
