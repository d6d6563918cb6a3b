"""The settings table, per deployment: a deployment's keys, its vLLM options, probes, autoscale and
recurrence profiles (format: settings/schema.py)."""

from __future__ import annotations

from lib import catalog
from lib.autoscale_rules import METRICS_MODES
from lib.models import DTYPE_BYTES, FACT_KEYS
from lib.vllm_options import MAX_EXTRA_ARGS
from settings.defaults import (
    DEFAULT_AUTOSCALE,
    DEFAULT_DEPLOYMENT,
    DEFAULT_LIVENESS_PROBE,
    DEFAULT_PROFILE,
    DEFAULT_READINESS_PROBE,
    DEFAULT_VLLM,
)
from settings.schema import Key, Section

_LIMIT = catalog.MAX_INSTANCES_PER_DEPLOYMENT

DEPLOYMENT = Section(
    title="Deployment keys",
    path="deployments[]",
    defaults=DEFAULT_DEPLOYMENT,
    intro="Each entry of `deployments` is an object with these keys.",
    keys=(
        Key(
            "name",
            "string",
            "Deployment name; unique per endpoint, ignoring case.",
            allowed="3-32 characters: a letter first, then letters, digits or '-', not ending in "
            "'-'",
        ),
        Key(
            "model",
            "string",
            "Hugging Face model id the deployment serves.",
            allowed="organisation/model",
        ),
        Key(
            "revision",
            "string",
            "The Hub commit served, so every instance and every `pulumi up` serve the same weights. "
            "Required for every model but the default one, whose revision is pinned in "
            'settings/defaults.py (docs/models.md, "Model and revision").',
            allowed="a 40-hex commit SHA",
            default_text="the default model's pinned commit",
        ),
        Key(
            "modelFacts",
            "object",
            "Facts of a model the catalog (lib/models.py) does not know, read from its config.json "
            "and model card: parametersBillion, dtype, layers, attentionHeads, kvHeads, headDim, "
            "maxContext, reasoningParser, toolCallParser (keys below; docs/models.md). Empty: "
            "the catalog's.",
            allowed="every fact, or none for a catalogued model",
            default_text="none",
        ),
        Key(
            "instanceType",
            "string",
            "GPU size of the deployment's instances (exact spelling, lib/gpu_sizes.py).",
            choices=catalog.GPU_INSTANCE_TYPES,
        ),
        Key(
            "instanceCount",
            "integer",
            "Instances the deployment runs (starts with, when autoscale is on: within its bounds).",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "traffic",
            "integer",
            "Percent of live traffic; all deployments sum to 100.",
            minimum=0,
            maximum=100,
        ),
        Key(
            "mirrorTraffic",
            "integer",
            "Percent of live traffic copied to this deployment, which then takes no live "
            "traffic; to one deployment at most.",
            minimum=0,
            maximum=catalog.MAX_MIRROR_PERCENT,
        ),
        Key(
            "vllm",
            "object",
            "Options of `vllm serve` (below).",
            default_text="see below",
        ),
        Key(
            "maxConcurrentRequestsPerInstance",
            "integer",
            "Requests AzureML admits per instance (2 x this many in flight, 429 past it). Must "
            "equal vllm.maxNumSeqs unless allowConcurrencyMismatch is true.",
            minimum=1,
            maximum=1024,
            default_text="vllm.maxNumSeqs",
        ),
        Key(
            "allowConcurrencyMismatch",
            "boolean",
            "Allow maxConcurrentRequestsPerInstance to differ from vllm.maxNumSeqs, deliberately.",
        ),
        Key(
            "requestTimeoutSeconds",
            "integer",
            "Request timeout; AzureML answers 408 past it. Reasoning answers run for thousands of "
            "tokens, so the default is the service maximum.",
            minimum=1,
            maximum=catalog.MAX_REQUEST_TIMEOUT_SECONDS,
        ),
        Key(
            "livenessProbe",
            "object",
            "Probe of vLLM's /health that restarts a server that stopped answering (below).",
            default_text="see below",
        ),
        Key(
            "readinessProbe",
            "object",
            "Probe of vLLM's /health that sends traffic only once the model is loaded (below).",
            default_text="see below",
        ),
        Key(
            "autoscale",
            "object",
            "Azure Monitor autoscale for the deployment (below; docs/autoscale.md).",
            default_text="off",
        ),
        Key(
            "publishMetrics",
            "boolean",
            "Run the in-container publisher that sends vLLM's queue, batch, KV cache, TTFT and "
            "token rates to Azure Monitor (namespace vllm, on this deployment), what autoscale's "
            "vllm mode and the dashboard read; false turns it and its role assignment off.",
        ),
        Key(
            "publishIntervalSeconds",
            "integer",
            "Seconds between the publisher's reads of vLLM's /metrics; Azure Monitor stores "
            "one-minute grains and takes points up to 20 minutes old.",
            minimum=60,
            maximum=600,
        ),
    ),
)

