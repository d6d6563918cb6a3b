"""Models in settings, as plain Python: revision, modelFacts, parsers, tensor parallelism, the
served name, the weights source and the fit refusals (settings/parse_models.py)."""

from __future__ import annotations

from typing import Any

import pytest

from settings import DEFAULT_REVISION, SettingsError, parse_settings

QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"
# A test value in the shape of a commit SHA, not a real commit of any model.
PIN = "c" * 40
KEY = "vllm-azureml:deployments[0]"


def deployment(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"name": "blue", "traffic": 100}
    item.update(changes)
    return item


def parse(*items: dict[str, Any], **raw: Any):
    return parse_settings({"deployments": list(items) or [deployment()], **raw}, "dev", "eastus2")


def problems(*items: dict[str, Any], **raw: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse(*items, **raw)
    return caught.value.problems


def test_the_default_model_is_pinned_to_the_cited_revision() -> None:
    (only,) = parse().deployments
    assert only.revision == DEFAULT_REVISION == "74fbf131a939963dd1e244389bb61ad0d0440a4d"


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("main", "must be a 40-hex commit SHA"),
        ("v1.0", "must be a 40-hex commit SHA"),
        ("74fbf131", "must be a 40-hex commit SHA"),
        ("C" * 40, "must be a 40-hex commit SHA"),
        (40, "must be a string"),
    ],
)
def test_a_revision_that_is_not_a_commit_is_refused(revision: Any, expected: str) -> None:
    (problem,) = problems(deployment(revision=revision))
    assert problem.startswith(f"{KEY}.revision = ") and expected in problem


def test_another_model_without_a_revision_is_refused_with_how_to_find_it() -> None:
    (problem,) = problems(deployment(model=QWEN_7B))
    assert problem.startswith(f"{KEY}.revision: {QWEN_7B} is not pinned")
    assert f"https://huggingface.co/api/models/{QWEN_7B}/revision/main" in problem


def test_an_unknown_model_needs_its_facts() -> None:
    (problem,) = problems(deployment(model="example-org/new-model", revision=PIN))
    assert problem.startswith(
        f"{KEY}.modelFacts: example-org/new-model is not in the model catalog"
    )
    for fact in ("parametersBillion", "layers", "kvHeads", "headDim", "maxContext"):
        assert fact in problem


FACTS = {
    "parametersBillion": 3.2,
    "dtype": "bfloat16",
    "layers": 28,
    "attentionHeads": 24,
    "kvHeads": 8,
    "headDim": 128,
    "maxContext": 131072,
    "reasoningParser": "",
    "toolCallParser": "",
}


def test_an_unknown_model_with_its_facts_is_checked_like_a_catalog_one() -> None:
    facts_deployment = deployment(
        model="example-org/new-model",
        revision=PIN,
        modelFacts=FACTS,
        instanceType="Standard_NC4as_T4_v3",
    )
    (only,) = parse(facts_deployment).deployments
    assert only.fit is not None and only.fit.fits
    assert only.dtype == "float16"  # a T4 has no bfloat16
    assert only.vllm.reasoning_parser == ""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({**FACTS, "layers": None}, "missing: layers"),
        ({**FACTS, "dtype": "fp8"}, "modelFacts.dtype = 'fp8': must be one of bfloat16, float16"),
        ({**FACTS, "kvHeads": 5}, "must divide attentionHeads (24)"),
        ({**FACTS, "headDims": 128}, "modelFacts.headDims: unknown key"),
    ],
)
def test_bad_model_facts_are_refused(facts: dict[str, Any], expected: str) -> None:
    found = problems(deployment(model="example-org/new-model", revision=PIN, modelFacts=facts))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("model", "vllm", "expected"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", {}, "deepseek_r1"),
        (QWEN_7B, {}, ""),
        ("Qwen/Qwen3-8B", {}, "qwen3"),
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", {"reasoningParser": ""}, ""),
        (QWEN_7B, {"reasoningParser": "deepseek_r1"}, "deepseek_r1"),
    ],
)
def test_the_reasoning_parser_follows_the_model_unless_set(
    model: str, vllm: dict[str, Any], expected: str
) -> None:
    (only,) = parse(deployment(model=model, revision=PIN, vllm=vllm)).deployments
    assert only.vllm.reasoning_parser == expected


