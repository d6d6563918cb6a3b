"""The models users deploy most, with the facts the fit checks need (lib/fit.py).

Each entry is read from the model's ``config.json`` on the Hugging Face Hub
(``https://huggingface.co/<id>/blob/main/config.json``: ``num_hidden_layers``,
``num_attention_heads``, ``num_key_value_heads``, ``head_dim`` or ``hidden_size /
num_attention_heads``, ``max_position_embeddings``, ``torch_dtype``) and its model card (parameter
count). Parsers are vLLM's names: reasoning parsers from docs.vllm.ai features/reasoning_outputs
("DeepSeek R1 series: deepseek_r1", "Qwen3 series: qwen3"; models that do not reason get none, or
vLLM files their whole answer under ``reasoning``), tool-call parsers from features/tool_calling
(``llama3_json`` for Llama 3.1/3.3, ``hermes`` for Qwen2.5 and Qwen3, ``mistral``, ``openai`` for
gpt-oss). A model outside this table needs the same facts in its deployment's ``modelFacts``
(docs/models.md), or settings refuse it.

Every figure is stated once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bytes per weight and per KV-cache element for the dtypes vLLM loads unquantised checkpoints in.
DTYPE_BYTES = {"bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class ModelFacts:
    """What decides whether a model fits a GPU, and how vLLM must be told to serve it."""

    model_id: str
    # Total parameters, in billions, as the model card gives them.
    parameters_billion: float
    # config.json torch_dtype: what the weights are stored and computed in.
    dtype: str
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    # config.json max_position_embeddings: vLLM refuses a longer --max-model-len.
    max_context: int
    # vLLM --reasoning-parser; "" for a model that does not reason.
    reasoning_parser: str
    # vLLM --tool-call-parser; "" where vLLM has none for this model.
    tool_call_parser: str
    # Layers that keep a full-length KV cache: all of them, except in models that alternate
    # sliding-window and full attention (gpt-oss: 128-token windows on half of its layers).
    kv_cache_layers: int | None = None
    # Size of the checkpoint, for quantised checkpoints where parameters x dtype is wrong.
    weights_gb: float | None = None
    # Some kernels need a newer GPU than bfloat16 alone does.
    min_compute_capability: float = 0.0
    # Where the facts were read (defaults to the Hub's config.json for the model).
    source: str = ""

    @property
    def weight_bytes(self) -> int:
        if self.weights_gb is not None:
            return int(self.weights_gb * 10**9)
        return int(self.parameters_billion * 10**9 * DTYPE_BYTES[self.dtype])

    @property
    def kv_layers(self) -> int:
        return self.layers if self.kv_cache_layers is None else self.kv_cache_layers

    @property
    def cited(self) -> str:
        return self.source or f"https://huggingface.co/{self.model_id}/blob/main/config.json"


def _r1(model_id: str, billions: float, layers: int, heads: int, kv_heads: int) -> ModelFacts:
    """An R1 distill: 128-dimension heads, 131072 positions, bfloat16, <think> reasoning."""
    return ModelFacts(
        model_id, billions, "bfloat16", layers, heads, kv_heads, 128, 131072, "deepseek_r1", ""
    )


def _dense(
    model_id: str,
    billions: float,
    shape: tuple[int, int, int],
    context: int,
    parsers: tuple[str, str],
) -> ModelFacts:
    """A dense bfloat16 model with 128-dimension heads; shape is (layers, heads, KV heads)."""
    layers, heads, kv_heads = shape
    return ModelFacts(
        model_id, billions, "bfloat16", layers, heads, kv_heads, 128, context, *parsers
    )


_LLAMA = ("", "llama3_json")
_QWEN25 = ("", "hermes")
_QWEN3 = ("qwen3", "hermes")

CATALOG: dict[str, ModelFacts] = {
    facts.model_id: facts
    for facts in (
        _r1("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 1.78, 28, 12, 2),
        _r1("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", 7.62, 28, 28, 4),
        _r1("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 8.03, 32, 32, 8),
        _r1("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", 14.8, 48, 40, 8),
        _r1("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 32.8, 64, 40, 8),
        _r1("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 70.6, 80, 64, 8),
        _dense("meta-llama/Llama-3.1-8B-Instruct", 8.03, (32, 32, 8), 131072, _LLAMA),
        _dense("meta-llama/Llama-3.1-70B-Instruct", 70.6, (80, 64, 8), 131072, _LLAMA),
        _dense("meta-llama/Llama-3.3-70B-Instruct", 70.6, (80, 64, 8), 131072, _LLAMA),
        # Qwen2.5 Instruct configs declare 32768 positions; 128k needs YaRN rope scaling, which
        # the model card asks to add by hand, so it is not assumed here.
        _dense("Qwen/Qwen2.5-7B-Instruct", 7.61, (28, 28, 4), 32768, _QWEN25),
        _dense("Qwen/Qwen2.5-14B-Instruct", 14.7, (48, 40, 8), 32768, _QWEN25),
        _dense("Qwen/Qwen2.5-32B-Instruct", 32.5, (64, 40, 8), 32768, _QWEN25),
        _dense("Qwen/Qwen2.5-72B-Instruct", 72.7, (80, 64, 8), 32768, _QWEN25),
        _dense("Qwen/Qwen3-8B", 8.19, (36, 32, 8), 40960, _QWEN3),
        _dense("Qwen/Qwen3-14B", 14.8, (40, 40, 8), 40960, _QWEN3),
        _dense("Qwen/Qwen3-32B", 32.8, (64, 64, 8), 40960, _QWEN3),
        _dense("mistralai/Mistral-7B-Instruct-v0.3", 7.25, (32, 32, 8), 32768, ("", "mistral")),
        # phi-4: 5120 hidden / 40 heads = 128 per head; vLLM's phi4_mini_json parser is for
        # Phi-4-mini only.
        _dense("microsoft/phi-4", 14.7, (40, 40, 10), 16384, ("", "")),
        ModelFacts(
            "openai/gpt-oss-120b",
            117.0,
            "bfloat16",
            36,
            64,
            8,
            64,
            131072,
            "openai_gptoss",
            "openai",
            # Layers alternate a 128-token sliding window and full attention (config.json
            # layer_types): 18 layers hold full-length KV, 2 x 18 x 8 x 64 x 2 = 36 KiB per token,
            # the "~36 KB per cached token" GitLab measured (docs.gitlab.com
            # administration/gitlab_duo_self_hosted/vllm_gpt_oss_120b).
            kv_cache_layers=18,
            # MXFP4 experts: ~61 GB of weights (same GitLab page; OpenAI's cookbook run-vllm:
            # "Best with >=60GB VRAM").
            weights_gb=61.0,
            # vLLM's recipe (vllm-project/recipes OpenAI/GPT-OSS.md) runs it on Ampere and newer,
            # with the Triton attention backend and Marlin MXFP4 kernels on A100.
            min_compute_capability=8.0,
        ),
    )
}

# Facts a deployment gives for a model outside the catalog (stack file key -> ModelFacts field).
FACT_KEYS = {
    "parametersBillion": "parameters_billion",
    "dtype": "dtype",
    "layers": "layers",
    "attentionHeads": "attention_heads",
    "kvHeads": "kv_heads",
    "headDim": "head_dim",
    "maxContext": "max_context",
    "reasoningParser": "reasoning_parser",
    "toolCallParser": "tool_call_parser",
}


def lookup(model_id: str) -> ModelFacts | None:
    """The catalog entry for a Hugging Face id; ids on the Hub are case-insensitive."""
    folded = model_id.lower()
    for known, facts in CATALOG.items():
        if known.lower() == folded:
            return facts
    return None


def catalog_table() -> str:
    """The catalog as the Markdown table docs/models.md shows (a test keeps the two in step)."""
    rows = [
        "| model | parameters | dtype | layers | heads / KV heads | head dim | max context "
        "| reasoning parser | tool-call parser |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for facts in CATALOG.values():
        weights = f"{facts.parameters_billion:g}B" + (
            f" ({facts.weights_gb:g} GB MXFP4)" if facts.weights_gb is not None else ""
        )
        layers = str(facts.layers) + (
            f" ({facts.kv_layers} with full KV)" if facts.kv_layers != facts.layers else ""
        )
        rows.append(
            f"| [`{facts.model_id}`]({facts.cited}) | {weights} | {facts.dtype} | {layers} "
            f"| {facts.attention_heads} / {facts.kv_heads} | {facts.head_dim} "
            f"| {facts.max_context} | {facts.reasoning_parser or 'none'} "
            f"| {facts.tool_call_parser or 'none'} |"
        )
    return "\n".join(rows)
