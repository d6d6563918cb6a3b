#!/usr/bin/env bash
# Starts vLLM's OpenAI-compatible server for an AzureML managed online deployment.
#
# The image's ENTRYPOINT is this script in exec form, and the script ends in `exec`: vLLM replaces
# the shell as PID 1, so the SIGTERM that AzureML sends on scale-in or redeploy reaches vLLM, which
# drains in-flight requests, instead of a shell that ignores it until the SIGKILL.
#
# Options come from environment variables that the Pulumi program renders from the stack's
# settings (components/vllm_options.py), so a stack file changes the server without a rebuild:
#   MODEL_NAME                     Hugging Face model id (required)
#   SERVE_REVISION                 --revision and --tokenizer-revision: the pinned commit
#   SERVE_MODEL_DIR                serve the weights AzureML mounted here (staged weights), not the
#                                  Hub: the directory under it that holds config.json, offline
#   SERVE_SERVED_MODEL_NAMES       --served-model-name, space-separated (the first is reported)
#   SERVE_TENSOR_PARALLEL_SIZE     --tensor-parallel-size
#   SERVE_DTYPE                    --dtype (float16 on GPUs without bfloat16)
#   SERVE_MAX_NUM_SEQS             --max-num-seqs
#   SERVE_MAX_MODEL_LEN            --max-model-len
#   SERVE_GPU_MEMORY_UTILIZATION   --gpu-memory-utilization
#   SERVE_REASONING_PARSER         --reasoning-parser ("none" or empty: no parser)
#   SERVE_EXTRA_ARGS               a JSON array of further arguments, e.g. ["--enforce-eager"]
#   AZURE_METRICS_RESOURCE_ID      ARM id the vLLM metrics are published to (empty: no publisher)
#   AZURE_METRICS_REGION           that resource's region (the ingestion endpoint's host)
# Empty values leave vLLM's own default. The SERVE_ prefix keeps clear of VLLM_*, which vLLM
# reserves for its own settings. Arguments given to the container that start with '-' are appended
# last; any other first argument is a command, run instead of vLLM (an AzureML command job runs the
# same image to stage weights: components/model_weights.py).
set -euo pipefail

if [[ $# -gt 0 && "$1" != -* ]]; then
    exec "$@"
fi

if [[ -z "${MODEL_NAME:-}" ]]; then
    echo "entrypoint: MODEL_NAME must name the Hugging Face model to serve" >&2
    exit 64
fi

model="${MODEL_NAME}"
if [[ -n "${SERVE_MODEL_DIR:-}" ]]; then
    # AzureML's storage initializer copies the model asset under the mount path before the
    # container starts; how deep the files sit differs between assets (docs/models.md), so take
    # the shallowest directory that holds config.json.
    config=$(find "${SERVE_MODEL_DIR}" -maxdepth 5 -name config.json -printf '%d %p\n' 2>/dev/null | sort -n | head -n 1 | cut -d' ' -f2-)
    if [[ -z "${config}" ]]; then
        echo "entrypoint: no config.json under SERVE_MODEL_DIR=${SERVE_MODEL_DIR}; what is there:" >&2
        find "${SERVE_MODEL_DIR}" -maxdepth 3 >&2 || true
        exit 66
    fi
    model=$(dirname "${config}")
    # The weights are local: never reach for the Hub (serving has no Hugging Face egress).
    export HF_HUB_OFFLINE=1
fi

# Host and port are fixed: AzureML routes probes and scoring to port 8000 of the container.
arguments=(serve "${model}" --host 0.0.0.0 --port 8000)

add_option() {
    if [[ -n "$2" ]]; then
        arguments+=("$1" "$2")
    fi
}

if [[ -z "${SERVE_MODEL_DIR:-}" ]]; then
    add_option --revision "${SERVE_REVISION:-}"
    add_option --tokenizer-revision "${SERVE_REVISION:-}"
fi
if [[ -n "${SERVE_SERVED_MODEL_NAMES:-}" ]]; then
    read -r -a served <<< "${SERVE_SERVED_MODEL_NAMES}"
    arguments+=(--served-model-name "${served[@]}")
fi
add_option --tensor-parallel-size "${SERVE_TENSOR_PARALLEL_SIZE:-}"
add_option --dtype "${SERVE_DTYPE:-}"
add_option --max-num-seqs "${SERVE_MAX_NUM_SEQS:-}"
add_option --max-model-len "${SERVE_MAX_MODEL_LEN:-}"
add_option --gpu-memory-utilization "${SERVE_GPU_MEMORY_UTILIZATION:-}"
if [[ "${SERVE_REASONING_PARSER:-none}" != "none" ]]; then
    add_option --reasoning-parser "${SERVE_REASONING_PARSER:-}"
fi

extra=()
if [[ -n "${SERVE_EXTRA_ARGS:-}" ]]; then
    # JSON, decoded by Python's json module into NUL-separated words and read back with mapfile:
    # no eval and no word splitting, so an argument keeps its spaces, quotes and JSON payload
    # exactly. vLLM is a Python program, so its image always has an interpreter.
    python=$(command -v python3 || command -v python || true)
    if [[ -z "${python}" ]]; then
        echo "entrypoint: SERVE_EXTRA_ARGS needs python3 to decode its JSON" >&2
        exit 69
    fi
    decode='
import json, os, sys
try:
    words = json.loads(os.environ["SERVE_EXTRA_ARGS"])
except ValueError as error:
    raise SystemExit(f"entrypoint: SERVE_EXTRA_ARGS is not JSON: {error}") from None
if not isinstance(words, list) or not all(isinstance(w, str) and "\0" not in w for w in words):
    raise SystemExit("entrypoint: SERVE_EXTRA_ARGS is not a JSON array of strings")
sys.stdout.write("".join(word + "\0" for word in words))
'
    mapfile -d '' -t extra < <("${python}" -c "${decode}")
    # The exit status of the process substitution, so malformed JSON stops the container here
    # with a message rather than starting vLLM without the options the stack asked for.
    if ! wait "$!"; then
        echo "entrypoint: vLLM not started; fix SERVE_EXTRA_ARGS (its value is not shown: it may hold credentials)" >&2
        exit 64
    fi
fi
arguments+=("${extra[@]}" "$@")

# vLLM's load into Azure Monitor (docker/metrics_publisher.py, docs/autoscale.md), when the
# deployment names a target. Started in the background and never waited for, so vLLM starts at
# once; it watches this PID, which `exec` hands to vLLM, and exits when vLLM does. Its failures
# are its own: whatever it does, the exec below runs.
if [[ -n "${AZURE_METRICS_RESOURCE_ID:-}" ]]; then
    publisher="$(dirname "${BASH_SOURCE[0]}")/metrics_publisher.py"
    python=$(command -v python3 || command -v python || true)
    if [[ -n "${python}" && -f "${publisher}" ]]; then
        AZURE_METRICS_WATCH_PID=$$ "${python}" "${publisher}" </dev/null &
    else
        echo "entrypoint: metrics publisher not started (no python3 or no ${publisher})" >&2
    fi
fi

# The extra arguments are counted, not printed: they may carry credentials (--api-key).
echo "entrypoint: vllm ${arguments[*]:0:4} ... (${#arguments[@]} arguments, ${#extra[@]} from SERVE_EXTRA_ARGS)" >&2
exec vllm "${arguments[@]}"
