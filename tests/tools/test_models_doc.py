"""docs/models.md shows the catalogs as the code states them."""

from __future__ import annotations

import pytest

from tools.models_doc import DOC, main, render


def test_docs_models_tables_are_generated_from_the_catalogs() -> None:
    assert main(["--check"]) == 0, "run: python -m tools.models_doc"


def test_a_stale_table_is_caught() -> None:
    text = DOC.read_text().replace("| 8.03B |", "| 8.0B |", 1)
    assert text != DOC.read_text()
    assert render(text) != text


def test_a_missing_block_is_refused() -> None:
    with pytest.raises(ValueError, match="generated:fit"):
        render(DOC.read_text().replace("<!-- /generated:fit -->", ""))
