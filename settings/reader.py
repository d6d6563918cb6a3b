"""Typed reads of raw configuration values, with hints, and the error that lists every problem.

A :class:`Reader` records a problem instead of raising, so that one run reports every wrong key at
once; :class:`SettingsError` then carries them all. Each problem is one line naming the key, the
value given and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import pulumi

from lib.lookalikes import lookalike_of, odd_characters, skeleton
from lib.quoting import echo, key_name

Choice = TypeVar("Choice", bound=str)

# A stack file with thousands of wrong keys gets a page of them, not thousands of lines.
MAX_LISTED_PROBLEMS = 50


class SettingsError(pulumi.RunError):
    """Raised with every problem found in one stack's configuration.

    A ``pulumi.RunError`` makes the Pulumi CLI print the message and exit non-zero without a Python
    traceback: bad input is the user's to fix, not a crash.
    """

    def __init__(self, stack: str, problems: Sequence[str]):
        self.stack = stack
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [
            f"Stack '{self.stack}' has {len(self.problems)} configuration "
            f"problem{'s' if len(self.problems) != 1 else ''} (Pulumi.{self.stack}.yaml):"
        ]
        lines += [f"  - {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS:,} more")
        lines.append("Nothing was deployed. Fix the keys above and run again.")
        return "\n".join(lines)


class Reader:
    """Reads typed values out of raw config, recording a problem instead of raising."""

    def __init__(self, stack: str):
        self.stack = stack
        self.problems: list[str] = []
        # Keys already reported: rules that combine several keys skip them, so one typo gives
        # one message, not a cascade about a value the user never wrote.
        self.invalid: set[str] = set()

    def problem(self, key: str, value: Any, allowed: str) -> None:
        # Every echoed value goes through lib/quoting.py: quoted, escaped, cut to ~200 characters,
        # so a 10 MB value cannot flood the output. Keys can come from the stack file too.
        self.problems.append(f"{key_name(key)} = {echo(value)}: {allowed}")
        self.invalid.add(key)

    def ok(self, *keys: str) -> bool:
        """Whether none of ``keys`` has been reported, so a rule combining them can run."""
        return not self.invalid.intersection(keys)

    def integer(self, key: str, value: Any, low: int, high: int, why: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, value, f"must be a whole number from {low} to {high}{why}")
            return low
        if not low <= value <= high:
            self.problem(key, value, f"must be from {low} to {high}{why}")
        return value

    def number(self, key: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, value, f"must be a number from {low} to {high}")
            return low
        if not low <= value <= high:
            self.problem(key, value, f"must be from {low} to {high}")
        return float(value)

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.problem(key, value, "must be true or false")
            return False
        return value

    def string(self, key: str, value: Any, pattern: str | None = None, rule: str = "") -> str:
        if not isinstance(value, str):
            self.problem(key, value, "must be a string" + (f" ({rule})" if rule else ""))
            return ""
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(key, value, rule or f"must match {pattern}")
        return value

    def choice(self, key: str, value: Any, allowed: Sequence[Choice] | frozenset[Choice]) -> Choice:
        """One of ``allowed``. After a problem, the value as given when it is a string (so that
        rules comparing it stay quiet), else the first option: parsing goes on either way and
        the error is raised at the end."""
        options = sorted(allowed) if isinstance(allowed, frozenset) else list(allowed)
        if not isinstance(value, str) or value not in allowed:
            hint = near_miss(value, options)
            listed = ", ".join(options) if len(options) <= 12 else f"{len(options)} values"
            self.problem(key, value, f"must be one of {listed}{hint}")
            return cast(Choice, value) if isinstance(value, str) else options[0]
        return cast(Choice, value)

    def string_list(
        self,
        key: str,
        value: Any,
        item_pattern: str | None = None,
        rule: str = "",
        max_items: int | None = None,
    ) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(key, value, "must be a list of strings")
            return ()
        if max_items is not None and len(value) > max_items:
            # Counted before any item is read: a list of a million items costs one message.
            self.problem(key, f"{len(value):,} items", f"at most {max_items} items")
            return ()
        return tuple(
            self.string(f"{key}[{index}]", item, item_pattern, rule)
            for index, item in enumerate(value)
        )

    def mapping(self, key: str, value: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Merge an object over its defaults; unknown keys are problems (typos must not vanish)."""
        if not isinstance(value, dict):
            self.problem(key, value, "must be an object")
            return copy.deepcopy(dict(defaults))
        for index, unknown in enumerate(sorted(set(value) - set(defaults))):
            hint = near_miss(unknown, list(defaults)) if index < MAX_LISTED_PROBLEMS else ""
            self.problems.append(
                f"{key}.{key_name(unknown)}: unknown key{hint}; known keys: "
                f"{', '.join(sorted(defaults))}"
            )
        merged = copy.deepcopy(dict(defaults))
        merged.update(value)
        return merged


def near_miss(value: Any, options: Sequence[str]) -> str:
    """A "did you mean" for a value that differs from an option in case, punctuation, a typo or a
    lookalike character (a Cyrillic a, a capital `I` for an `l`: lib/lookalikes.py)."""
    if not isinstance(value, str):
        return ""
    twin = lookalike_of(value, options)
    if twin is not None and odd_characters(value):
        return f" (did you mean {twin!r}? it contains {', '.join(odd_characters(value)[:3])})"
    folded = re.sub(r"[^a-z0-9]", "", skeleton(value))
    for option in options:
        if re.sub(r"[^a-z0-9]", "", skeleton(option)) == folded:
            return f" (did you mean {option!r}?)"
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""
