"""Checks that call the endpoint the way apps do: the OpenAI paths, streaming, each deployment,
and whether a deployment that needs the Hugging Face token loaded its model."""

from __future__ import annotations

import re
from typing import Any

from clients.errors import EndpointError
from clients.inference import ChatOptions
from clients.verify.registry import Context, Outcome, check, failed, passed, skipped
from lib.model_assets import MODEL_MOUNT_PATH
from lib.vllm_options import served_model_names

# Short, one right answer, cheap (the smoke test's prompt).
PROMPT = "What is 17 + 25? Reply with the number only."
# Enough for an R1 distill to reason about it and answer; a per-deployment probe needs less.
STREAM_MAX_TOKENS = 1024
PROBE_MAX_TOKENS = 16
SCORING_PATH = "/v1/chat/completions"
# `${{keyvault:https://<vault>.vault.azure.net/secrets/<name>/<version>}}`, AzureML's secret
# injection reference (see components/endpoint.py, _hugging_face_token).
KEY_VAULT_REFERENCE = re.compile(
    r"^\$\{\{keyvault:https://([^./]+)\.vault\.[^/]+/secrets/([^/]+)(?:/([^/}]+))?\}\}$"
)
HUGGING_FACE_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def _model_entries(ctx: Context, deployment: str | None) -> list[dict[str, Any]]:
    """GET /v1/models once per run and deployment: several checks read it."""
    return ctx.remember(f"models:{deployment}", lambda: ctx.client(deployment).list_model_entries())


def _models(ctx: Context, deployment: str | None) -> list[str]:
    return [str(entry["id"]) for entry in _model_entries(ctx, deployment)]


def _lines(error: Exception) -> list[str]:
    return str(error).splitlines()[:12]


@check("openai-paths", "GET /v1/models through the endpoint host lists the model")
def openai_paths(ctx: Context) -> Outcome:
    """Proves or disproves ADR 0003's assumption: with the scoring route /v1/chat/completions,
    other paths on the host still reach vLLM."""
    expected = ctx.endpoint.configured_models(None)
    try:
        served = _models(ctx, None)
    except EndpointError as error:
        return _route_verdict(ctx, error)
    if expected and not set(expected) & set(served):
        return failed(
            f"GET /v1/models reached vLLM, which serves {', '.join(served) or 'nothing'}, not "
            f"{' or '.join(expected)}",
            [f"deployments in the outputs: {', '.join(sorted(ctx.endpoint.deployments))}"],
            [
                "apps must send the name vLLM serves as `model`: check the deployments' model and "
                "served name settings, then `pulumi up`"
            ],
        )
    return passed(
        f"GET /v1/models reached vLLM through the host and lists {', '.join(served)}",
        "paths other than the scoring route reach the container (ADR 0003's assumption holds)",
    )


def _route_verdict(ctx: Context, error: EndpointError) -> Outcome:
    """/v1/models failed: does the scoring route itself answer? Then only it is forwarded."""
    try:
        ctx.client(None).chat(
            [{"role": "user", "content": PROMPT}], ChatOptions(max_tokens=PROBE_MAX_TOKENS)
        )
        route_answers = True
    except EndpointError:
        route_answers = False
    evidence = [f"GET {ctx.endpoint.base_url}/models: {error.summary}", *_lines(error)[1:]]
    if not route_answers:
        return failed(
            "GET /v1/models failed, and so does the scoring route: the endpoint does not serve yet",
            evidence,
            ["fix the serving path first (see the chat-stream check), then run verify again"],
        )
    evidence.append(f"POST {SCORING_PATH} (the scoring route) answered")
    return failed(
        "only the scoring route reaches vLLM: AzureML does not forward /v1/models on the host",
        evidence,
        [
            "apps: keep the base URL (chat completions work) and send `model` from the stack "
            "output deployments.<name>.model instead of listing models",
            "to forward every vLLM path, change SCORING_PATH in components/endpoint.py from "
            f"{SCORING_PATH!r} to '/v1' (it passes the Route.path pattern), `pulumi up` (every "
            "deployment rolls: the routes are part of the environment version), run verify again, "
            "and record the result in docs/adr/0003-scoring-route-chat-completions.md",
        ],
    )


