"""What every example reads: the endpoint's OpenAI base URL and the model name, from the same
environment variables the client tools use (docs/clients.md):

    export VLLM_AZUREML_BASE_URL=$(pulumi stack output openaiBaseUrl --stack dev)
    export VLLM_AZUREML_MODEL=deepseek-ai/DeepSeek-R1-Distill-Llama-8B
    export VLLM_AZUREML_API_KEY=$(pulumi stack output primaryKey --show-secrets --stack dev)  # Key auth
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from openai import OpenAI

ENV_BASE_URL = "VLLM_AZUREML_BASE_URL"
ENV_API_KEY = "VLLM_AZUREML_API_KEY"
ENV_MODEL = "VLLM_AZUREML_MODEL"
# R1 distills: DeepSeek recommends temperature 0.6 and no system prompt (FIELD_NOTES, vLLM).
TEMPERATURE = 0.6
# AzureML ends a request at the deployment's request timeout (at most 180 s); wait a little longer
# so that its 408 arrives instead of a client-side timeout.
TIMEOUT_SECONDS = 190.0


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"Set {name} first (see the top of examples/common.py).")
    return value


def client(token_provider: Callable[[], str] | None = None) -> OpenAI:
    """An OpenAI client for the endpoint: its base URL, the key from the environment (or an Entra ID
    token provider), the timeout above, and the SDK's retries for connection errors and 429s."""
    base_url = required(ENV_BASE_URL)
    api_key = token_provider or required(ENV_API_KEY)
    return OpenAI(base_url=base_url, api_key=api_key, timeout=TIMEOUT_SECONDS, max_retries=2)
