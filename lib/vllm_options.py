"""The environment that configures `vllm serve` in the image, rendered from a deployment's settings.

The image's entrypoint (docker/entrypoint.sh) turns these variables into command-line options, so a
change to a stack file changes the server through the deployment's environment, not the Dockerfile:
no rebuild, no push, and the image digest stays the same. The endpoint component puts this mapping
into each deployment's ``environment_variables``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for the annotation: settings validate extra arguments with fits_environment below.
    from settings import DeploymentSettings

# The names the entrypoint reads. Not VLLM_*: vLLM reserves that prefix for its own settings and
# warns about names it does not know.
MODEL_NAME = "MODEL_NAME"
MAX_NUM_SEQS = "SERVE_MAX_NUM_SEQS"
MAX_MODEL_LEN = "SERVE_MAX_MODEL_LEN"
GPU_MEMORY_UTILIZATION = "SERVE_GPU_MEMORY_UTILIZATION"
REASONING_PARSER = "SERVE_REASONING_PARSER"
EXTRA_ARGS = "SERVE_EXTRA_ARGS"

# Spelled out rather than left empty: the image's own default is deepseek_r1, and an empty value
# that a platform dropped on the way would silently turn the parser back on.
NO_REASONING_PARSER = "none"


def fits_environment(argument: str) -> bool:
    """Whether ``argument`` can travel in an environment variable and reach `vllm serve` as a
    command-line argument: neither can hold a NUL character (C strings end at the first one)."""
    return "\0" not in argument


def vllm_environment(deployment: DeploymentSettings) -> dict[str, str]:
    """The environment variables that make the image serve ``deployment`` as configured.

    Every variable is always present, so a deployment never falls back to the image's defaults.
    Extra arguments travel as one JSON array: the entrypoint decodes it without ``eval`` or word
    splitting, so an argument keeps its spaces, quotes and embedded JSON exactly.
    """
    vllm = deployment.vllm
    for argument in vllm.extra_args:
        if not fits_environment(argument):
            # Settings refuse such an argument under its key; this guards deployment settings
            # built some other way, so the container never gets a truncated argument.
            raise ValueError(f"deployment {deployment.name!r}: an extra argument contains NUL")
    return {
        MODEL_NAME: deployment.model,
        MAX_NUM_SEQS: str(vllm.max_num_seqs),
        MAX_MODEL_LEN: str(vllm.max_model_len),
        # repr of a float from YAML is its shortest exact spelling ("0.9", not "0.900000").
        GPU_MEMORY_UTILIZATION: repr(vllm.gpu_memory_utilization),
        REASONING_PARSER: vllm.reasoning_parser or NO_REASONING_PARSER,
        # ASCII-only JSON: the value crosses ARM, AzureML and the container runtime unharmed.
        EXTRA_ARGS: json.dumps(list(vllm.extra_args), separators=(",", ":")),
    }
