"""The online deployments: model, GPU size, instance count, traffic, vLLM options, probes.

Keys under ``deployments[i]``: ``name``, ``model``, ``revision`` and ``modelFacts``
(settings/parse_models.py), ``instanceType``, ``instanceCount``, ``traffic``, ``mirrorTraffic``,
``vllm`` (``maxNumSeqs``, ``maxModelLen``, ``gpuMemoryUtilization``, ``reasoningParser``,
``tensorParallelSize``, ``extraArgs``), ``maxConcurrentRequestsPerInstance``,
``allowConcurrencyMismatch``, ``requestTimeoutSeconds``, ``livenessProbe``, ``readinessProbe``
``autoscale`` (settings/parse_autoscale.py), ``publishMetrics`` and
``publishIntervalSeconds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lib.catalog import (
    DEPLOYMENT_NAME_PATTERN,
    GPU_INSTANCE_TYPES,
    MAX_DEPLOYMENTS_PER_ENDPOINT,
    MAX_INSTANCES_PER_DEPLOYMENT,
    MAX_MIRROR_PERCENT,
    MAX_REQUEST_TIMEOUT_SECONDS,
    MIN_INSTANCES_PER_DEPLOYMENT,
)
from lib.fit import FitReport, ServingRequest
from lib.models import ModelFacts
from lib.vllm_options import (
    MAX_EXTRA_ARGS,
    MAX_EXTRA_ARGS_BYTES,
    fits_environment,
    is_api_key_option,
    render_extra_args,
)
from settings import rules
from settings.defaults import (
    DEFAULT_DEPLOYMENT,
    DEFAULT_LIVENESS_PROBE,
    DEFAULT_READINESS_PROBE,
    DEFAULT_VLLM,
)
from settings.model import DeploymentSettings, ProbeSettings, VllmSettings
from settings.parse_autoscale import parse_autoscale
from settings.parse_models import (
    check_model_fit,
    parse_model_facts,
    parse_revision,
    parse_tensor_parallel_size,
    resolve_reasoning_parser,
)
from settings.reader import Reader

# A Hugging Face model id, organisation/model.
HF_MODEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}"

# vLLM flags that settings own: given again in extraArgs they would contradict the key (and the
# per-instance concurrency AzureML enforces is derived from maxNumSeqs).
VLLM_MANAGED_FLAGS = {
    "--max-num-seqs": "maxNumSeqs",
    "--max-model-len": "maxModelLen",
    "--gpu-memory-utilization": "gpuMemoryUtilization",
    "--reasoning-parser": "reasoningParser",
    "--tensor-parallel-size": "tensorParallelSize",
    "-tp": "tensorParallelSize",
}
# vLLM flags the program derives and no key sets: the fit check decides them, or the served name
# and the pinned revision do.
VLLM_DERIVED_FLAGS = {
    "--dtype": "the fit check (float16 on GPUs without bfloat16)",
    "--served-model-name": "servedModelName",
    "--revision": "the deployment's revision",
    "--tokenizer-revision": "the deployment's revision",
}


def parse_deployments(reader: Reader, key: str, raw: Any) -> tuple[DeploymentSettings, ...]:
    if not isinstance(raw, list):
        reader.problem(key, raw, "must be a list of deployments")
        raw = []
    if len(raw) > MAX_DEPLOYMENTS_PER_ENDPOINT:
        # Counted before any deployment is parsed: 20,000 of them cost one message, not minutes.
        reader.problems.append(
            f"{key}: at most {MAX_DEPLOYMENTS_PER_ENDPOINT} deployments per endpoint (an AzureML "
            f"limit), got {len(raw):,}"
        )
        reader.invalid.add(key)
        return ()
    return tuple(
        parse_deployment(reader, f"{key}[{index}]", item) for index, item in enumerate(raw)
    )


def parse_deployment(reader: Reader, key: str, raw: Any) -> DeploymentSettings:
    values = reader.mapping(key, raw, DEFAULT_DEPLOYMENT)
    model = reader.string(
        f"{key}.model",
        values["model"],
        HF_MODEL_PATTERN,
        "must be a Hugging Face model id 'organisation/model'",
    )
    facts = (
        parse_model_facts(reader, f"{key}.modelFacts", model, values["modelFacts"])
        if reader.ok(f"{key}.model")
        else None
    )
    vllm_raw = values["vllm"]
    vllm = _parse_vllm(reader, f"{key}.vllm", vllm_raw, facts)
    concurrency = _parse_concurrency(reader, key, values, vllm)
    name = reader.string(
        f"{key}.name",
        values["name"],
        DEPLOYMENT_NAME_PATTERN,
        "must be 3-32 characters: a letter first, then letters, digits or '-', not ending in '-'",
    )
    instance_type = reader.choice(f"{key}.instanceType", values["instanceType"], GPU_INSTANCE_TYPES)
    autoscale = parse_autoscale(
        reader, f"{key}.autoscale", values["autoscale"], vllm.max_num_seqs, concurrency
    )
    instance_count = reader.integer(
        f"{key}.instanceCount",
        values["instanceCount"],
        MIN_INSTANCES_PER_DEPLOYMENT,
        MAX_INSTANCES_PER_DEPLOYMENT,
        f" (managed deployments run {MIN_INSTANCES_PER_DEPLOYMENT} to "
        f"{MAX_INSTANCES_PER_DEPLOYMENT} instances)",
    )
    rules.check_instance_count_in_autoscale(reader, key, instance_count, autoscale)
    revision = (
        parse_revision(reader, f"{key}.revision", model, values["revision"])
        if reader.ok(f"{key}.model")
        else ""
    )
    fit = _parse_fit(reader, key, facts, instance_type, vllm, revision)
    deployment = DeploymentSettings(
        name=name,
        model=model,
        instance_type=instance_type,
        instance_count=instance_count,
        vllm=vllm,
        max_concurrent_requests_per_instance=concurrency,
        autoscale=autoscale,
        **_serving(reader, key, values),
        revision=revision,
        fit=fit,
    )
    rules.check_autoscale_fits_deployment(reader, key, deployment)
    return deployment


def _parse_fit(
    reader: Reader,
    key: str,
    facts: ModelFacts | None,
    instance_type: str,
    vllm: VllmSettings,
    revision: str,
) -> FitReport | None:
    """The model's fit on the GPUs, once every setting it depends on is valid."""
    if facts is None or not reader.ok(
        f"{key}.instanceType",
        f"{key}.vllm.maxModelLen",
        f"{key}.vllm.maxNumSeqs",
        f"{key}.vllm.gpuMemoryUtilization",
        f"{key}.vllm.tensorParallelSize",
    ):
        return None
    request = ServingRequest(
        vllm.max_model_len,
        vllm.max_num_seqs,
        vllm.gpu_memory_utilization,
        vllm.tensor_parallel_size,
    )
    return check_model_fit(reader, key, facts, instance_type, request, revision)


