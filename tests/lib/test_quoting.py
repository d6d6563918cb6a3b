"""Values echoed in messages are quoted, escaped and cut (lib/quoting.py)."""

from __future__ import annotations

from lib.quoting import ECHO_LIMIT, echo, shorten


def test_a_huge_value_is_cut_and_its_length_told() -> None:
    shown = echo("x" * 10_000_000)
    assert len(shown) < ECHO_LIMIT + 60
    assert "10,000,000 characters in all" in shown


def test_control_characters_stay_escaped_on_one_line() -> None:
    shown = echo("a\nb\x1b[31m\x00")
    assert "\n" not in shown and "\x1b" not in shown and "\x00" not in shown


def test_structures_are_json_and_cut() -> None:
    assert echo({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert len(echo(list(range(100_000)))) < ECHO_LIMIT + 60


def test_short_text_is_unchanged() -> None:
    assert shorten("short") == "short"
