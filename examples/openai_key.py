"""Ask one question with the openai SDK and the endpoint's key (authMode: Key).

python -m examples.openai_key "What is 17 + 25?"
"""

from __future__ import annotations

import sys

from examples.common import ENV_MODEL, TEMPERATURE, client, required


def main(question: str) -> str:
    openai_client = client()
    answer = openai_client.chat.completions.create(
        model=required(ENV_MODEL),
        messages=[{"role": "user", "content": question}],
        temperature=TEMPERATURE,
        max_tokens=2048,
    )
    return answer.choices[0].message.content or ""


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "What is 17 + 25?"))
