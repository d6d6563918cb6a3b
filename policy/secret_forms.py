"""The forms a plaintext credential takes in a deployment's environment variables.

A deployment's environment is stored in the ARM resource and shown to anyone with Reader on the
workspace, whether or not Pulumi marked the value secret. So the policy pack refuses:

* a vLLM API key on vLLM's command line, in every spelling vLLM accepts: ``--api-key=KEY``, the
  two-item ``["--api-key", "KEY"]`` (a JSON array, as ``SERVE_EXTRA_ARGS`` carries it, or words in a
  string such as ``VLLM_ARGS``), with underscores (``--api_key``: vLLM's FlexibleArgumentParser
  turns ``_`` into ``-`` in option names) or abbreviated (``--api-k``: argparse accepts any
  unambiguous prefix, and vLLM does not turn that off; vllm/utils/argparse_utils.py,
  vllm/entrypoints/cli/main.py). ``--api-key`` takes one or more keys (``api_key: list[str]``,
  vllm/entrypoints/openai/cli_args.py);
* credentials recognisable by their value (a Hugging Face token, a private key, ...);
* a literal value in a variable whose name says it holds a credential: any word of the name that
  contains TOKEN, SECRET, PASS, PWD or CREDENTIAL, or ends in KEY (``HF_TOKEN``, ``HFTOKEN``,
  ``DB_PASS``, ``VLLM_API_KEY``, ``apiKey``), except words that count tokens or name tokenizers
  (``MAX_NUM_BATCHED_TOKENS``, ``TOKENIZERS_PARALLELISM``).

What is allowed instead: a reference AzureML resolves with the endpoint identity when it starts the
container, ``${{keyvault:https://<vault>.vault.azure.net/secrets/<name>/<version>}}`` (secret
injection), or a workspace connection ``${{azureml://connections/<name>/...}}``.

This module is part of the policy pack, which runs in its own environment (policy/requirements.txt):
it imports nothing from the project.
"""

from __future__ import annotations

import json
import re
import shlex

# Values that are credentials whatever the variable is called. Messages name the kind, never the
# value, so a violation report does not leak the secret a second time.
SECRET_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("an OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("an AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("an Azure storage key", re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=[^;\s]{20,}")),
    ("a SAS signature", re.compile(r"[?&]sig=[A-Za-z0-9%/+=]{20,}")),
    ("a JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)

# References resolved at run time by AzureML with the endpoint identity: they carry no secret.
SECRET_REFERENCE = re.compile(
    r"\$\{\{\s*(?:keyvault:https://[^\s{}]+/secrets/[^\s{}]+"
    r"|azureml://connections/[^\s{}]+)\s*\}\}"
)

# Fragments of a variable-name word that mark a credential, and the words that contain one
# without being one.
SECRET_NAME_FRAGMENTS = ("TOKEN", "SECRET", "PASS", "PWD", "CREDENTIAL")
NOT_SECRET_WORDS = frozenset(
    {"TOKENS", "TOKENIZER", "TOKENIZERS", "PASSTHROUGH", "BYPASS", "COMPASS", "PASSES"}
)

# vLLM's option, and the shortest prefix argparse takes for it: `--api` is ambiguous with
# `--api-server-count`, so it fails to parse rather than setting a key.
API_KEY_OPTION = "--api-key"
SHORTEST_API_KEY_PREFIX = "--api-k"
# `$NAME` / `${NAME}` in a shell-style string: expanded at start from another variable, which is
# where the key should come from.
_SHELL_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def name_words(name: str) -> list[str]:
    """The words of a variable name, upper-cased: ``dbPassword`` -> DB, PASSWORD."""
    return [word.upper() for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def credential_name(name: str) -> bool:
    """Whether ``name`` says its variable holds a credential."""
    for word in name_words(name):
        if word in NOT_SECRET_WORDS:
            continue
        if word.endswith("KEY") or any(fragment in word for fragment in SECRET_NAME_FRAGMENTS):
            return True
    return False


def is_api_key_option(word: str) -> bool:
    """Whether ``word`` (an option, maybe ``--opt=value``) is vLLM's ``--api-key`` as argparse
    would read it: any spelling with ``_`` for ``-``, or an unambiguous prefix."""
    option = word.split("=", 1)[0].replace("_", "-")
    return (
        option.startswith("--")
        and len(option) >= len(SHORTEST_API_KEY_PREFIX)
        and API_KEY_OPTION.startswith(option)
    )


def _words(value: str) -> tuple[list[str], bool]:
    """The arguments in ``value`` and whether a shell would expand them: a JSON array of strings
    is taken as it is (the entrypoint decodes SERVE_EXTRA_ARGS without a shell); anything else is
    split into words as a shell would."""
    stripped = value.strip()
    if stripped.startswith("["):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return [item for item in decoded if isinstance(item, str)], False
    try:
        return shlex.split(value), True
    except ValueError:
        return value.split(), True


def api_key_on_command_line(value: str) -> bool:
    """Whether ``value`` passes vLLM a literal ``--api-key`` in any form."""
    words, shell = _words(value)
    for index, word in enumerate(words):
        if not is_api_key_option(word):
            continue
        given = (
            [word.split("=", 1)[1]]
            if "=" in word
            else [w for w in words[index + 1 : index + 2] if not w.startswith("-")]
        )
        for key in given:
            if shell and _SHELL_REFERENCE.fullmatch(key):
                continue
            if key:
                return True
    return False


def secret_kind(name: str, value: str) -> str | None:
    """Why ``name=value`` looks like a plaintext secret, or None if it does not."""
    if value == "" or SECRET_REFERENCE.fullmatch(value.strip()):
        return None
    if API_KEY_OPTION[2:5] in value.replace("_", "-") and api_key_on_command_line(value):
        return "a literal vLLM --api-key"
    for kind, pattern in SECRET_VALUE_PATTERNS:
        if pattern.search(value):
            return kind
    if credential_name(name):
        return "a credential-named variable with a literal value"
    return None