def _serving(reader: Reader, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Traffic, the request timeout, the probes and the metrics publisher."""
    return {
        "traffic": reader.integer(f"{key}.traffic", values["traffic"], 0, 100),
        "mirror_traffic": reader.integer(
            f"{key}.mirrorTraffic",
            values["mirrorTraffic"],
            0,
            MAX_MIRROR_PERCENT,
            f" (AzureML mirrors at most {MAX_MIRROR_PERCENT} % of traffic)",
        ),
        "request_timeout_seconds": reader.integer(
            f"{key}.requestTimeoutSeconds",
            values["requestTimeoutSeconds"],
            1,
            MAX_REQUEST_TIMEOUT_SECONDS,
            f" ({MAX_REQUEST_TIMEOUT_SECONDS} s is the AzureML maximum)",
        ),
        "liveness_probe": _parse_probe(
            reader, f"{key}.livenessProbe", values["livenessProbe"], DEFAULT_LIVENESS_PROBE
        ),
        "readiness_probe": _parse_probe(
            reader, f"{key}.readinessProbe", values["readinessProbe"], DEFAULT_READINESS_PROBE
        ),
        "publish_metrics": reader.boolean(f"{key}.publishMetrics", values["publishMetrics"]),
        # Azure Monitor takes points up to 20 minutes old and stores one-minute grains; vLLM
        # updates its gauges every few seconds. Every 1-10 minutes is what makes sense.
        "publish_interval_seconds": reader.integer(
            f"{key}.publishIntervalSeconds", values["publishIntervalSeconds"], 60, 600
        ),
    }


def _parse_concurrency(
    reader: Reader, key: str, values: Mapping[str, Any], vllm: VllmSettings
) -> int:
    """AzureML's per-instance concurrency: vLLM's batch size unless set (and allowed) otherwise."""
    concurrency_raw = values["maxConcurrentRequestsPerInstance"]
    concurrency = (
        vllm.max_num_seqs
        if concurrency_raw is None
        else reader.integer(f"{key}.maxConcurrentRequestsPerInstance", concurrency_raw, 1, 1024)
    )
    allow_mismatch = reader.boolean(
        f"{key}.allowConcurrencyMismatch", values["allowConcurrencyMismatch"]
    )
    rules.check_concurrency_matches_batch(reader, key, concurrency, vllm, allow_mismatch)
    return concurrency


def _parse_probe(reader: Reader, key: str, raw: Any, defaults: Mapping[str, Any]) -> ProbeSettings:
    values = reader.mapping(key, raw, defaults)
    return ProbeSettings(
        initial_delay_seconds=reader.integer(
            f"{key}.initialDelaySeconds", values["initialDelaySeconds"], 0, 3600
        ),
        period_seconds=reader.integer(f"{key}.periodSeconds", values["periodSeconds"], 1, 300),
        timeout_seconds=reader.integer(f"{key}.timeoutSeconds", values["timeoutSeconds"], 1, 300),
        failure_threshold=reader.integer(
            f"{key}.failureThreshold", values["failureThreshold"], 1, 100
        ),
        success_threshold=reader.integer(
            f"{key}.successThreshold",
            values["successThreshold"],
            1,
            1,
            " (AzureML accepts only 1 for managed deployments)",
        ),
    )


def _parse_vllm(reader: Reader, key: str, raw: Any, facts: ModelFacts | None) -> VllmSettings:
    values = reader.mapping(key, raw, DEFAULT_VLLM)
    extra_args = _parse_extra_args(reader, f"{key}.extraArgs", values["extraArgs"], key)
    return VllmSettings(
        max_num_seqs=reader.integer(f"{key}.maxNumSeqs", values["maxNumSeqs"], 1, 1024),
        max_model_len=reader.integer(f"{key}.maxModelLen", values["maxModelLen"], 256, 1048576),
        gpu_memory_utilization=reader.number(
            f"{key}.gpuMemoryUtilization", values["gpuMemoryUtilization"], 0.1, 0.98
        ),
        reasoning_parser=resolve_reasoning_parser(
            reader, f"{key}.reasoningParser", values["reasoningParser"], facts
        ),
        extra_args=extra_args,
        tensor_parallel_size=parse_tensor_parallel_size(
            reader, f"{key}.tensorParallelSize", values["tensorParallelSize"]
        ),
    )


def _parse_extra_args(reader: Reader, key: str, raw: Any, vllm_key: str) -> tuple[str, ...]:
    """Extra `vllm serve` arguments, except those that keys or the image already set, and never an
    API key (it would sit in plaintext in the deployment's definition)."""
    extra_args = reader.string_list(key, raw, max_items=MAX_EXTRA_ARGS)
    secret = _api_key_arguments(reader, key, extra_args)
    for index, argument in enumerate(extra_args):
        if index in secret:
            continue
        flag = argument.split("=", 1)[0]
        if not fits_environment(argument):
            reader.problem(f"{key}[{index}]", argument, "cannot contain a NUL character")
        elif flag in VLLM_MANAGED_FLAGS:
            reader.problem(
                f"{key}[{index}]",
                argument,
                f"is set from {vllm_key}.{VLLM_MANAGED_FLAGS[flag]}; set it there (AzureML's "
                "concurrency and the entrypoint follow that key)",
            )
        elif flag in VLLM_DERIVED_FLAGS:
            reader.problem(
                f"{key}[{index}]",
                argument,
                f"is set by the program from {VLLM_DERIVED_FLAGS[flag]}; remove it",
            )
        if (
            argument in ("serve", "--model")
            or argument.startswith("--port")
            or argument.startswith("--host")
        ):
            reader.problem(
                f"{key}[{index}]",
                argument,
                "is set by the image (model, host and port are fixed by the entrypoint and the "
                "AzureML routes); remove it",
            )
    size = len(render_extra_args(extra_args))
    if size > MAX_EXTRA_ARGS_BYTES:
        reader.problems.append(
            f"{key}: renders to {size:,} bytes of SERVE_EXTRA_ARGS; at most "
            f"{MAX_EXTRA_ARGS_BYTES:,} (a container whose variable passes the kernel's "
            "131,072-byte limit per string cannot start)"
        )
        reader.invalid.add(key)
    return extra_args


def _api_key_arguments(reader: Reader, key: str, arguments: Sequence[str]) -> set[int]:
    """Refuse vLLM's --api-key in every spelling it accepts, without echoing the key; return the
    indexes that hold a key, so that no other message echoes them either."""
    secret: set[int] = set()
    for index, argument in enumerate(arguments):
        if index in secret or not is_api_key_option(argument):
            continue
        secret.add(index)
        if "=" not in argument:
            # `--api-key KEY [KEY ...]`: vLLM takes every following word up to the next option.
            following = index + 1
            while following < len(arguments) and not arguments[following].startswith("-"):
                secret.add(following)
                following += 1
        reader.problems.append(
            f"{key}[{index}]: passes vLLM an API key on the command line (value not shown), where "
            "it would sit in plaintext in the deployment's definition; remove it and set the key "
            "as a secret: `pulumi config set --secret vllmApiKey <key>`, which the program keeps "
            "in Key Vault and injects as VLLM_API_KEY (needs authMode Key; docs/security.md)"
        )
        reader.invalid.add(f"{key}[{index}]")
    return secret