@check("chat-stream", "a streamed POST /v1/chat/completions answers")
def chat_stream(ctx: Context) -> Outcome:
    models = ctx.endpoint.configured_models(None)
    try:
        result = ctx.client(None).chat(
            [{"role": "user", "content": PROMPT}],
            ChatOptions(max_tokens=STREAM_MAX_TOKENS),
            model=models[0] if len(models) == 1 else None,
        )
    except EndpointError as error:
        return failed("the streamed chat completion failed", _lines(error), error.advice[:3])
    timing = (
        f"first token {result.time_to_first_token or 0:.2f} s, total {result.total_seconds:.2f} s"
    )
    if not result.content.strip():
        return failed(
            "the stream ended without an answer",
            [
                f"finish_reason {result.finish_reason}",
                f"{len(result.reasoning)} characters of reasoning",
                timing,
            ],
            [
                "if finish_reason is length, the model reasoned past the budget: that is not a "
                "fault, but check maxModelLen and the request timeout"
            ],
        )
    return passed(f"streamed answer {result.content.strip()[:40]!r}", timing)


@check("deployments-answer", "each deployment answers when targeted with azureml-model-deployment")
def deployments_answer(ctx: Context) -> list[Outcome]:
    outcomes = []
    for name, info in sorted(ctx.endpoint.deployments.items()):
        try:
            served = _models(ctx, name)
            ctx.client(name).chat(
                [{"role": "user", "content": PROMPT}],
                ChatOptions(max_tokens=PROBE_MAX_TOKENS),
                model=info.model if info.model in served else None,
            )
        except EndpointError as error:
            outcome = failed(
                f"deployment {name} did not answer through its header",
                _lines(error),
                error.advice[:3] or ["check the deployment's state and logs"],
            )
        else:
            outcome = passed(f"deployment {name} answers and serves {', '.join(served)}")
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [skipped("the stack outputs list no deployments")]


def hugging_face_references(deployment: dict[str, Any]) -> list[str]:
    """The Key Vault references a deployment's Hugging Face variables hold."""
    variables = (deployment.get("properties") or {}).get("environmentVariables") or {}
    return [
        str(variables[name])
        for name in HUGGING_FACE_VARIABLES
        if isinstance(variables, dict) and KEY_VAULT_REFERENCE.match(str(variables.get(name, "")))
    ]


@check("model-loaded-with-token", "with a Hugging Face token, the model loaded", uses_arm=True)
def model_loaded_with_token(ctx: Context) -> list[Outcome]:
    """A deployment whose HF_TOKEN is a Key Vault reference and that serves its model resolved the
    reference: that proves secret injection (a preview feature) works with the role the program
    assigned."""
    outcomes = []
    for name, deployment in sorted(ctx.arm_deployments().items()):
        references = hugging_face_references(deployment)
        if not references:
            continue
        try:
            served = _models(ctx, name)
        except EndpointError as error:
            outcome = failed(
                f"deployment {name} has HF_TOKEN from Key Vault and does not serve",
                [f"HF_TOKEN = {references[0]}", *_lines(error)],
                [
                    "read the deployment's logs for a 401/403 from huggingface.co or a secret "
                    "resolution error: `az ml online-deployment get-logs -n "
                    f"{name} -e {ctx.outputs.get('endpointName', '<endpoint>')} --lines 200`",
                    "the endpoint identity needs Key Vault Secrets User on the secret (the "
                    "endpoint-roles check); a role assigned seconds before the deployment may "
                    "need the deployment restarted",
                ],
            )
        else:
            outcome = passed(
                f"deployment {name} loaded {', '.join(served)} with HF_TOKEN injected from Key "
                "Vault",
                f"HF_TOKEN = {references[0]}",
            )
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [skipped("no deployment takes a Hugging Face token from Key Vault")]


def _references(deployment: dict[str, Any], name: str) -> str | None:
    variables = (deployment.get("properties") or {}).get("environmentVariables") or {}
    value = str(variables.get(name, "")) if isinstance(variables, dict) else ""
    return value if KEY_VAULT_REFERENCE.match(value) else None


