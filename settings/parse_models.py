"""What each deployment serves and whether it fits: revision, model facts, the fit check, the
reasoning parser, tensor parallelism and dtype; and the stack's served name and weights source.

Keys: ``deployments[i].revision``, ``deployments[i].modelFacts``,
``deployments[i].vllm.tensorParallelSize``, ``deployments[i].vllm.reasoningParser``,
``servedModelName``, ``weightsSource``. The arithmetic is lib/fit.py's; the facts are
lib/models.py's and lib/gpu_sizes.py's (docs/models.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from lib.fit import FitReport, ServingRequest, check_fit
from lib.gpu_sizes import GPU_SIZES
from lib.models import DTYPE_BYTES, FACT_KEYS, ModelFacts, lookup
from settings.defaults import DEFAULT_MODEL, DEFAULT_REVISION
from settings.model import WEIGHTS_SOURCES, WeightsSource
from settings.reader import Reader

REVISION_PATTERN = r"[0-9a-f]{40}"
# vLLM reasoning-parser names: lowercase words with underscores.
PARSER_PATTERN = r"[a-z0-9_]+"
# Served model names travel space-separated to the entrypoint and appear in every request.
SERVED_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"

FIND_REVISION = (
    "curl -s https://huggingface.co/api/models/{model}/revision/main | "
    "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"sha\"])'"
)


def parse_revision(reader: Reader, key: str, model: str, raw: Any) -> str:
    """The pinned commit: given, or DEFAULT_REVISION for the default model, else refused."""
    if raw is None and model.lower() == DEFAULT_MODEL.lower():
        return DEFAULT_REVISION
    if raw is None:
        reader.problems.append(
            f"{key}: {model} is not pinned; add `revision: <40-hex commit SHA>` beside `model:` "
            f"(a branch moves, so two instances could serve different weights). Find the commit "
            f"with `{FIND_REVISION.format(model=model)}` or on the model's Hub page, Files and "
            "versions, History"
        )
        reader.invalid.add(key)
        return ""
    return reader.string(
        key,
        raw,
        REVISION_PATTERN,
        "must be a 40-hex commit SHA of the model's Hugging Face repository (not a branch or tag: "
        f"those move); find it with `{FIND_REVISION.format(model=model)}`",
    )


def parse_model_facts(reader: Reader, key: str, model: str, raw: Any) -> ModelFacts | None:
    """The catalog's facts for ``model``, or the ones the stack file gives for it."""
    if raw is None:
        facts = lookup(model)
        if facts is None:
            reader.problems.append(
                f"{key}: {model} is not in the model catalog (docs/models.md), so its fit cannot "
                f"be checked; add `modelFacts:` with {', '.join(FACT_KEYS)}, read from its "
                "config.json (num_hidden_layers, num_attention_heads, num_key_value_heads, "
                "head_dim, max_position_embeddings, torch_dtype) and model card"
            )
            reader.invalid.add(key)
        return facts
    values = reader.mapping(key, raw, dict.fromkeys(FACT_KEYS))
    missing = [name for name in FACT_KEYS if values[name] is None]
    if missing:
        reader.problem(key, raw, f"must give every fact; missing: {', '.join(missing)}")
        return None
    parser_rule = "must be empty or a vLLM parser name"
    facts = ModelFacts(
        model_id=model,
        parameters_billion=reader.number(
            f"{key}.parametersBillion", values["parametersBillion"], 0.01, 2000
        ),
        dtype=reader.choice(f"{key}.dtype", values["dtype"], tuple(DTYPE_BYTES)),
        layers=reader.integer(f"{key}.layers", values["layers"], 1, 1000),
        attention_heads=reader.integer(f"{key}.attentionHeads", values["attentionHeads"], 1, 1024),
        kv_heads=reader.integer(f"{key}.kvHeads", values["kvHeads"], 1, 1024),
        head_dim=reader.integer(f"{key}.headDim", values["headDim"], 1, 1024),
        max_context=reader.integer(f"{key}.maxContext", values["maxContext"], 256, 10485760),
        reasoning_parser=reader.string(
            f"{key}.reasoningParser", values["reasoningParser"], f"|{PARSER_PATTERN}", parser_rule
        ),
        tool_call_parser=reader.string(
            f"{key}.toolCallParser", values["toolCallParser"], f"|{PARSER_PATTERN}", parser_rule
        ),
        source=f"{key} in the stack file",
    )
    if not reader.ok(*(f"{key}.{name}" for name in FACT_KEYS)):
        return None  # reported above; the fit check would only repeat it
    if facts.attention_heads % facts.kv_heads:
        reader.problem(
            f"{key}.kvHeads",
            facts.kv_heads,
            f"must divide attentionHeads ({facts.attention_heads}), as in every GQA model",
        )
        return None
    return facts


def resolve_reasoning_parser(reader: Reader, key: str, raw: Any, facts: ModelFacts | None) -> str:
    """None: the model's parser (none for a model that does not reason); "" none; else as given."""
    if raw is None:
        return facts.reasoning_parser if facts is not None else ""
    return reader.string(
        key,
        raw,
        f"|{PARSER_PATTERN}",
        "must be empty (no parser), left out (the model's own), or a vLLM reasoning parser name "
        "such as deepseek_r1",
    )


def parse_tensor_parallel_size(reader: Reader, key: str, raw: Any) -> int | None:
    if raw is None:
        return None
    return reader.integer(key, raw, 1, 8, " (GPUs per instance; the largest sizes have 8)")


def check_model_fit(
    reader: Reader,
    key: str,
    facts: ModelFacts,
    instance_type: str,
    request: ServingRequest,
    revision: str,
) -> FitReport | None:
    """Run the fit check; every refusal becomes a problem naming the deployment and the numbers."""
    size = GPU_SIZES.get(instance_type)
    if size is None:
        return None
    report = check_fit(facts, size, request)
    where = f"{key}: {facts.model_id}@{revision[:12]} on {instance_type}"
    for problem in report.problems:
        reader.problems.append(f"{where}: {problem}")
    if report.problems:
        reader.invalid.add(key)
    return report


def derive_served_model_name(model: str) -> str:
    """The last part of a Hugging Face id, lower-cased: deepseek-r1-distill-llama-8b."""
    return model.rsplit("/", 1)[-1].lower()


def parse_served_model_name(reader: Reader, key: str, raw: Any, models: Sequence[str]) -> str:
    if raw in ("", None):
        return derive_served_model_name(models[0]) if models else ""
    name = reader.string(
        key,
        raw,
        SERVED_NAME_PATTERN,
        "must be 1-128 letters, digits, '.', '_', ':' or '-' (apps send it as `model`), or empty "
        "to derive it from the first deployment's model",
    )
    return name


def parse_weights_source(reader: Reader, key: str, raw: Any) -> WeightsSource:
    return reader.choice(key, raw, WEIGHTS_SOURCES)


def fit_summary(report: FitReport | None) -> Mapping[str, Any]:
    """The figures the stack exports per deployment (and the preview's Models section shows)."""
    if report is None:
        return {}
    return {
        "weightsGiB": report.weights_gib,
        "kvTokens": report.kv_tokens,
        "fullLengthSequences": report.full_length_sequences,
        "tensorParallelSize": report.tensor_parallel_size,
        "dtype": report.dtype,
        "fitWarnings": list(report.warnings),
    }


def is_revision(value: str) -> bool:
    return re.fullmatch(REVISION_PATTERN, value) is not None