VLLM = Section(
    title="vLLM options (`vllm`)",
    path="deployments[].vllm",
    defaults=DEFAULT_VLLM,
    keys=(
        Key(
            "maxNumSeqs",
            "integer",
            "Sequences vLLM batches per GPU (`--max-num-seqs`).",
            minimum=1,
            maximum=1024,
        ),
        Key(
            "maxModelLen",
            "integer",
            "Context length in tokens (`--max-model-len`); DeepSeek advises 32768 for the R1 "
            "distills.",
            minimum=256,
            maximum=1048576,
        ),
        Key(
            "gpuMemoryUtilization",
            "number",
            "Share of GPU memory vLLM may use (`--gpu-memory-utilization`).",
            minimum=0.1,
            maximum=0.98,
        ),
        Key(
            "reasoningParser",
            "string",
            "vLLM reasoning parser (`--reasoning-parser`); empty for models that do not reason.",
            allowed="empty, or a parser name such as deepseek_r1",
        ),
        Key(
            "tensorParallelSize",
            "integer",
            "GPUs one model is split over (`--tensor-parallel-size`). Empty: the instance type's "
            "GPU count, so multi-GPU sizes use every GPU.",
            minimum=1,
            maximum=8,
            default_text="the instance type's GPU count",
        ),
        Key(
            "extraArgs",
            "array",
            "More `vllm serve` arguments, each one list item.",
            item_type="string",
            allowed=(
                f"at most {MAX_EXTRA_ARGS}; not the flags the keys above set, nor model, host or "
                "port; no NUL"
            ),
        ),
    ),
)

_PROBE_KEYS = (
    Key(
        "initialDelaySeconds",
        "integer",
        "Seconds after start before the first probe.",
        minimum=0,
        maximum=3600,
    ),
    Key("periodSeconds", "integer", "Seconds between probes.", minimum=1, maximum=300),
    Key("timeoutSeconds", "integer", "Seconds a probe may take.", minimum=1, maximum=300),
    Key(
        "failureThreshold",
        "integer",
        "Failed probes in a row before AzureML gives up (restarts, or stops sending traffic).",
        minimum=1,
        maximum=100,
    ),
    Key(
        "successThreshold",
        "integer",
        "Successful probes in a row to count as healthy; AzureML accepts only 1.",
        minimum=1,
        maximum=1,
    ),
)

LIVENESS_PROBE = Section(
    title="Liveness probe (`livenessProbe`)",
    path="deployments[].livenessProbe",
    defaults=DEFAULT_LIVENESS_PROBE,
    keys=_PROBE_KEYS,
)

READINESS_PROBE = Section(
    title="Readiness probe (`readinessProbe`)",
    path="deployments[].readinessProbe",
    defaults=DEFAULT_READINESS_PROBE,
    intro="The default budget, 600 s + 42 x 10 s, outlasts a 15-minute cold start "
    "(docs/adr/0004-probe-budgets.md).",
    keys=_PROBE_KEYS,
)