@check(
    "vllm-api-key-forwarding",
    "with vllmApiKey, AzureML forwards the caller's Authorization header to vLLM",
    uses_arm=True,
)
def vllm_api_key_forwarding(ctx: Context) -> list[Outcome]:
    """docs/adr/0010: vLLM's --api-key works behind the endpoint only if AzureML passes the
    caller's `Authorization` header on unchanged. With the endpoint's primary key set to the same
    value (docs/security.md, "The vLLM API key"), GET /v1/models answers 200 exactly when it does."""
    outcomes = []
    for name, deployment in sorted(ctx.arm_deployments().items()):
        reference = _references(deployment, "VLLM_API_KEY")
        if reference is None:
            continue
        try:
            served = _models(ctx, name)
        except EndpointError as error:
            vllm_refused = error.status == 424 and "Unauthorized" in error.detail
            outcome = failed(
                f"deployment {name}: vLLM refused the request"
                if vllm_refused
                else f"deployment {name} did not answer GET /v1/models",
                [f"VLLM_API_KEY = {reference}", *_lines(error)],
                [
                    "if the endpoint's primary key equals vllmApiKey (the setup step in "
                    'docs/security.md) and vLLM still answers {"error": "Unauthorized"}, '
                    "AzureML does not forward the header as sent: vllmApiKey cannot work on "
                    "managed online endpoints; remove it and record the result in "
                    "docs/adr/0010-vllm-api-key-and-the-authorization-header.md",
                    "if the primary key was never set to vllmApiKey, do that first and re-run",
                ]
                if vllm_refused
                else error.advice[:3],
            )
        else:
            outcome = passed(
                f"deployment {name} took the caller's Authorization header as vLLM's API key "
                f"(serves {', '.join(served)})",
                f"VLLM_API_KEY = {reference}",
            )
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [skipped("no deployment runs vLLM with an API key (vllmApiKey unset)")]


def _served_problems(ctx: Context, name: str, served: str) -> tuple[list[str], list[str]]:
    """(problems, evidence) of one deployment's /v1/models against the stack's served name and, for
    staged weights, where vLLM loaded them from."""
    info = (ctx.outputs.get("deployments") or {}).get(name) or {}
    model = str(info.get("model") or "")
    entries = _model_entries(ctx, name)
    ids = [str(entry["id"]) for entry in entries]
    roots = sorted({str(entry.get("root")) for entry in entries})
    evidence = [f"GET /v1/models: ids {ids}, root {', '.join(roots)}"]
    problems = [
        f"vLLM does not serve {expected!r}"
        for expected in served_model_names(served, model or served)
        if expected not in ids
    ]
    if info.get("weightsSource") == "workspace":
        from_hub = [root for root in roots if not root.startswith(f"{MODEL_MOUNT_PATH}/")]
        if from_hub:
            problems.append(
                f"root {', '.join(from_hub)} is not under {MODEL_MOUNT_PATH}/: vLLM did not load "
                "the staged weights"
            )
    return problems, evidence


@check("served-name", "each deployment serves the stack's model name, from the staged weights")
def served_name(ctx: Context) -> list[Outcome]:
    """docs/adr/0032: every deployment answers to `servedModelName`, whichever model it runs, so
    blue/green with two models keeps one name for apps; with staged weights vLLM reads them from
    the mount (docs/models.md)."""
    served = ctx.outputs.get("servedModelName")
    if not isinstance(served, str) or not served:
        return [skipped("the stack outputs have no servedModelName")]
    outcomes = []
    for name in sorted(ctx.endpoint.deployments):
        problems: list[str] = []
        evidence: list[str] = []
        try:
            problems, evidence = _served_problems(ctx, name, served)
            ctx.client(name).chat(
                [{"role": "user", "content": PROMPT}],
                ChatOptions(max_tokens=PROBE_MAX_TOKENS),
                model=served,
            )
        except EndpointError as error:
            problems = [*problems, f"deployment {name} did not answer as {served!r}"]
            evidence = [*evidence, *_lines(error)]
        if problems:
            outcome = failed(
                f"deployment {name} does not serve {served!r} as the stack declares",
                problems + evidence,
                [
                    "the deployment's SERVE_SERVED_MODEL_NAMES and SERVE_MODEL_DIR come from the "
                    "stack (servedModelName, weightsSource): `pulumi up` restores them; a root "
                    "that is the Hub id with weightsSource workspace: read `entrypoint:` in "
                    f"`az ml online-deployment get-logs -n {name} -e "
                    f"{ctx.outputs.get('endpointName', '<endpoint>')} -l 400`",
                ],
            )
        else:
            outcome = passed(f"deployment {name} answers as {served!r}", *evidence)
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [skipped("the stack outputs list no deployments")]
