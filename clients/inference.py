"""A small OpenAI chat completions client for vLLM behind an AzureML managed online endpoint.

It speaks the protocol with ``requests`` only (no ``openai`` package), so the tools stay light and
can look at what the SDK hides: AzureML's ``ms-azureml-model-error-*`` headers, the
``x-request-id`` support needs, and vLLM's reasoning field. Every failure becomes an
:class:`EndpointError` that says what the status means on AzureML and what to do about it.

Sources for the AzureML behaviour: MicrosoftDocs azure-ai-docs, machine-learning/
how-to-troubleshoot-online-endpoints.md ("HTTP status codes") and how-to-authenticate-online-
endpoint.md; the AzureML inference front end rewrites a container's non-200 answer to 424 with
``ms-azureml-model-error-statuscode`` and rejects overflow with 429 and
``ms-azureml-model-error-reason: too_many_pending_request``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from clients.outputs import Endpoint

# Entra ID scope of AzureML's data plane (tokens with audience https://ml.azure.com).
AAD_SCOPE = "https://ml.azure.com/.default"
DEPLOYMENT_HEADER = "azureml-model-deployment"
MODEL_ERROR_REASON_HEADER = "ms-azureml-model-error-reason"
MODEL_ERROR_STATUS_HEADER = "ms-azureml-model-error-statuscode"
# AzureML's maximum request timeout (request_settings.request_timeout_ms <= 180000).
AZUREML_MAX_TIMEOUT_SECONDS = 180
# Wait a little longer than AzureML can, so AzureML's 408 (which explains itself) arrives first.
DEFAULT_READ_TIMEOUT_SECONDS = AZUREML_MAX_TIMEOUT_SECONDS + 20
CONNECT_TIMEOUT_SECONDS = 10

# Both spellings of vLLM's reasoning-parser output: `reasoning` since vLLM 0.10, before that
# `reasoning_content`.
REASONING_FIELDS = ("reasoning", "reasoning_content")


class TokenCredential(Protocol):
    """What the client needs from azure-identity: ``get_token(scope).token``."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class EndpointError(Exception):
    """A failed call, explained for someone operating the endpoint on AzureML."""

    def __init__(
        self,
        summary: str,
        meaning: str = "",
        advice: list[str] | None = None,
        status: int | None = None,
        detail: str = "",
        request_id: str = "",
    ):
        self.summary = summary
        self.meaning = meaning
        self.advice = advice or []
        self.status = status
        self.detail = detail
        self.request_id = request_id
        super().__init__(summary)

    def __str__(self) -> str:
        lines = [self.summary]
        if self.meaning:
            lines.append(f"  What it means on AzureML: {self.meaning}")
        if self.advice:
            lines.append("  What to do:")
            lines += [f"    - {item}" for item in self.advice]
        if self.detail:
            lines.append(f"  Server said: {self.detail}")
        if self.request_id:
            lines.append(
                f"  Request id: {self.request_id} (x-request-id; quote it to Azure support)"
            )
        return "\n".join(lines)


@dataclass
class ChatResult:
    """One completion: reasoning and answer kept apart, with usage and timings."""

    reasoning: str = ""
    content: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    time_to_first_token: float | None = None
    total_seconds: float = 0.0
    request_id: str = ""

    @property
    def completion_tokens(self) -> int | None:
        value = (self.usage or {}).get("completion_tokens")
        return value if isinstance(value, int) else None

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens over the whole request (what a caller experiences)."""
        tokens = self.completion_tokens
        if tokens is None or self.total_seconds <= 0:
            return None
        return tokens / self.total_seconds

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Tokens after the first over the time after the first (the GPU's generation speed)."""
        tokens = self.completion_tokens
        if tokens is None or tokens < 2 or self.time_to_first_token is None:
            return None
        decode_seconds = self.total_seconds - self.time_to_first_token
        return (tokens - 1) / decode_seconds if decode_seconds > 0 else None


@dataclass
class ChatOptions:
    """Sampling options. DeepSeek's advice for the R1 distills: temperature 0.6, top_p 0.95, and
    every instruction in the user message rather than a system prompt."""

    max_tokens: int = 4096
    temperature: float = 0.6
    top_p: float = 0.95
    system: str | None = None
    stream: bool = True


