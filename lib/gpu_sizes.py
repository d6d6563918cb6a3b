"""The GPU sizes AzureML managed online deployments run vLLM on: how many GPUs, how much memory each,
and whether they compute in bfloat16.

Every figure is stated here once; settings take the allowed ``instanceType`` values from this table
and the fit checks (lib/fit.py) take the GPU memory from it.

Sources:

* GPU count and accelerator memory: Microsoft's VM size pages, MicrosoftDocs/azure-compute-docs
  ``articles/virtual-machines/sizes/gpu-accelerated/<series>.md``, "Accelerators" tab (read
  2026-12-01): ncast4v3-series (T4, 16 GB each), ncv3-series (V100, 16 GB each), nca100v4-series
  (A100 80 GB), ndasra100v4-series (8 GPUs, 320 GB in all: A100 40 GB), ndma100v4-series (8 x A100
  80 GB), ncadsh100v5-series (H100 NVL, 94 GB each), ndh100v5-series (8 GPUs, 640 GB in all). The pages
  list the memory of the whole VM except ndma100v4, which lists it per GPU; the figures below are per
  GPU. Microsoft writes GB; the fit checks read it as 10^9 bytes, which is at or below what each card
  reports, so the checks err on the side of refusing.
* The size names AzureML accepts: MicrosoftDocs/azure-ai-docs articles/machine-learning/
  reference-managed-online-endpoints-vm-sku-list.md.
* bfloat16: vLLM refuses a bfloat16 model on a GPU below compute capability 8.0 ("Bfloat16 is only
  supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has compute capability
  7.5. You can use float16 instead ... --dtype=half", vllm worker / platforms/cuda.py). T4 is 7.5 and
  V100 is 7.0 (NVIDIA, developer.nvidia.com/cuda-gpus); A100 (8.0) and H100 (9.0) have bfloat16.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSize:
    """One VM size: ``gpu_count`` GPUs of ``memory_gb`` each."""

    instance_type: str
    gpu: str
    gpu_count: int
    # Per GPU, in 10^9 bytes, as Microsoft's size pages give it.
    memory_gb: int
    compute_capability: float

    @property
    def bfloat16(self) -> bool:
        """Whether the GPU computes in bfloat16 (compute capability 8.0 or later)."""
        return self.compute_capability >= BFLOAT16_COMPUTE_CAPABILITY

    @property
    def memory_bytes(self) -> int:
        return self.memory_gb * 10**9


BFLOAT16_COMPUTE_CAPABILITY = 8.0

# (GPU, memory per GPU in GB, compute capability) of each card.
_CARDS = {
    "T4": ("NVIDIA T4", 16, 7.5),
    "V100": ("NVIDIA V100", 16, 7.0),
    "A100-80": ("NVIDIA A100 80GB", 80, 8.0),
    "A100-40": ("NVIDIA A100 40GB", 40, 8.0),
    "H100-NVL": ("NVIDIA H100 NVL", 94, 9.0),
    "H100": ("NVIDIA H100 80GB", 80, 9.0),
}
# (instance type, card, GPU count).
_SIZES = (
    ("Standard_NC4as_T4_v3", "T4", 1),
    ("Standard_NC8as_T4_v3", "T4", 1),
    ("Standard_NC16as_T4_v3", "T4", 1),
    ("Standard_NC64as_T4_v3", "T4", 4),
    ("Standard_NC6s_v3", "V100", 1),
    ("Standard_NC12s_v3", "V100", 2),
    ("Standard_NC24s_v3", "V100", 4),
    ("Standard_NC24ads_A100_v4", "A100-80", 1),
    ("Standard_NC48ads_A100_v4", "A100-80", 2),
    ("Standard_NC96ads_A100_v4", "A100-80", 4),
    ("Standard_ND96asr_v4", "A100-40", 8),
    ("Standard_ND96amsr_A100_v4", "A100-80", 8),
    ("Standard_NC40ads_H100_v5", "H100-NVL", 1),
    ("Standard_NC80adis_H100_v5", "H100-NVL", 2),
    ("Standard_ND96isr_H100_v5", "H100", 8),
)


def _size(instance_type: str, card: str, count: int) -> GpuSize:
    gpu, memory_gb, capability = _CARDS[card]
    return GpuSize(instance_type, gpu, count, memory_gb, capability)


GPU_SIZES: dict[str, GpuSize] = {name: _size(name, card, count) for name, card, count in _SIZES}


def gpu_table() -> str:
    """The sizes as the Markdown table docs/models.md shows (a test keeps the two in step)."""
    rows = [
        "| instance type | GPUs | memory per GPU | bfloat16 |",
        "| --- | --- | --- | --- |",
    ]
    for size in GPU_SIZES.values():
        rows.append(
            f"| `{size.instance_type}` | {size.gpu_count} x {size.gpu} | {size.memory_gb} GB "
            f"| {'yes' if size.bfloat16 else 'no (float16)'} |"
        )
    return "\n".join(rows)
