"""Ask one question with the openai SDK and Entra ID tokens (authMode: AADToken).

    az login   # or a managed identity, workload identity, ...: DefaultAzureCredential finds it
    python -m examples.openai_entra "What is 17 + 25?"

The caller needs the scoring permission on the endpoint
(`Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action`, for example through
the "AzureML Data Scientist" role). azure-identity's token provider caches the token and fetches a
new one before it expires, so a long-running app never sends an expired token.
"""

from __future__ import annotations

import sys

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential, get_bearer_token_provider

from examples.common import ENV_MODEL, TEMPERATURE, client, required

# The audience AzureML online endpoints accept in AADToken mode (FIELD_NOTES, auth modes).
SCOPE = "https://ml.azure.com/.default"


def main(question: str, credential: TokenCredential | None = None) -> str:
    token_provider = get_bearer_token_provider(credential or DefaultAzureCredential(), SCOPE)
    openai_client = client(token_provider)
    answer = openai_client.chat.completions.create(
        model=required(ENV_MODEL),
        messages=[{"role": "user", "content": question}],
        temperature=TEMPERATURE,
        max_tokens=2048,
    )
    return answer.choices[0].message.content or ""


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "What is 17 + 25?"))