@dataclass
class InferenceClient:
    """Calls one endpoint, optionally pinned to one deployment with ``azureml-model-deployment``."""

    endpoint: Endpoint
    deployment: str | None = None
    credential: TokenCredential | None = None
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS
    session: requests.Session = field(default_factory=requests.Session)

    # --- auth and headers ------------------------------------------------------------------

    @property
    def uses_aad(self) -> bool:
        return self.endpoint.auth_mode == "AADToken"

    def _bearer(self) -> str:
        if not self.uses_aad:
            if not self.endpoint.api_key:
                raise EndpointError("no endpoint key to send (authMode Key)")
            return self.endpoint.api_key
        credential = self.credential
        try:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = self.credential = DefaultAzureCredential()
            return credential.get_token(AAD_SCOPE).token
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise EndpointError(
                f"could not get an Entra ID token for {AAD_SCOPE}: {first_line}",
                "the endpoint's authMode is AADToken, so every request carries an Entra ID "
                "access token for https://ml.azure.com instead of a key",
                [
                    "sign in with `az login` (DefaultAzureCredential uses the Azure CLI login), "
                    "or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a "
                    "service principal, or run where a managed identity is available",
                    "in Key mode, drop --aad",
                ],
            ) from None

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._bearer()}",
            # AzureML keeps x-ms-client-request-id for client tracing (alphanumerics and '-').
            "x-ms-client-request-id": uuid.uuid4().hex,
        }
        if self.deployment:
            headers[DEPLOYMENT_HEADER] = self.deployment
        return headers

    # --- calls -----------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: Any = None, stream: bool = False
    ) -> requests.Response:
        url = f"{self.endpoint.base_url}{path}"
        headers = self.headers()
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                headers=headers,
                stream=stream,
                timeout=(CONNECT_TIMEOUT_SECONDS, self.read_timeout),
            )
        except requests.RequestException as error:
            raise connection_error(error, url, self.read_timeout) from None
        if response.status_code != 200:
            try:
                text = response.text
            except requests.RequestException:
                text = ""
            raise explain_status(
                response.status_code,
                response.headers,
                text,
                url=url,
                endpoint=self.endpoint,
                deployment=self.deployment,
                model=(body or {}).get("model") if isinstance(body, dict) else None,
            )
        return response

    def list_models(self) -> list[str]:
        """The model ids vLLM serves (GET /v1/models)."""
        response = self._send("GET", "/models")
        try:
            data = response.json().get("data") or []
            return [item["id"] for item in data if isinstance(item, dict) and "id" in item]
        except (ValueError, AttributeError) as error:
            raise EndpointError(
                "GET /v1/models answered 200 but not with a model list",
                detail=f"{error}: {response.text[:300]}",
            ) from None

    def chat(
        self,
        messages: list[dict[str, str]],
        options: ChatOptions,
        model: str | None = None,
        on_reasoning: Callable[[str], None] | None = None,
        on_content: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """POST /v1/chat/completions; streamed deltas go to the callbacks as they arrive."""
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream": options.stream,
        }
        if model:
            body["model"] = model
        if options.stream:
            body["stream_options"] = {"include_usage": True}
        started = time.monotonic()
        response = self._send("POST", "/chat/completions", body, stream=options.stream)
        result = ChatResult(request_id=response.headers.get("x-request-id", ""))
        try:
            if options.stream:
                self._read_stream(response, result, started, on_reasoning, on_content)
            else:
                self._read_whole(response, result, on_reasoning, on_content)
        finally:
            response.close()
        result.total_seconds = time.monotonic() - started
        return result

    def _read_whole(
        self,
        response: requests.Response,
        result: ChatResult,
        on_reasoning: Callable[[str], None] | None,
        on_content: Callable[[str], None] | None,
    ) -> None:
        try:
            payload = response.json()
            choice = payload["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError(
                "POST /v1/chat/completions answered 200 without a completion",
                detail=response.text[:300],
                request_id=result.request_id,
            ) from None
        message = choice.get("message") or {}
        result.reasoning = _reasoning_of(message)
        result.content = message.get("content") or ""
        result.finish_reason = choice.get("finish_reason")
        result.usage = payload.get("usage")
        result.model = payload.get("model")
        if result.reasoning and on_reasoning:
            on_reasoning(result.reasoning)
        if result.content and on_content:
            on_content(result.content)

    def _read_stream(
        self,
        response: requests.Response,
        result: ChatResult,
        started: float,
        on_reasoning: Callable[[str], None] | None,
        on_content: Callable[[str], None] | None,
    ) -> None:
        reasoning: list[str] = []
        content: list[str] = []
        done = False
        cut = ""
        try:
            for event in server_sent_events(response):
                if event is None:
                    done = True
                    break
                if "error" in event:
                    raise _stream_error(event, result.request_id)
                result.model = event.get("model") or result.model
                if event.get("usage"):
                    result.usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    thought = _reasoning_of(delta)
                    text = delta.get("content") or ""
                    if (thought or text) and result.time_to_first_token is None:
                        result.time_to_first_token = time.monotonic() - started
                    if thought:
                        reasoning.append(thought)
                        if on_reasoning:
                            on_reasoning(thought)
                    if text:
                        content.append(text)
                        if on_content:
                            on_content(text)
                    if choice.get("finish_reason"):
                        result.finish_reason = choice["finish_reason"]
        except requests.RequestException as error:
            cut = str(error)
        result.reasoning = "".join(reasoning)
        result.content = "".join(content)
        if cut or not done:
            raise _cut_stream(self.endpoint, self.deployment, cut or "no [DONE]", result)


