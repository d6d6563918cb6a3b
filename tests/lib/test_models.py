"""The model and GPU catalogs: the entries the issue asks for, internally consistent."""

from __future__ import annotations

import re

import pytest

from lib.gpu_sizes import GPU_SIZES
from lib.models import CATALOG, DTYPE_BYTES, FACT_KEYS, ModelFacts

REQUIRED = [
    *(
        f"deepseek-ai/DeepSeek-R1-Distill-{size}"
        for size in ("Qwen-1.5B", "Qwen-7B", "Llama-8B", "Qwen-14B", "Qwen-32B", "Llama-70B")
    ),
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "microsoft/phi-4",
    "openai/gpt-oss-120b",
]


@pytest.mark.parametrize("model_id", REQUIRED)
def test_the_catalog_has_the_models_users_deploy_most(model_id: str) -> None:
    assert model_id in CATALOG


@pytest.mark.parametrize("facts", list(CATALOG.values()), ids=list(CATALOG))
def test_every_entry_is_consistent(facts: ModelFacts) -> None:
    assert facts.dtype in DTYPE_BYTES
    assert facts.attention_heads % facts.kv_heads == 0
    assert 0 < facts.kv_layers <= facts.layers
    assert facts.head_dim in (64, 128)
    assert facts.cited.startswith("https://")
    assert re.fullmatch(r"[a-z0-9_]*", facts.reasoning_parser)


def test_reasoning_parsers_follow_the_model() -> None:
    r1 = [facts for model_id, facts in CATALOG.items() if "R1-Distill" in model_id]
    assert {facts.reasoning_parser for facts in r1} == {"deepseek_r1"}
    # Qwen2.5 and Llama Instruct do not reason: a parser would file their answer as reasoning.
    assert CATALOG["Qwen/Qwen2.5-7B-Instruct"].reasoning_parser == ""
    assert CATALOG["meta-llama/Llama-3.3-70B-Instruct"].reasoning_parser == ""
    assert CATALOG["Qwen/Qwen3-8B"].reasoning_parser == "qwen3"


def test_fact_keys_name_model_facts_fields() -> None:
    fields = set(ModelFacts.__dataclass_fields__)
    assert set(FACT_KEYS.values()) <= fields


@pytest.mark.parametrize(
    ("instance_type", "count", "memory_gb", "bfloat16"),
    [
        ("Standard_NC4as_T4_v3", 1, 16, False),
        ("Standard_NC64as_T4_v3", 4, 16, False),
        ("Standard_NC24s_v3", 4, 16, False),
        ("Standard_NC24ads_A100_v4", 1, 80, True),
        ("Standard_NC96ads_A100_v4", 4, 80, True),
        ("Standard_ND96asr_v4", 8, 40, True),
        ("Standard_NC80adis_H100_v5", 2, 94, True),
        ("Standard_ND96isr_H100_v5", 8, 80, True),
    ],
)
def test_gpu_sizes_match_microsofts_size_pages(
    instance_type: str, count: int, memory_gb: int, bfloat16: bool
) -> None:
    size = GPU_SIZES[instance_type]
    assert (size.gpu_count, size.memory_gb, size.bfloat16) == (count, memory_gb, bfloat16)
