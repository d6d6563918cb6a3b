"""What an AzureML online endpoint's answer means, and what to do about it.

Sources for the AzureML behaviour: MicrosoftDocs azure-ai-docs, machine-learning/
how-to-troubleshoot-online-endpoints.md ("HTTP status codes") and how-to-authenticate-online-
endpoint.md; the AzureML inference front end rewrites a container's non-200 answer to 424 with
``ms-azureml-model-error-statuscode`` and rejects overflow with 429 and
``ms-azureml-model-error-reason: too_many_pending_request``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from clients.errors import EndpointError
from clients.outputs import Endpoint
from lib.catalog import MAX_REQUEST_TIMEOUT_SECONDS

# AzureML's maximum request timeout.
AZUREML_MAX_TIMEOUT_SECONDS = MAX_REQUEST_TIMEOUT_SECONDS
MODEL_ERROR_REASON_HEADER = "ms-azureml-model-error-reason"
MODEL_ERROR_STATUS_HEADER = "ms-azureml-model-error-statuscode"


def request_timeout(endpoint: Endpoint, deployment: str | None) -> str:
    pinned = endpoint.deployments.get(deployment) if deployment else None
    infos = [pinned] if pinned else endpoint.live_deployments()
    seconds = sorted({d.request_timeout_seconds for d in infos if d.request_timeout_seconds})
    if seconds:
        return "requestTimeoutSeconds " + "/".join(f"{s} s" for s in seconds)
    return f"requestTimeoutSeconds, at most {AZUREML_MAX_TIMEOUT_SECONDS} s"


def error_message(payload: Any) -> str:
    """The human part of an error body: vLLM's ``{"error": {"message"}}`` (0.10+), its older flat
    ``{"object": "error", "message"}``, FastAPI's ``{"detail"}``, or AzureML's ``{"message"}``."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if payload.get(key):
                return str(payload[key])
    return json.dumps(payload)[:300]


