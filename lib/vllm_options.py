"""The environment that configures `vllm serve` in the image, rendered from a deployment's settings.

The image's entrypoint (docker/entrypoint.sh) turns these variables into command-line options, so a
change to a stack file changes the server through the deployment's environment, not the Dockerfile:
no rebuild, no push, and the image digest stays the same. The endpoint component puts this mapping
into each deployment's ``environment_variables``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
REVISION = "SERVE_REVISION"
SERVED_MODEL_NAMES = "SERVE_SERVED_MODEL_NAMES"
TENSOR_PARALLEL_SIZE = "SERVE_TENSOR_PARALLEL_SIZE"
DTYPE = "SERVE_DTYPE"
# Set only with staged weights: where AzureML mounts the model asset (the deployment's
# modelMountPath); the entrypoint then serves the local copy, offline.
MODEL_DIR = "SERVE_MODEL_DIR"

# Spelled out rather than left empty: the image's own default is deepseek_r1, and an empty value
# that a platform dropped on the way would silently turn the parser back on.
NO_REASONING_PARSER = "none"


# Bounds on vllm.extraArgs. The rendered SERVE_EXTRA_ARGS reaches the container as one environment
# string, and execve(2) refuses any single argument or environment string longer than
# MAX_ARG_STRLEN, 32 pages: 131,072 bytes with 4 KiB pages (linux include/uapi/linux/binfmts.h:
# `#define MAX_ARG_STRLEN (PAGE_SIZE * 32)`). A container whose variable is past it cannot start,
# and the failure shows only in the deployment's logs. A quarter of the limit leaves room for the
# name and stays far from it; 64 arguments is several times what any vLLM command line needs.
MAX_EXTRA_ARGS_BYTES = 32 * 1024
MAX_EXTRA_ARGS = 64

# vLLM's option for its API key, and the shortest prefix argparse reads as it: vLLM's parsers keep
# argparse's allow_abbrev default (vllm/entrypoints/cli/main.py builds FlexibleArgumentParser
# without allow_abbrev=False), and `--api` is ambiguous with `--api-server-count`. vLLM also turns
# `_` into `-` in option names (vllm/utils/argparse_utils.py, FlexibleArgumentParser.parse_args).
# The policy pack keeps its own copy (policy/secret_forms.py); a test holds the two together.
API_KEY_OPTION = "--api-key"
SHORTEST_API_KEY_PREFIX = "--api-k"


def is_api_key_option(argument: str) -> bool:
    """Whether vLLM reads ``argument`` (``--opt`` or ``--opt=value``) as ``--api-key``."""
    option = argument.split("=", 1)[0].replace("_", "-")
    return (
        option.startswith("--")
        and len(option) >= len(SHORTEST_API_KEY_PREFIX)
        and API_KEY_OPTION.startswith(option)
    )


def render_extra_args(arguments: Sequence[str]) -> str:
    """SERVE_EXTRA_ARGS: one compact, ASCII-only JSON array, which the entrypoint decodes without
    eval or word splitting, so an argument keeps its spaces, quotes and embedded JSON exactly."""
    return json.dumps(list(arguments), separators=(",", ":"))


def fits_environment(argument: str) -> bool:
    """Whether ``argument`` can travel in an environment variable and reach `vllm serve` as a
    command-line argument: neither can hold a NUL character (C strings end at the first one)."""
    return "\0" not in argument


def served_model_names(served_model_name: str, model: str) -> list[str]:
    """The stable name first (what /v1/models reports), then the Hugging Face id as an alias, so
    apps that send either keep working (docs/adr/0032-one-served-model-name.md)."""
    return [served_model_name] if served_model_name == model else [served_model_name, model]


def vllm_environment(deployment: DeploymentSettings, served_model_name: str = "") -> dict[str, str]:
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
        EXTRA_ARGS: render_extra_args(vllm.extra_args),
        REVISION: deployment.revision,
        SERVED_MODEL_NAMES: " ".join(
            served_model_names(served_model_name or deployment.model, deployment.model)
        ),
        TENSOR_PARALLEL_SIZE: str(deployment.tensor_parallel_size),
        DTYPE: deployment.dtype,
    }
