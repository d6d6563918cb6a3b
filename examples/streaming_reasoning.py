"""Stream an answer, showing R1's reasoning apart from the answer (Key auth).

    python -m examples.streaming_reasoning "How many r's are in strawberry?"

vLLM's `deepseek_r1` reasoning parser sends the thinking in `delta.reasoning` (older vLLM:
`reasoning_content`) and the answer in `delta.content`; the openai SDK keeps fields it does not
know, so both are read from the chunk's extra fields.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, TextIO

from examples.common import ENV_MODEL, TEMPERATURE, client, required


def _reasoning(delta: Any) -> str:
    extra = getattr(delta, "model_extra", None) or {}
    value = extra.get("reasoning") or extra.get("reasoning_content") or ""
    return value if isinstance(value, str) else ""


def stream(question: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces as they arrive: kind is "reasoning" or "answer"."""
    openai_client = client()
    chunks = openai_client.chat.completions.create(
        model=required(ENV_MODEL),
        messages=[{"role": "user", "content": question}],
        temperature=TEMPERATURE,
        max_tokens=4096,
        stream=True,
    )
    for chunk in chunks:
        for choice in chunk.choices:
            if thinking := _reasoning(choice.delta):
                yield "reasoning", thinking
            if choice.delta.content:
                yield "answer", choice.delta.content


def main(question: str, out: TextIO = sys.stdout) -> None:
    current = ""
    for kind, text in stream(question):
        if kind != current:
            out.write("\n[thinking]\n" if kind == "reasoning" else "\n[answer]\n")
            current = kind
        out.write(text)
        out.flush()
    out.write("\n")


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "How many r's are in strawberry?")