def _body_detail(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    try:
        return error_message(json.loads(text))[:500]
    except ValueError:
        return text[:500]


def _logs_command(endpoint: Endpoint, deployment: str | None) -> str:
    names = [deployment] if deployment else [d.name for d in endpoint.live_deployments()]
    name = names[0] if len(names) == 1 else "<deployment>"
    return (
        f"az ml online-deployment get-logs -e {endpoint.endpoint_name or '<endpoint>'} "
        f"-n {name} -g {endpoint.resource_group_name or '<resource group>'} "
        f"-w {endpoint.workspace_name or '<workspace>'} --lines 200"
    )


def _in_flight_limit(endpoint: Endpoint, deployment: str | None) -> str:
    pinned = endpoint.deployments.get(deployment) if deployment else None
    infos = [pinned] if pinned else endpoint.live_deployments()
    parts = [
        f"{d.name}: 2 x {d.max_concurrent_requests_per_instance} x {d.instance_count} = "
        f"{2 * d.max_concurrent_requests_per_instance * d.instance_count}"
        for d in infos
        if d.max_concurrent_requests_per_instance and d.instance_count
    ]
    return (
        f" (configured: {'; '.join(parts)}; autoscale may have changed the instance count)"
        if parts
        else ""
    )


@dataclass(frozen=True)
class _Answer:
    """One failed answer, as far as explaining it goes."""

    status: int
    url: str
    endpoint: Endpoint
    deployment: str | None
    model: str | None
    # AzureML's ms-azureml-model-error-reason and -statuscode headers (empty when absent).
    reason: str
    model_status: str

    @property
    def target(self) -> str:
        return f"deployment '{self.deployment}'" if self.deployment else "the endpoint"


@dataclass(frozen=True)
class _Explanation:
    meaning: str
    advice: list[str]
    # Appended to the summary line ("HTTP 424 from ... (vLLM answered 400)").
    extra: str = ""


def _entra_token_refused(_: _Answer) -> _Explanation:
    return _Explanation(
        "AzureML refused the Entra ID token: the caller is not allowed to score, or the "
        "endpoint does not take Entra ID tokens",
        [
            "the identity behind the token needs the data-plane action "
            "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action, "
            "for example the built-in 'AzureML Data Scientist' role on the workspace: "
            "`az role assignment create --assignee <object id> --role "
            '"AzureML Data Scientist" --scope <workspace id>`; new role assignments '
            "can take several minutes to apply",
            "check who you are: `az account show` (DefaultAzureCredential uses that "
            "login first among the developer credentials)",
            "if the endpoint's authMode is Key, it takes only keys: drop --aad",
        ],
    )


def _key_refused(answer: _Answer) -> _Explanation:
    return _Explanation(
        "AzureML refused the key: it is not one of the endpoint's two current keys, or the "
        "endpoint does not take keys",
        [
            "keys change when someone runs `az ml online-endpoint regenerate-keys` or the "
            "endpoint is re-created: `pulumi up` re-reads primaryKey, or get the current key "
            "with `az ml online-endpoint get-credentials -n "
            f"{answer.endpoint.endpoint_name or '<endpoint>'}`",
            "if the endpoint's authMode is AADToken, it takes no keys: use --aad",
        ],
    )


def _no_such_deployment(answer: _Answer) -> _Explanation:
    known = ", ".join(sorted(answer.endpoint.deployments)) or "unknown"
    return _Explanation(
        f"no deployment named '{answer.deployment}' on this endpoint (or a wrong path)",
        [
            f"deployments this stack declares: {known}; the name in --deployment must "
            "match one that exists (is it created yet?)",
            f"the base URL must be the endpoint's /v1 URL; this request went to {answer.url}",
        ],
    )


def _no_deployment_takes_traffic(answer: _Answer) -> _Explanation:
    return _Explanation(
        "no deployment takes traffic (AzureML routes a request without the "
        "azureml-model-deployment header only to deployments with a positive traffic "
        "weight), or the path is wrong",
        [
            "give a deployment traffic in the stack's deployments (weights sum to 100) and "
            "`pulumi up`, or address one directly with --deployment NAME",
            f"the base URL must be the endpoint's /v1 URL; this request went to {answer.url}",
        ],
    )


def _timed_out(answer: _Answer) -> _Explanation:
    return _Explanation(
        f"{answer.target} did not finish within its request timeout "
        f"({request_timeout(answer.endpoint, answer.deployment)}); AzureML cut the request",
        [
            "R1 models reason for thousands of tokens before answering: lower --max-tokens",
            "raise the deployment's requestTimeoutSeconds (AzureML allows at most "
            f"{AZUREML_MAX_TIMEOUT_SECONDS} s) and `pulumi up`",
            "if it happens under load, requests are queueing: scale out",
        ],
    )


def _read_the_logs(answer: _Answer) -> str:
    return f"read the container's logs: `{_logs_command(answer.endpoint, answer.deployment)}`"


def _container_not_ready(answer: _Answer) -> _Explanation:
    return _Explanation(
        f"the vLLM container behind {answer.target} is not ready: still starting (image pull, "
        "~16 GB weight download, load take 10-20 minutes on a new instance) or unhealthy",
        [
            _read_the_logs(answer),
            "check the deployment's state: `az ml online-deployment show ...` "
            "(provisioningState, and whether instances restart)",
            "if it never becomes ready, the readiness probe budget may be shorter than "
            "the cold start, or vLLM fails to load the model (out of memory, gated model "
            "without huggingFaceToken, no outbound access to huggingface.co)",
        ],
        extra=f" ({answer.reason})" if answer.reason else "",
    )


# What vLLM's own answer usually means, by its status (ms-azureml-model-error-statuscode).
_VLLM_ANSWERS = {
    "400": "vLLM rejected the request: prompt plus --max-tokens must fit the model's context "
    "(maxModelLen); see 'Server said'",
    "404": "vLLM does not serve the model '{model}' (or the path): list what it serves with "
    "GET /v1/models (`python -m clients.smoke`) and pass --model",
}


def _container_answered(answer: _Answer) -> _Explanation:
    hint = _VLLM_ANSWERS.get(answer.model_status)
    return _Explanation(
        f"AzureML passed the request to vLLM, which answered {answer.model_status}; AzureML "
        "reports any non-200 answer of the container as 424",
        ([hint.format(model=answer.model)] if hint else []) + [_read_the_logs(answer)],
        extra=f" (vLLM answered {answer.model_status})",
    )


def _too_many_in_flight(answer: _Answer) -> _Explanation:
    limit = _in_flight_limit(answer.endpoint, answer.deployment)
    return _Explanation(
        "too many requests in flight: AzureML admits at most 2 x "
        f"maxConcurrentRequestsPerInstance x instances at once{limit} and rejects the rest",
        [
            "retry with exponential backoff",
            "scale out (instanceCount, or autoscale maxInstances), or raise "
            "maxConcurrentRequestsPerInstance to vLLM's --max-num-seqs",
        ],
    )


def _rate_limited(answer: _Answer) -> _Explanation:
    limit = _in_flight_limit(answer.endpoint, answer.deployment)
    return _Explanation(
        "rate limited: either too many requests in flight (AzureML admits at most 2 x "
        f"maxConcurrentRequestsPerInstance x instances{limit}), or the endpoint's "
        "request-rate limit (a per-endpoint quota, 500 requests/s by default) was reached",
        [
            "retry with exponential backoff",
            "scale out, or raise maxConcurrentRequestsPerInstance to vLLM's --max-num-seqs; "
            "for the rate limit, ask for a quota increase",
        ],
    )


def _azureml_failed(_: _Answer) -> _Explanation:
    return _Explanation(
        "AzureML's own infrastructure failed to handle the request",
        [
            "retry; if it persists check `az ml online-endpoint show` and the deployment's "
            "provisioning state, and open a support request with the request id",
        ],
    )


def _unexpected(_: _Answer) -> _Explanation:
    return _Explanation(
        "unexpected status for an OpenAI-compatible call", ["check the request and the base URL"]
    )


# Which explanation fits which answer: the first row whose test holds (the last always does).
# 424 is AzureML's wrapper for a container's non-200 answer; without the container's status, or
# with reason model_not_ready, the container never answered.
_EXPLANATIONS: tuple[tuple[Callable[[_Answer], bool], Callable[[_Answer], _Explanation]], ...] = (
    (lambda a: a.status in (401, 403) and a.endpoint.auth_mode == "AADToken", _entra_token_refused),
    (lambda a: a.status in (401, 403), _key_refused),
    (lambda a: a.status == 404 and bool(a.deployment), _no_such_deployment),
    (lambda a: a.status == 404, _no_deployment_takes_traffic),
    (lambda a: a.status == 408, _timed_out),
    (
        lambda a: a.status == 424 and (a.reason == "model_not_ready" or not a.model_status),
        _container_not_ready,
    ),
    (lambda a: a.status == 424, _container_answered),
    (lambda a: a.status == 429 and a.reason == "too_many_pending_request", _too_many_in_flight),
    (lambda a: a.status == 429, _rate_limited),
    (lambda a: a.status >= 500, _azureml_failed),
    (lambda _: True, _unexpected),
)


def explain_status(
    status: int,
    headers: Mapping[str, str] | Message,
    text: str,
    url: str,
    endpoint: Endpoint,
    deployment: str | None,
    model: str | None = None,
) -> EndpointError:
    """What an HTTP status from an AzureML online endpoint means, and what to do about it."""
    answer = _Answer(
        status=status,
        url=url,
        endpoint=endpoint,
        deployment=deployment,
        model=model,
        reason=headers.get(MODEL_ERROR_REASON_HEADER, ""),
        model_status=headers.get(MODEL_ERROR_STATUS_HEADER, ""),
    )
    explanation = next(explain(answer) for applies, explain in _EXPLANATIONS if applies(answer))
    return EndpointError(
        f"HTTP {status} from {url}{explanation.extra}",
        explanation.meaning,
        explanation.advice,
        status,
        _body_detail(text),
        request_id=headers.get("x-request-id", ""),
    )
