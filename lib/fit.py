"""Whether a model fits the GPUs of a deployment, worked out before anything is deployed.

vLLM reserves ``gpu_memory_utilization`` of each GPU's memory, loads its share of the weights, keeps
room for activations and CUDA graphs, and gives the rest to the KV cache. It refuses to start when
the weights do not fit, when ``--max-model-len`` exceeds the model's ``max_position_embeddings``
("User-specified max_model_len ... is greater than the derived max_model_len"), when one sequence
of ``--max-model-len`` tokens does not fit the KV cache ("The model's max seq len (131072) is
larger than the maximum number of tokens that can be stored in KV cache (106848)"), when the
attention heads do not divide by the tensor-parallel size ("Total number of attention heads (64)
must be divisible by tensor parallel size (6)"), and when a bfloat16 model meets a GPU without
bfloat16. On AzureML each of those shows up only as a container that never turns ready, after the
probe budget (17 minutes by default) and a GPU hour. The same arithmetic here refuses them in
``pulumi preview`` instead, with the numbers.

KV cache per token = 2 (K and V) x layers x KV heads on this GPU x head dimension x bytes per
element. With tensor parallelism each GPU holds its share of the KV heads (at least one: vLLM
replicates heads when there are more GPUs than heads) and its share of the weights.

Estimates, stated once: :data:`RUNTIME_RESERVE_GB` per GPU for activations, CUDA graphs and the
CUDA context ("framework overhead ~2 GB" in GitLab's vLLM sizing guide, docs.gitlab.com
administration/gitlab_duo_self_hosted/vllm_gpt_oss_120b). vLLM prints the real figures at start
("GPU KV cache size: N tokens"); docs/models.md says how to compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.gpu_sizes import GpuSize
from lib.models import DTYPE_BYTES, ModelFacts

RUNTIME_RESERVE_GB = 2.0
GIB = 2**30


@dataclass(frozen=True)
class ServingRequest:
    """The vLLM options that decide the fit, as settings give them."""

    max_model_len: int
    max_num_seqs: int
    gpu_memory_utilization: float
    # None: one shard per GPU of the instance type.
    tensor_parallel_size: int | None = None


@dataclass(frozen=True)
class FitReport:
    """The numbers for one deployment, what would stop vLLM (problems) and what would hurt (warnings)."""

    tensor_parallel_size: int
    dtype: str
    weights_gib: float
    weights_per_gpu_gib: float
    budget_per_gpu_gib: float
    kv_bytes_per_token: int
    kv_tokens: int
    full_length_sequences: int
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems


def _gib(value: float) -> float:
    return round(value / GIB, 2)


def allowed_tensor_parallel_sizes(model: ModelFacts, gpu: GpuSize) -> list[int]:
    """Sizes vLLM accepts on this VM, up to its GPU count: divisors of the attention heads that
    divide the KV heads too, or that the KV heads divide (vLLM then replicates KV heads)."""
    return [
        n
        for n in range(1, gpu.gpu_count + 1)
        if model.attention_heads % n == 0 and (model.kv_heads % n == 0 or n % model.kv_heads == 0)
    ]


def _tensor_parallel(
    model: ModelFacts, gpu: GpuSize, requested: int | None, problems: list[str], warnings: list[str]
) -> int:
    size = gpu.gpu_count if requested is None else requested
    allowed = allowed_tensor_parallel_sizes(model, gpu)
    if size > gpu.gpu_count:
        problems.append(
            f"tensor parallelism {size} needs {size} GPUs; {gpu.instance_type} has "
            f"{gpu.gpu_count} (allowed: {', '.join(map(str, allowed))})"
        )
        return gpu.gpu_count
    if size not in allowed:
        problems.append(
            f"tensor parallelism {size} does not divide the {model.attention_heads} attention "
            f"heads and {model.kv_heads} KV heads of {model.model_id}; vLLM refuses it (allowed on {gpu.instance_type}: "
            f"{', '.join(map(str, allowed))}; set vllm.tensorParallelSize)"
        )
    elif size < gpu.gpu_count:
        warnings.append(
            f"tensor parallelism {size} leaves {gpu.gpu_count - size} of the "
            f"{gpu.gpu_count} GPUs of {gpu.instance_type} idle, and they are billed"
        )
    return size


def _dtype(model: ModelFacts, gpu: GpuSize, problems: list[str], warnings: list[str]) -> str:
    if gpu.compute_capability < model.min_compute_capability:
        problems.append(
            f"{model.model_id} needs compute capability {model.min_compute_capability} or "
            f"later; the {gpu.gpu} of {gpu.instance_type} has {gpu.compute_capability}"
        )
    if model.dtype == "bfloat16" and not gpu.bfloat16:
        warnings.append(
            f"the {gpu.gpu} has no bfloat16 (compute capability {gpu.compute_capability}), so vLLM "
            f"serves {model.model_id} in float16 (--dtype half); bfloat16-trained weights can "
            "overflow float16 on some inputs"
        )
        return "float16"
    return model.dtype


def check_fit(model: ModelFacts, gpu: GpuSize, request: ServingRequest) -> FitReport:
    """The fit of ``model`` on one instance of ``gpu`` with the given vLLM options."""
    problems: list[str] = []
    warnings: list[str] = []
    tp = _tensor_parallel(model, gpu, request.tensor_parallel_size, problems, warnings)
    dtype = _dtype(model, gpu, problems, warnings)
    if request.max_model_len > model.max_context:
        problems.append(
            f"maxModelLen {request.max_model_len} exceeds the {model.max_context} positions of "
            f"{model.model_id} (config.json max_position_embeddings); vLLM refuses it"
        )
    budget = gpu.memory_bytes * request.gpu_memory_utilization
    weights_per_gpu = model.weight_bytes / tp
    free = budget - weights_per_gpu - RUNTIME_RESERVE_GB * 10**9
    kv_heads_per_gpu = max(1, -(-model.kv_heads // tp))
    element = DTYPE_BYTES.get(dtype, 2)
    kv_per_token = 2 * model.kv_layers * kv_heads_per_gpu * model.head_dim * element
    kv_tokens = max(0, int(free // kv_per_token))
    shards = f"{tp} x {gpu.gpu}" if tp > 1 else f"one {gpu.gpu}"
    if free <= 0:
        problems.append(
            f"{model.model_id} needs {_gib(weights_per_gpu)} GiB of weights per GPU plus "
            f"{RUNTIME_RESERVE_GB:g} GB for vLLM's runtime, more than the "
            f"{_gib(budget)} GiB it may use on {shards} ({gpu.memory_gb} GB x "
            f"gpuMemoryUtilization {request.gpu_memory_utilization:g}); choose a size with more "
            "GPU memory or more GPUs"
        )
    elif kv_tokens < request.max_model_len:
        problems.append(
            f"the KV cache left on {shards} after {_gib(weights_per_gpu)} GiB of weights per GPU "
            f"holds {kv_tokens} tokens ({kv_per_token // 1024} KiB each), fewer than one "
            f"maxModelLen sequence of {request.max_model_len}; vLLM refuses to start. Lower "
            "maxModelLen or choose more GPU memory"
        )
    full_length = kv_tokens // request.max_model_len
    if not problems and full_length < request.max_num_seqs:
        warnings.append(
            f"the KV cache holds {kv_tokens} tokens: {full_length} full-length sequences of "
            f"{request.max_model_len}, fewer than maxNumSeqs {request.max_num_seqs}; when long "
            "requests coincide, the rest wait inside vLLM (and count against the request timeout)"
        )
    return FitReport(
        tensor_parallel_size=tp,
        dtype=dtype,
        weights_gib=_gib(model.weight_bytes),
        weights_per_gpu_gib=_gib(weights_per_gpu),
        budget_per_gpu_gib=_gib(budget),
        kv_bytes_per_token=kv_per_token,
        kv_tokens=kv_tokens,
        full_length_sequences=full_length,
        problems=problems,
        warnings=warnings,
    )


# The sizes docs/models.md compares every catalog model on.
TABLE_SIZES = (
    "Standard_NC4as_T4_v3",
    "Standard_NC24ads_A100_v4",
    "Standard_NC48ads_A100_v4",
    "Standard_NC96ads_A100_v4",
    "Standard_NC40ads_H100_v5",
    "Standard_NC80adis_H100_v5",
)


# First problem -> short label for the table.
_REASONS = (
    ("tensor parallelism", "refused: TP"),
    ("compute capability", "refused: GPU"),
    ("positions", "refused: positions"),
    ("weights per GPU plus", "refused: weights"),
    ("KV cache", "refused: KV < 1 sequence"),
)


def fit_table(request: ServingRequest) -> str:
    """Every catalog model on :data:`TABLE_SIZES` with ``request``: the KV tokens and full-length
    sequences, or why vLLM would refuse it (docs/models.md; a test keeps the two in step)."""
    from lib.gpu_sizes import GPU_SIZES
    from lib.models import CATALOG

    header = "| model | " + " | ".join(f"`{name}`" for name in TABLE_SIZES) + " |"
    rows = [header, "| --- |" + " --- |" * len(TABLE_SIZES)]
    for facts in CATALOG.values():
        cells = []
        for name in TABLE_SIZES:
            size = GPU_SIZES[name]
            report = check_fit(facts, size, request)
            if not report.fits:
                problem = report.problems[0]
                reason = next((label for marker, label in _REASONS if marker in problem), "refused")
                cells.append(reason)
                continue
            tp = f"TP {report.tensor_parallel_size}, " if report.tensor_parallel_size > 1 else ""
            cells.append(
                f"{tp}{report.kv_tokens // 1000}k tokens, {report.full_length_sequences} full"
            )
        rows.append(f"| `{facts.model_id}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)
