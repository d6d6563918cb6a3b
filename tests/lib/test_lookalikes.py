"""Lookalike characters fold to the letter they imitate (lib/lookalikes.py)."""

from __future__ import annotations

import pytest

from lib.lookalikes import lookalike_of, odd_characters, skeleton


@pytest.mark.parametrize(
    "imitation",
    [
        "vllm-azuremI",  # capital I for l
        "vllm-azurem1",  # digit one for l
        "vllm-\u0430zureml",  # Cyrillic a
        "vllm-azur\u0435ml",  # Cyrillic e
        "v\u217clm-azureml",  # Roman numeral fifty
        "vllm-azure\u200bml",  # zero-width space
        "vllm\u2011azureml",  # non-breaking hyphen
        "\uff56llm-azureml",  # full-width v
        "vllm-azur\u00e9ml",  # e with acute accent
    ],
)
def test_imitations_share_the_real_names_skeleton(imitation: str) -> None:
    assert skeleton(imitation) == skeleton("vllm-azureml")
    assert lookalike_of(imitation, ["azure-native", "vllm-azureml"]) == "vllm-azureml"


def test_different_names_keep_different_skeletons() -> None:
    assert skeleton("vllm-azureml") != skeleton("vllm-azure")
    assert lookalike_of("vllm-azureml", ["vllm-azureml"]) is None


def test_odd_characters_are_named() -> None:
    assert odd_characters("ab") == []
    assert odd_characters("a\u0430\u0430") == ["U+0430 CYRILLIC SMALL LETTER A"]
