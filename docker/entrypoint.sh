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
#   SERVE_MAX_NUM_SEQS             --max-num-seqs
#   SERVE_MAX_MODEL_LEN            --max-model-len
#   SERVE_GPU_MEMORY_UTILIZATION   --gpu-memory-utilization
#   SERVE_REASONING_PARSER         --reasoning-parser ("none" or empty: no parser)
#   SERVE_EXTRA_ARGS               a JSON array of further arguments, e.g. ["--enforce-eager"]
# Empty values leave vLLM's own default. The SERVE_ prefix keeps clear of VLLM_*, which vLLM
# reserves for its own settings. Arguments given to the container are appended last.
set -euo pipefail

if [[ -z "${MODEL_NAME:-}" ]]; then
    echo "entrypoint: MODEL_NAME must name the Hugging Face model to serve" >&2
    exit 64
fi

# Host and port are fixed: AzureML routes probes and scoring to port 8000 of the container.
arguments=(serve "${MODEL_NAME}" --host 0.0.0.0 --port 8000)

add_option() {
    if [[ -n "$2" ]]; then
        arguments+=("$1" "$2")
    fi
}

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

# The extra arguments are counted, not printed: they may carry credentials (--api-key).
echo "entrypoint: vllm ${arguments[*]:0:4} ... (${#arguments[@]} arguments, ${#extra[@]} from SERVE_EXTRA_ARGS)" >&2
exec vllm "${arguments[@]}"