def server_sent_events(response: requests.Response) -> Iterator[dict[str, Any] | None]:
    """The JSON objects of an SSE stream (``data: {...}`` lines); ``None`` for ``data: [DONE]``."""
    # chunk_size=None hands over each HTTP chunk as it arrives instead of waiting to fill a buffer,
    # so deltas print as they are generated and time to first token is measured, not buffered.
    pending = b""
    for chunk in response.iter_content(chunk_size=None):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line.startswith(b"data:"):
                continue  # blank separators, ": keep-alive" comments, "event:" fields
            payload = line[5:].strip()
            if payload == b"[DONE]":
                yield None
                return
            try:
                event = json.loads(payload)
            except ValueError:
                raise EndpointError(
                    "the stream carried something that is not JSON",
                    detail=payload[:300].decode("utf-8", "replace"),
                ) from None
            if isinstance(event, dict):
                yield event


def _reasoning_of(message: Mapping[str, Any]) -> str:
    for name in REASONING_FIELDS:
        value = message.get(name)
        if value:
            return value
    return ""


def _stream_error(event: Mapping[str, Any], request_id: str) -> EndpointError:
    message = error_message(event)
    return EndpointError(
        f"vLLM reported an error in the middle of the stream: {message}",
        "the request was accepted (200) and vLLM failed while generating",
        ["check the deployment's logs: `az ml online-deployment get-logs ... --lines 200`"],
        detail=message,
        request_id=request_id,
    )


def _cut_stream(
    endpoint: Endpoint, deployment: str | None, why: str, result: ChatResult
) -> EndpointError:
    timeout = _request_timeout(endpoint, deployment)
    return EndpointError(
        f"the stream ended early, after {len(result.reasoning)} characters of reasoning and "
        f"{len(result.content)} of answer ({why})",
        "AzureML had already sent 200, so a request that runs past the deployment's request "
        f"timeout ({timeout}) is cut off instead of answered with 408; an instance being "
        "replaced or scaled in also drops its streams",
        [
            "lower --max-tokens (R1 models reason for thousands of tokens), or raise the "
            f"deployment's requestTimeoutSeconds (AzureML allows at most "
            f"{AZUREML_MAX_TIMEOUT_SECONDS} s) and `pulumi up`",
            "retry; if streams keep breaking early, check the deployment's logs",
        ],
        request_id=result.request_id,
    )


def _request_timeout(endpoint: Endpoint, deployment: str | None) -> str:
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


