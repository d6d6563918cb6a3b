"""The settings table states what the parsers accept: every key, each range and each choice.

The reference (docs/configuration.md) and Pulumi.yaml are generated from the table, so these tests
are what keeps the published ranges and choices equal to the ones settings enforce.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from settings import (
    DEFAULT_PROFILE,
    PROJECT,
    SETTINGS_TABLE,
    Key,
    Section,
    SettingsError,
    parse_settings,
)

SECTION_PATHS = {section.path: section for section in SETTINGS_TABLE}
# Keys whose value is a free-form mapping, not an object with keys of its own.
FREE_FORM = {"tags"}


def test_each_section_lists_exactly_the_keys_its_parser_reads() -> None:
    for section in SETTINGS_TABLE:
        # The parsers refuse keys that are not in these defaults, and fill in the rest from them;
        # a profile's name is the one key whose default depends on its place in the list.
        expected = set(section.defaults) | (
            {"name"} if section.defaults is DEFAULT_PROFILE else set()
        )
        assert {key.name for key in section.keys} == expected, section.title


def test_every_object_key_has_its_own_section() -> None:
    for section in SETTINGS_TABLE:
        for key in section.keys:
            nested = key.type == "object" or (key.type == "array" and key.item_type == "object")
            if not nested or key.name in FREE_FORM:
                continue
            path = f"{section.path}.{key.name}" if section.path else key.name
            path += "[]" if key.type == "array" else ""
            assert path in SECTION_PATHS, f"{section.title}: {key.name} has no section {path}"


def test_every_key_is_described() -> None:
    for section in SETTINGS_TABLE:
        for key in section.keys:
            assert key.description.endswith("."), (section.title, key.name)


VALID_FACTS = {
    "parametersBillion": 8.0,
    "dtype": "bfloat16",
    "layers": 32,
    "attentionHeads": 32,
    "kvHeads": 8,
    "headDim": 128,
    "maxContext": 131072,
    "reasoningParser": "",
    "toolCallParser": "",
}


def _raw(section: Section, name: str, value: Any) -> tuple[dict[str, Any], str]:
    """Stack configuration that sets ``name`` of ``section`` to ``value``, and the full key the
    problem messages name."""
    deployment: dict[str, Any] = {"name": "blue", "traffic": 100}
    path = section.path
    if path == "":
        return {name: value}, f"{PROJECT}:{name}"
    if path == "deployments[]":
        deployment[name] = value
        return {"deployments": [deployment]}, f"{PROJECT}:deployments[0].{name}"
    if path == "deployments[].autoscale.profiles[]":
        profile = {"start": "08:00", name: value}
        deployment["autoscale"] = {"profiles": [profile]}
        return {"deployments": [deployment]}, (
            f"{PROJECT}:deployments[0].autoscale.profiles[0].{name}"
        )
    if path == "deployments[].modelFacts":
        # Facts come all together, for a model the catalog does not know (Llama-8B-shaped).
        deployment["model"] = "example-org/uncatalogued-8b"
        deployment["revision"] = "a" * 40
        deployment["modelFacts"] = {**VALID_FACTS, name: value}
        return {"deployments": [deployment]}, f"{PROJECT}:deployments[0].modelFacts.{name}"
    part = path.removeprefix("deployments[].")
    deployment[part] = {name: value}
    return {"deployments": [deployment]}, f"{PROJECT}:deployments[0].{part}.{name}"


def _problems(raw: dict[str, Any]) -> list[str]:
    try:
        parse_settings(copy.deepcopy(raw), "dev", "swedencentral")
    except SettingsError as error:
        return error.problems
    return []


def _ranged() -> list[tuple[Section, Key]]:
    return [(s, k) for s in SETTINGS_TABLE for k in s.keys if k.minimum is not None]


def _chosen() -> list[tuple[Section, Key]]:
    return [(s, k) for s in SETTINGS_TABLE for k in s.keys if k.choices is not None]


@pytest.mark.parametrize(
    ("section", "key"), _ranged(), ids=[f"{s.path}.{k.name}" for s, k in _ranged()]
)
def test_each_stated_range_is_the_range_the_parser_accepts(section: Section, key: Key) -> None:
    assert key.minimum is not None and key.maximum is not None
    step = 1 if key.type == "integer" else 0.01
    low, high = key.minimum, key.maximum
    for inside in (low, high):
        raw, full = _raw(section, key.name, inside)
        shown = f"{full} = {json.dumps(inside)}: must be"
        refused = [p for p in _problems(raw) if p.startswith(shown) and "must be from" in p]
        assert refused == [], refused
    for outside in (low - step, high + step):
        outside = round(outside, 6)
        raw, full = _raw(section, key.name, outside)
        expected = f"{full} = {json.dumps(outside)}: must be from {low} to {high}"
        problems = _problems(raw)
        # The whole range: "1 to 100" must not pass for "1 to 1000" (a reason may follow).
        assert any(p == expected or p.startswith(expected + " (") for p in problems), problems


@pytest.mark.parametrize(
    ("section", "key"), _chosen(), ids=[f"{s.path}.{k.name}" for s, k in _chosen()]
)
def test_each_stated_choice_is_what_the_parser_accepts(section: Section, key: Key) -> None:
    assert key.choices is not None
    as_list = key.type == "array"
    for choice in key.choices:
        raw, full = _raw(section, key.name, [choice] if as_list else choice)
        assert not [p for p in _problems(raw) if "must be one of" in p and p.startswith(full)]
    raw, full = _raw(section, key.name, ["not-a-choice"] if as_list else "not-a-choice")
    full += "[0]" if as_list else ""
    choices = sorted(key.choices) if isinstance(key.choices, frozenset) else list(key.choices)
    listed = ", ".join(choices) if len(choices) <= 12 else f"{len(choices)} values"
    expected = f"{full} = 'not-a-choice': must be one of {listed}"
    # The whole list, not a prefix of a longer one (a "did you mean" hint may follow).
    problems = _problems(raw)
    assert any(p == expected or p.startswith(expected + " (") for p in problems), problems
