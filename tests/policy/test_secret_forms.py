"""Every form of a plaintext credential in a deployment's environment: one that the policy pack must
refuse and its safe counterpart that it must let through, run through the real rule."""

from __future__ import annotations

import json

import pytest

from policy import rules, secret_forms
from tests.policy.test_policy import KEY_VAULT_REFERENCE, deployment, validate

RULE = "no-plaintext-secrets-in-environment"
LITERAL = "let-me-in-0123456789"


def extra_args(*arguments: str) -> str:
    """SERVE_EXTRA_ARGS as lib/vllm_options.py renders it: a compact JSON array."""
    return json.dumps(list(arguments), separators=(",", ":"))


# (form, environment that passes, environment that must fail)
FORMS = [
    (
        "--api-key=KEY in a JSON array",
        {"SERVE_EXTRA_ARGS": extra_args("--enable-prefix-caching")},
        {"SERVE_EXTRA_ARGS": extra_args(f"--api-key={LITERAL}")},
    ),
    (
        "two-item --api-key KEY in a JSON array",
        {"SERVE_EXTRA_ARGS": extra_args("--api-server-count", "2")},
        {"SERVE_EXTRA_ARGS": extra_args("--api-key", LITERAL)},
    ),
    (
        "--api-key with several keys",
        {"SERVE_EXTRA_ARGS": extra_args("--served-model-name", "r1", "chat")},
        {"SERVE_EXTRA_ARGS": extra_args("--api-key", LITERAL, "second-key")},
    ),
    (
        "--api_key (underscores are dashes to vLLM)",
        {"SERVE_EXTRA_ARGS": extra_args("--max_log_len=100")},
        {"SERVE_EXTRA_ARGS": extra_args(f"--api_key={LITERAL}")},
    ),
    (
        "abbreviated --api-k (argparse prefix)",
        # `--api` alone is ambiguous with --api-server-count: argparse refuses it, no key is set.
        {"SERVE_EXTRA_ARGS": extra_args("--api", "2")},
        {"SERVE_EXTRA_ARGS": extra_args("--api-k", LITERAL)},
    ),
    (
        "--api-key KEY in a shell-style string",
        {"VLLM_ARGS": "--max-num-seqs 16 --api-key $VLLM_API_KEY"},
        {"VLLM_ARGS": f"--max-num-seqs 16 --api-key {LITERAL}"},
    ),
    (
        "--api-key=KEY in a shell-style string",
        {"VLLM_ARGS": "--api-key=${VLLM_API_KEY} --enforce-eager"},
        {"VLLM_ARGS": f"--enforce-eager --api-key={LITERAL}"},
    ),
    (
        "*_KEY",
        {"VLLM_API_KEY": KEY_VAULT_REFERENCE},
        {"VLLM_API_KEY": LITERAL},
    ),
    (
        "camelCase key",
        {"modelName": "r1"},
        {"apiKey": LITERAL},
    ),
    (
        "*TOKEN*",
        {"HF_TOKEN": KEY_VAULT_REFERENCE, "MAX_NUM_BATCHED_TOKENS": "8192"},
        {"HF_TOKEN": LITERAL},
    ),
    (
        "HFTOKEN (no separator)",
        {"TOKENIZERS_PARALLELISM": "false"},
        {"HFTOKEN": LITERAL},
    ),
    (
        "*SECRET*",
        {"CLIENT_SECRET": KEY_VAULT_REFERENCE},
        {"CLIENT_SECRET": LITERAL},
    ),
    (
        "*PASS* (DB_PASS)",
        {"DB_PASS": KEY_VAULT_REFERENCE, "PASSTHROUGH_HEADERS": "x-request-id"},
        {"DB_PASS": LITERAL},
    ),
    (
        "*PASSWORD*",
        {"DB_PASSWORD": ""},
        {"DB_PASSWORD": LITERAL},
    ),
    (
        "*PWD*",
        {"WORKDIR": "/models"},
        {"ADMIN_PWD": LITERAL},
    ),
    (
        "a credential recognised by its value",
        {"MODEL_NAME": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"},
        {"EXTRA": "hf_" + "Q" * 34},
    ),
]


@pytest.mark.parametrize(("form", "passing", "failing"), FORMS, ids=[f[0] for f in FORMS])
def test_each_secret_form_fails_and_its_safe_form_passes(
    form: str, passing: dict[str, str], failing: dict[str, str]
) -> None:
    assert validate(RULE, rules.ONLINE_DEPLOYMENT, deployment(environmentVariables=passing)) == []
    violations = validate(RULE, rules.ONLINE_DEPLOYMENT, deployment(environmentVariables=failing))
    assert len(violations) == 1, form
    name = next(iter(failing))
    assert name in violations[0]
    # The report names the variable and the kind, never the value.
    assert LITERAL not in violations[0]


@pytest.mark.parametrize(
    "word", ["--api-key", "--api_key", "--api-ke", "--api-k", "--api-key=x", "--api_k=x"]
)
def test_spellings_argparse_reads_as_api_key(word: str) -> None:
    assert secret_forms.is_api_key_option(word)


@pytest.mark.parametrize(
    "word", ["--api", "--api-", "--api-server-count", "-api-key", "--api-keys", "api-key"]
)
def test_other_options_are_not_api_key(word: str) -> None:
    assert not secret_forms.is_api_key_option(word)


def test_a_flag_after_api_key_is_not_taken_for_a_key() -> None:
    # `--api-key --enforce-eager`: argparse fails (no value), nothing secret is in the variable.
    assert not secret_forms.api_key_on_command_line(extra_args("--api-key", "--enforce-eager"))