def explain_status(
    status: int,
    headers: Mapping[str, str],
    text: str,
    url: str,
    endpoint: Endpoint,
    deployment: str | None,
    model: str | None = None,
) -> EndpointError:
    """What an HTTP status from an AzureML online endpoint means, and what to do about it."""
    detail = _body_detail(text)
    request_id = headers.get("x-request-id", "")
    reason = headers.get(MODEL_ERROR_REASON_HEADER, "")
    model_status = headers.get(MODEL_ERROR_STATUS_HEADER, "")
    target = f"deployment '{deployment}'" if deployment else "the endpoint"
    summary = f"HTTP {status} from {url}"

    def error(meaning: str, advice: list[str], extra: str = "") -> EndpointError:
        return EndpointError(
            f"{summary}{extra}", meaning, advice, status, detail, request_id=request_id
        )

    if status in (401, 403):
        if endpoint.auth_mode == "AADToken":
            return error(
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
        return error(
            "AzureML refused the key: it is not one of the endpoint's two current keys, or the "
            "endpoint does not take keys",
            [
                "keys change when someone runs `az ml online-endpoint regenerate-keys` or the "
                "endpoint is re-created: `pulumi up` re-reads primaryKey, or get the current key "
                f"with `az ml online-endpoint get-credentials -n {endpoint.endpoint_name or '<endpoint>'}`",
                "if the endpoint's authMode is AADToken, it takes no keys: use --aad",
            ],
        )
    if status == 404:
        if deployment:
            known = ", ".join(sorted(endpoint.deployments)) or "unknown"
            return error(
                f"no deployment named '{deployment}' on this endpoint (or a wrong path)",
                [
                    f"deployments this stack declares: {known}; the name in --deployment must "
                    "match one that exists (is it created yet?)",
                    f"the base URL must be the endpoint's /v1 URL; this request went to {url}",
                ],
            )
        return error(
            "no deployment takes traffic (AzureML routes a request without the "
            "azureml-model-deployment header only to deployments with a positive traffic "
            "weight), or the path is wrong",
            [
                "give a deployment traffic in the stack's deployments (weights sum to 100) and "
                "`pulumi up`, or address one directly with --deployment NAME",
                f"the base URL must be the endpoint's /v1 URL; this request went to {url}",
            ],
        )
    if status == 408:
        return error(
            f"{target} did not finish within its request timeout "
            f"({_request_timeout(endpoint, deployment)}); AzureML cut the request",
            [
                "R1 models reason for thousands of tokens before answering: lower --max-tokens",
                "raise the deployment's requestTimeoutSeconds (AzureML allows at most "
                f"{AZUREML_MAX_TIMEOUT_SECONDS} s) and `pulumi up`",
                "if it happens under load, requests are queueing: scale out",
            ],
        )
    if status == 424:
        logs = f"read the container's logs: `{_logs_command(endpoint, deployment)}`"
        if reason == "model_not_ready" or not model_status:
            return error(
                "the vLLM container behind "
                f"{target} is not ready: still starting (image pull, ~16 GB weight download, "
                "load take 10-20 minutes on a new instance) or unhealthy",
                [
                    logs,
                    "check the deployment's state: `az ml online-deployment show ...` "
                    "(provisioningState, and whether instances restart)",
                    "if it never becomes ready, the readiness probe budget may be shorter than "
                    "the cold start, or vLLM fails to load the model (out of memory, gated model "
                    "without huggingFaceToken, no outbound access to huggingface.co)",
                ],
                extra=f" ({reason})" if reason else "",
            )
        advice = [logs]
        if model_status == "400":
            advice.insert(
                0,
                "vLLM rejected the request: prompt plus --max-tokens must fit the model's "
                "context (maxModelLen); see 'Server said'",
            )
        elif model_status == "404":
            advice.insert(
                0,
                f"vLLM does not serve the model '{model}' (or the path): list what it serves "
                "with GET /v1/models (`python -m clients.smoke`) and pass --model",
            )
        return error(
            f"AzureML passed the request to vLLM, which answered {model_status}; AzureML reports "
            "any non-200 answer of the container as 424",
            advice,
            extra=f" (vLLM answered {model_status})",
        )
    if status == 429:
        limit = _in_flight_limit(endpoint, deployment)
        if reason == "too_many_pending_request":
            return error(
                "too many requests in flight: AzureML admits at most 2 x "
                f"maxConcurrentRequestsPerInstance x instances at once{limit} and rejects the rest",
                [
                    "retry with exponential backoff",
                    "scale out (instanceCount, or autoscale maxInstances), or raise "
                    "maxConcurrentRequestsPerInstance to vLLM's --max-num-seqs",
                ],
            )
        return error(
            "rate limited: either too many requests in flight (AzureML admits at most 2 x "
            f"maxConcurrentRequestsPerInstance x instances{limit}), or the endpoint's "
            "request-rate limit (a per-endpoint quota, 500 requests/s by default) was reached",
            [
                "retry with exponential backoff",
                "scale out, or raise maxConcurrentRequestsPerInstance to vLLM's --max-num-seqs; "
                "for the rate limit, ask for a quota increase",
            ],
        )
    if status >= 500:
        return error(
            "AzureML's own infrastructure failed to handle the request",
            [
                "retry; if it persists check `az ml online-endpoint show` and the deployment's "
                "provisioning state, and open a support request with the request id",
            ],
        )
    return error(
        "unexpected status for an OpenAI-compatible call",
        ["check the request and the base URL"],
    )


def connection_error(
    error: requests.RequestException, url: str, read_timeout: float
) -> EndpointError:
    """A request that never got an HTTP answer."""
    text = str(error)
    if isinstance(error, requests.exceptions.SSLError):
        return EndpointError(
            f"TLS handshake with {url} failed",
            "the endpoint's certificate could not be verified",
            ["check proxies that intercept TLS (REQUESTS_CA_BUNDLE)"],
            detail=text[:300],
        )
    if isinstance(error, requests.exceptions.ReadTimeout):
        return EndpointError(
            f"no answer from {url} within {read_timeout:.0f} s",
            f"AzureML answers 408 after the request timeout (at most {AZUREML_MAX_TIMEOUT_SECONDS} "
            "s), so a silent connection usually means a network device in between dropped it",
            ["retry; lower --max-tokens; check proxies and firewalls on the way"],
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        advice = [
            "check the URL: the endpoint's host is <endpoint>.<region>.inference.ml.azure.com",
            "an endpoint with publicNetworkAccess Disabled is reachable only through its private "
            "endpoint, from inside the network",
            "an endpoint that was deleted (or not created yet) has no DNS name",
        ]
        return EndpointError(f"could not connect to {url}", "", advice, detail=text[:300])
    return EndpointError(f"request to {url} failed", detail=text[:300])
