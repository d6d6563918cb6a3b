"""Names that look the same but are not: fold lookalike characters before comparing names.

`vllm-azureml:authMode` with a Cyrillic a (U+0430), a Greek o (U+03BF), a capital `I` for the
`l`, a zero-width space or a non-breaking hyphen reads as the real key on screen and in review, yet
Pulumi stores it as another key, which nothing reads: the setting silently keeps its default. So a key is compared
with the known ones through :func:`skeleton`, which maps every such character to the Latin letter
it imitates, and a key whose skeleton matches a known name is named as a lookalike of it.

The table covers what a stack-file key can plausibly hide: compatibility forms (full-width and
mathematical letters, ligatures; Unicode NFKC), invisible format characters, the Cyrillic and Greek
letters that share a glyph with a Latin one (after Unicode's confusables.txt, restricted to the
characters a name in this project can contain), dash lookalikes, and the ASCII pairs that fonts
blur (I/l/1/|, O/0).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Cyrillic and Greek letters drawn like a Latin one (Unicode confusables.txt, "MA" table).
_SCRIPT_LOOKALIKES = {
    # Cyrillic, lowercase
    "а": "a", "в": "b", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m",
    "н": "h", "о": "o", "р": "p", "ԛ": "q", "с": "c", "ѕ": "s", "т": "t", "у": "y", "ԝ": "w",
    "х": "x", "ԁ": "d", "ɡ": "g", "ү": "y", "ь": "b",
    # Cyrillic, uppercase
    "А": "A", "В": "B", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "С": "C", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    # Greek, lowercase
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    # Greek, uppercase
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Dashes and minus signs that NFKC leaves alone
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "﹣": "-", "⁃": "-",
    # Latin letters from other blocks
    "ı": "i", "ȷ": "j", "ℓ": "l", "ǀ": "l",
}  # fmt: skip

# ASCII characters that fonts draw alike; folded last, so `vllm-azuremI` meets `vllm-azureml`.
_ASCII_LOOKALIKES = str.maketrans({"I": "l", "1": "l", "|": "l", "0": "o"})


# Known names are folded again and again when many keys are compared with them; bounded.
@lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """The form of ``name`` that two lookalike names share: compare skeletons, not names."""
    # NFKC turns full-width, mathematical and ligature forms into plain letters.
    text = unicodedata.normalize("NFKC", name)
    folded = []
    for character in text:
        # Format characters (zero-width space and joiner, soft hyphen, BOM) show as nothing.
        if unicodedata.category(character) == "Cf":
            continue
        # Accents: `é` imitates `e`. NFD splits the mark off; drop it.
        base = unicodedata.normalize("NFD", character)[0]
        folded.append(_SCRIPT_LOOKALIKES.get(base, base))
    return "".join(folded).translate(_ASCII_LOOKALIKES).lower()


def odd_characters(name: str) -> list[str]:
    """The characters of ``name`` outside printable ASCII, described for a message
    (``U+0430 CYRILLIC SMALL LETTER A``). Empty for a plain ASCII name."""
    found: list[str] = []
    for character in dict.fromkeys(name):
        if " " < character <= "~":
            continue
        label = unicodedata.name(character, "unnamed character")
        found.append(f"U+{ord(character):04X} {label}")
    return found


def lookalike_of(name: str, known: Iterable[str]) -> str | None:
    """The known name that ``name`` imitates with lookalike characters, if any."""
    target = skeleton(name)
    for candidate in known:
        if candidate != name and skeleton(candidate) == target:
            return candidate
    return None
