"""The fit checks' arithmetic, against cases worked by hand and the refusals the issue names."""

from __future__ import annotations

import pytest

from lib.fit import (
    GIB,
    RUNTIME_RESERVE_GB,
    ServingRequest,
    allowed_tensor_parallel_sizes,
    check_fit,
)
from lib.gpu_sizes import GPU_SIZES
from lib.models import CATALOG, ModelFacts, lookup

R1_8B = CATALOG["deepseek-ai/DeepSeek-R1-Distill-Llama-8B"]
R1_70B = CATALOG["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"]
DEFAULT = ServingRequest(max_model_len=32768, max_num_seqs=16, gpu_memory_utilization=0.9)


def test_kv_cache_per_token_of_the_8b_llama_is_128_kib() -> None:
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes = 131072 bytes (FIELD_NOTES: ~128 KiB per token).
    report = check_fit(R1_8B, GPU_SIZES["Standard_NC24ads_A100_v4"], DEFAULT)
    assert report.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072


def test_8b_on_one_a100_by_hand() -> None:
    report = check_fit(R1_8B, GPU_SIZES["Standard_NC24ads_A100_v4"], DEFAULT)
    weights = 8.03e9 * 2
    free = 80e9 * 0.9 - weights - RUNTIME_RESERVE_GB * 1e9
    assert report.fits
    assert report.tensor_parallel_size == 1
    assert report.dtype == "bfloat16"
    assert report.weights_gib == round(weights / GIB, 2)
    assert report.kv_tokens == int(free // 131072)
    assert report.full_length_sequences == report.kv_tokens // 32768 == 12
    # 16 sequences of 32k do not all fit, so long requests queue: a warning, not a refusal.
    assert any("fewer than maxNumSeqs 16" in warning for warning in report.warnings)


def test_8b_on_a_t4_is_refused_with_its_numbers() -> None:
    report = check_fit(R1_8B, GPU_SIZES["Standard_NC4as_T4_v3"], DEFAULT)
    assert not report.fits
    (problem,) = report.problems
    assert "14.96 GiB of weights" in problem and "13.41 GiB" in problem and "NVIDIA T4" in problem
    # The T4 has no bfloat16: vLLM must be told float16.
    assert report.dtype == "float16"


def test_70b_on_one_a100_80gb_is_refused_with_its_numbers() -> None:
    report = check_fit(R1_70B, GPU_SIZES["Standard_NC24ads_A100_v4"], DEFAULT)
    (problem,) = report.problems
    assert "131.5 GiB of weights per GPU" in problem and "67.06 GiB" in problem


def test_70b_on_four_a100_80gb_defaults_to_tensor_parallelism_4() -> None:
    report = check_fit(R1_70B, GPU_SIZES["Standard_NC96ads_A100_v4"], DEFAULT)
    assert report.fits
    assert report.tensor_parallel_size == 4
    assert report.weights_per_gpu_gib == round(70.6e9 * 2 / 4 / GIB, 2)
    # Each GPU holds 2 of the 8 KV heads.
    assert report.kv_bytes_per_token == 2 * 80 * 2 * 128 * 2


def test_one_sequence_that_does_not_fit_the_kv_cache_is_refused() -> None:
    report = check_fit(
        CATALOG["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"],
        GPU_SIZES["Standard_NC24ads_A100_v4"],
        DEFAULT,
    )
    (problem,) = report.problems
    assert "fewer than one maxModelLen sequence of 32768" in problem
    assert f"holds {report.kv_tokens} tokens" in problem and report.kv_tokens < 32768


def test_max_model_len_beyond_the_models_positions_is_refused() -> None:
    request = ServingRequest(max_model_len=131072, max_num_seqs=16, gpu_memory_utilization=0.9)
    report = check_fit(
        CATALOG["Qwen/Qwen2.5-7B-Instruct"], GPU_SIZES["Standard_NC24ads_A100_v4"], request
    )
    assert any("exceeds the 32768 positions" in problem for problem in report.problems)


@pytest.mark.parametrize(
    ("model", "instance_type", "requested", "expected"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "Standard_ND96asr_v4", None, "does not divide"),
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "Standard_NC48ads_A100_v4", 4, "needs 4 GPUs"),
    ],
)
def test_tensor_parallel_sizes_vllm_refuses(
    model: str, instance_type: str, requested: int | None, expected: str
) -> None:
    request = ServingRequest(16384, 16, 0.9, tensor_parallel_size=requested)
    report = check_fit(CATALOG[model], GPU_SIZES[instance_type], request)
    assert any(expected in problem for problem in report.problems), report.problems


def test_fewer_shards_than_gpus_warns_that_gpus_idle() -> None:
    request = ServingRequest(16384, 16, 0.9, tensor_parallel_size=1)
    report = check_fit(R1_8B, GPU_SIZES["Standard_NC48ads_A100_v4"], request)
    assert report.fits and report.tensor_parallel_size == 1
    assert any("1 of the 2 GPUs" in warning for warning in report.warnings)


def test_allowed_tensor_parallel_sizes_respect_heads_and_kv_heads() -> None:
    qwen7 = CATALOG["Qwen/Qwen2.5-7B-Instruct"]  # 28 heads, 4 KV heads
    assert allowed_tensor_parallel_sizes(qwen7, GPU_SIZES["Standard_ND96asr_v4"]) == [1, 2, 4]
    assert allowed_tensor_parallel_sizes(R1_70B, GPU_SIZES["Standard_ND96isr_H100_v5"]) == [
        1,
        2,
        4,
        8,
    ]


def test_a_model_that_needs_a_newer_gpu_is_refused() -> None:
    report = check_fit(
        CATALOG["openai/gpt-oss-120b"],
        GPU_SIZES["Standard_NC64as_T4_v3"],
        ServingRequest(8192, 4, 0.9),
    )
    assert any("needs compute capability 8.0" in problem for problem in report.problems)


def test_quantised_weights_use_the_checkpoint_size() -> None:
    gpt_oss = CATALOG["openai/gpt-oss-120b"]
    assert gpt_oss.weight_bytes == 61 * 10**9
    report = check_fit(gpt_oss, GPU_SIZES["Standard_NC24ads_A100_v4"], DEFAULT)
    # Only its 18 full-attention layers keep a full-length KV cache: 36 KiB per token.
    assert report.kv_bytes_per_token == 36 * 1024
    assert report.fits


def test_lookup_ignores_case_and_misses_unknown_models() -> None:
    assert lookup("DEEPSEEK-AI/deepseek-r1-distill-llama-8b") is R1_8B
    assert lookup("someone/unknown-model") is None


def test_facts_from_a_stack_file_work_like_catalog_entries() -> None:
    facts = ModelFacts("example/model-3b", 3.0, "bfloat16", 26, 24, 8, 128, 8192, "", "")
    report = check_fit(facts, GPU_SIZES["Standard_NC4as_T4_v3"], ServingRequest(8192, 8, 0.9))
    assert report.fits and report.dtype == "float16"
    assert facts.cited == "https://huggingface.co/example/model-3b/blob/main/config.json"