_WINDOW = (catalog.MIN_AUTOSCALE_WINDOW_MINUTES, catalog.MAX_AUTOSCALE_WINDOW_MINUTES)
_COOLDOWN = (catalog.MIN_AUTOSCALE_COOLDOWN_MINUTES, catalog.MAX_AUTOSCALE_COOLDOWN_MINUTES)

AUTOSCALE = Section(
    title="Autoscale (`autoscale`)",
    path="deployments[].autoscale",
    defaults=DEFAULT_AUTOSCALE,
    intro="The rules and their defaults are explained in docs/autoscale.md.",
    keys=(
        Key("enabled", "boolean", "Turn autoscale on for this deployment."),
        Key(
            "minInstances",
            "integer",
            "Fewest instances (no scale to zero).",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "defaultInstances",
            "integer",
            "Instances when metrics are missing.",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "maxInstances",
            "integer",
            "Most instances.",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "metricsMode",
            "string",
            "What the rules read: vllm, the in-container publisher's queue and batch figures "
            "(needs publishMetrics); platform, AzureML's own metrics alone, where custom metrics "
            "cannot be published (docs/autoscale.md).",
            choices=METRICS_MODES,
        ),
        Key(
            "scaleOutWaitingRequests",
            "number",
            "vllm mode: scale out when more requests than this wait inside vLLM per instance, on "
            "average over the scale-out window.",
            allowed="above 0, at most 2 x maxConcurrentRequestsPerInstance",
            default_text="vllm.maxNumSeqs / 16, at least 1",
        ),
        Key(
            "scaleOutRunningRequests",
            "number",
            "vllm mode: scale out when the running batch per instance stays at or above this "
            "(the excess then waits in AzureML's front end, where vLLM cannot see it).",
            allowed="above 0, at most vllm.maxNumSeqs",
            default_text="0.85 x vllm.maxNumSeqs",
        ),
        Key(
            "scaleOutRejectedPerMinute",
            "integer",
            "Scale out when this many requests a minute are answered 429; 0 turns the rule off.",
            minimum=0,
            maximum=100000,
        ),
        Key(
            "scaleInRunningRequests",
            "number",
            "vllm mode: scale in when the running batch per instance stays below this for the "
            "scale-in window (below scaleOutRunningRequests).",
            allowed="above 0, below vllm.maxNumSeqs",
            default_text="0.5 x vllm.maxNumSeqs",
        ),
        Key(
            "scaleInRequestsPerMinute",
            "number",
            "platform mode: scale in when requests a minute per instance stay below this for the "
            "scale-in window.",
            allowed="above 0, at most 60 x vllm.maxNumSeqs",
            default_text="0.75 x vllm.maxNumSeqs",
        ),
        Key(
            "scaleOutWindowMinutes",
            "integer",
            "Minutes the scale-out rules average over.",
            minimum=_WINDOW[0],
            maximum=_WINDOW[1],
        ),
        Key(
            "scaleInWindowMinutes",
            "integer",
            "Minutes the scale-in rules average over.",
            minimum=_WINDOW[0],
            maximum=_WINDOW[1],
        ),
        Key(
            "scaleOutStep",
            "integer",
            "Instances added per scale-out.",
            minimum=1,
            maximum=_LIMIT - 1,
        ),
        Key(
            "scaleOutRejectedStep",
            "integer",
            "Instances added per scale-out on 429s: requests are being turned away now and new "
            "instances serve only after a cold start.",
            minimum=1,
            maximum=_LIMIT - 1,
        ),
        Key(
            "scaleInStep",
            "integer",
            "Instances removed per scale-in.",
            minimum=1,
            maximum=_LIMIT - 1,
        ),
        Key(
            "scaleOutCooldownMinutes",
            "integer",
            "Minutes after a scale-out before the next; must cover the readiness probe's delay.",
            minimum=_COOLDOWN[0],
            maximum=_COOLDOWN[1],
        ),
        Key(
            "scaleInCooldownMinutes",
            "integer",
            "Minutes after a scale-in before the next.",
            minimum=_COOLDOWN[0],
            maximum=_COOLDOWN[1],
        ),
        Key(
            "timeZone",
            "string",
            "Time zone of the recurrence profiles: a Windows time zone id as Azure Monitor spells "
            "it ('W. Europe Standard Time'), not an IANA name.",
            allowed=f"one of {len(catalog.AUTOSCALE_TIME_ZONES)} ids (lib/catalog.py)",
        ),
        Key(
            "profiles",
            "array",
            "Recurrence profiles: other instance bounds from a weekly start time (below).",
            item_type="object",
            allowed=f"at most {catalog.MAX_AUTOSCALE_PROFILES - 1}",
        ),
        Key(
            "notifyEmails",
            "array",
            "E-mail addresses told about each scale action.",
            item_type="string",
        ),
        Key(
            "notifyWebhooks",
            "array",
            "https:// URLs called on each scale action.",
            item_type="string",
        ),
    ),
)