def test_tensor_parallelism_defaults_to_the_gpu_count_and_can_be_set() -> None:
    two_gpus = "Standard_NC48ads_A100_v4"
    (default,) = parse(deployment(instanceType=two_gpus)).deployments
    assert default.tensor_parallel_size == 2
    (chosen,) = parse(deployment(instanceType=two_gpus, vllm={"tensorParallelSize": 1})).deployments
    assert chosen.tensor_parallel_size == 1
    assert any("1 of the 2 GPUs" in warning for warning in chosen.fit.warnings)


@pytest.mark.parametrize(
    ("vllm", "expected"),
    [
        ({"tensorParallelSize": 4}, "tensor parallelism 4 needs 4 GPUs"),
        ({"tensorParallelSize": 0}, "vllm.tensorParallelSize = 0: must be from 1 to 8"),
        ({"extraArgs": ["--tensor-parallel-size=2"]}, "is set from"),
        ({"extraArgs": ["--served-model-name", "x"]}, "is set by the program from servedModelName"),
        ({"extraArgs": ["--dtype", "half"]}, "is set by the program from the fit check"),
        (
            {"extraArgs": ["--revision=main"]},
            "is set by the program from the deployment's revision",
        ),
    ],
)
def test_flags_the_program_owns_are_refused(vllm: dict[str, Any], expected: str) -> None:
    found = problems(deployment(instanceType="Standard_NC48ads_A100_v4", vllm=vllm))
    assert any(expected in problem for problem in found), found


def test_the_fit_refusal_names_the_deployment_the_model_and_the_numbers() -> None:
    (problem,) = problems(deployment(instanceType="Standard_NC4as_T4_v3"))
    assert problem.startswith(
        f"{KEY}: deepseek-ai/DeepSeek-R1-Distill-Llama-8B@74fbf131a939 on Standard_NC4as_T4_v3: "
    )
    assert "14.96 GiB" in problem and "13.41 GiB" in problem


def test_a_max_model_len_beyond_the_model_is_refused() -> None:
    (problem,) = problems(deployment(model=QWEN_7B, revision=PIN, vllm={"maxModelLen": 131072}))
    assert "maxModelLen 131072 exceeds the 32768 positions" in problem


def test_a_bad_key_gives_one_message_not_a_cascade() -> None:
    # A wrong instance type is reported once; the fit check stays quiet about it.
    (problem,) = problems(deployment(instanceType="Standard_NC24ads_A100"))
    assert problem.startswith(f"{KEY}.instanceType = ")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, "deepseek-r1-distill-llama-8b"),
        ({"servedModelName": "reasoner"}, "reasoner"),
    ],
)
def test_the_served_name_is_derived_or_set(raw: dict[str, Any], expected: str) -> None:
    assert parse(**raw).served_model_name == expected


@pytest.mark.parametrize("name", ["two words", "-leading", "a" * 129, 7])
def test_a_served_name_apps_cannot_send_is_refused(name: Any) -> None:
    (problem,) = problems(servedModelName=name)
    assert problem.startswith("vllm-azureml:servedModelName = ")


def test_weights_source_defaults_to_workspace_and_refuses_other_values() -> None:
    assert parse().weights_source == "workspace"
    assert parse(weightsSource="huggingface").weights_source == "huggingface"
    (problem,) = problems(weightsSource="Workspace")
    assert "must be one of workspace, huggingface (did you mean 'workspace'?)" in problem


def test_a_gated_model_cannot_be_staged_yet() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({}, "dev", "eastus2", hugging_face_token="hf_test")
    (problem,) = caught.value.problems
    assert problem.startswith(
        "vllm-azureml:weightsSource = 'workspace': cannot stage a gated model"
    )
    settings = parse_settings(
        {"weightsSource": "huggingface"}, "dev", "eastus2", hugging_face_token="hf_test"
    )
    assert settings.weights_source == "huggingface"