PROFILE = Section(
    title="Recurrence profiles (`autoscale.profiles[]`)",
    path="deployments[].autoscale.profiles[]",
    defaults=DEFAULT_PROFILE,
    intro="A profile runs from its start until the next profile starts.",
    keys=(
        Key(
            "name",
            "string",
            "Profile name; unique, and not 'default'.",
            allowed="1-63 letters, digits, spaces, '-' or '_'",
            default_text="profile-<index>",
        ),
        Key(
            "days",
            "array",
            "Days the profile starts on.",
            item_type="string",
            choices=catalog.WEEKDAYS,
        ),
        Key("start", "string", "Start time in the autoscale time zone.", allowed="HH:MM, 24-hour"),
        Key(
            "minInstances",
            "integer",
            "Fewest instances while the profile runs.",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "defaultInstances",
            "integer",
            "Instances when metrics are missing while the profile runs.",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
        Key(
            "maxInstances",
            "integer",
            "Most instances while the profile runs.",
            minimum=catalog.MIN_INSTANCES_PER_DEPLOYMENT,
            maximum=_LIMIT,
        ),
    ),
)

_PARSER = "empty, or a vLLM parser name"
MODEL_FACTS = Section(
    title="Model facts (`modelFacts`), for a model the catalog does not know",
    path="deployments[].modelFacts",
    defaults=dict.fromkeys(FACT_KEYS),
    keys=(
        Key(
            "parametersBillion",
            "number",
            "Parameters, in billions (model card).",
            minimum=0.01,
            maximum=2000,
        ),
        Key(
            "dtype",
            "string",
            "Checkpoint dtype (config.json `torch_dtype`).",
            choices=tuple(DTYPE_BYTES),
        ),
        Key(
            "layers",
            "integer",
            "Transformer layers (`num_hidden_layers`).",
            minimum=1,
            maximum=1000,
        ),
        Key(
            "attentionHeads",
            "integer",
            "Attention heads (`num_attention_heads`).",
            minimum=1,
            maximum=1024,
        ),
        Key(
            "kvHeads",
            "integer",
            "Key/value heads (`num_key_value_heads`).",
            minimum=1,
            maximum=1024,
        ),
        Key(
            "headDim",
            "integer",
            "Head dimension (`head_dim`, or hidden_size / heads).",
            minimum=1,
            maximum=1024,
        ),
        Key(
            "maxContext",
            "integer",
            "Longest context (`max_position_embeddings`).",
            minimum=256,
            maximum=10485760,
        ),
        Key(
            "reasoningParser",
            "string",
            "vLLM reasoning parser; empty if the model does not reason.",
            allowed=_PARSER,
        ),
        Key("toolCallParser", "string", "vLLM tool-call parser (informational).", allowed=_PARSER),
    ),
)

DEPLOYMENT_SECTIONS = (
    DEPLOYMENT,
    MODEL_FACTS,
    VLLM,
    LIVENESS_PROBE,
    READINESS_PROBE,
    AUTOSCALE,
    PROFILE,
)
