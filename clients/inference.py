"""A small OpenAI chat completions client for vLLM behind an AzureML managed online endpoint.

It speaks the protocol itself, over :mod:`lib.bounded_http` (no ``openai`` package), so the tools
stay light and can look at what the SDK hides: AzureML's ``ms-azureml-model-error-*`` headers, the
``x-request-id`` support needs, and vLLM's reasoning field. Every failure becomes an
:class:`EndpointError` that says what the status means on AzureML and what to do about it
(:mod:`clients.explain`).

What a hostile or broken server cannot do to it (docs/security.md, "Client tools and ARM client"):
keep a call alive past its deadline, grow memory past the size limits below, get the key over plain
http to another machine, get the prompt re-sent elsewhere by a redirect (none is followed), or
crash it with JSON of the wrong shape ("unexpected response", with the request id).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from clients.errors import EndpointError
from clients.explain import (
    AZUREML_MAX_TIMEOUT_SECONDS,
    MODEL_ERROR_REASON_HEADER,
    MODEL_ERROR_STATUS_HEADER,
    error_message,
    explain_status,
    request_timeout,
)
from clients.outputs import Endpoint
from lib import bounded_http
from lib.bounded_http import Deadline, HttpError
from lib.redact import Redactor

__all__ = [
    "AAD_SCOPE",
    "MODEL_ERROR_REASON_HEADER",
    "MODEL_ERROR_STATUS_HEADER",
    "ChatOptions",
    "ChatResult",
    "EndpointError",
    "InferenceClient",
    "TokenCredential",
]

# Entra ID scope of AzureML's data plane (tokens with audience https://ml.azure.com).
AAD_SCOPE = "https://ml.azure.com/.default"
DEPLOYMENT_HEADER = "azureml-model-deployment"
# Wait a little longer than AzureML can, so AzureML's 408 (which explains itself) arrives first.
TIMEOUT_MARGIN_SECONDS = 20
DEFAULT_TIMEOUT_SECONDS = AZUREML_MAX_TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS

# Size limits. A 32k-token answer is ~150 KB of text and ~10 MB as SSE chunks of one token each;
# the limits leave room for that and stop a server that never stops.
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_EVENT_BYTES = 1024 * 1024

# Both spellings of vLLM's reasoning-parser output: `reasoning` since vLLM 0.10, before that
# `reasoning_content`.
REASONING_FIELDS = ("reasoning", "reasoning_content")

# What an HTTP header value may hold (RFC 9110 field-value, without obs-text): no CR/LF, which
# would let a key split the request, and nothing outside visible ASCII, which http.client cannot
# encode.
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")


class TokenCredential(Protocol):
    """What the client needs from azure-identity: ``get_token(scope).token``."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


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
        return value if isinstance(value, int) and not isinstance(value, bool) else None

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


def default_timeout(endpoint: Endpoint, deployment: str | None) -> float:
    """The deadline of one call: the targeted deployments' request timeout plus a margin (AzureML's
    180 s maximum when the stack does not export it)."""
    pinned = endpoint.deployments.get(deployment) if deployment else None
    infos = [pinned] if pinned else endpoint.live_deployments()
    seconds = [d.request_timeout_seconds for d in infos if d.request_timeout_seconds]
    return float(
        (max(seconds) if seconds else AZUREML_MAX_TIMEOUT_SECONDS) + TIMEOUT_MARGIN_SECONDS
    )


def header_safe(value: str, what: str) -> str:
    """``value`` trimmed, if it can go in an HTTP header; else an error that does not echo it."""
    value = value.strip()
    if _HEADER_VALUE.fullmatch(value):
        return value
    bad = next((i for i, c in enumerate(value) if not _HEADER_VALUE.fullmatch(c)), 0)
    kind = "a line break" if value[bad] in "\r\n" else "a space or a character outside ASCII"
    raise EndpointError(
        f"{what} has {kind} at position {bad + 1}, which cannot go in an HTTP header",
        advice=[
            "copy the key again: `az ml online-endpoint get-credentials -n <endpoint> -g "
            "<resource group> -w <workspace>` prints it (keys are plain ASCII)"
        ],
    )


def plain_http_refused(base_url: str) -> EndpointError | None:
    """Why a credential may not go to ``base_url``: plain http to a host other than loopback."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" or bounded_http.is_loopback(parts.hostname or ""):
        return None
    return EndpointError(
        f"refusing to send the endpoint's credential over plain http to {parts.hostname}",
        "anyone on the path could read the key or token; AzureML endpoints are served over https",
        ["use the https:// base URL (https://<endpoint>.<region>.inference.ml.azure.com/v1)"],
    )


class InferenceClient:
    """Calls one endpoint, optionally pinned to one deployment with ``azureml-model-deployment``.

    ``timeout`` is the deadline of each call, from connect to the last byte (default:
    :func:`default_timeout`). Secrets the client handles (the key, Entra ID tokens) are added to
    ``redactor`` so that no message shows them."""

    def __init__(
        self,
        endpoint: Endpoint,
        deployment: str | None = None,
        credential: TokenCredential | None = None,
        timeout: float | None = None,
        redactor: Redactor | None = None,
    ):
        self.endpoint = endpoint
        self.deployment = deployment
        self.credential = credential
        self.timeout = timeout if timeout is not None else default_timeout(endpoint, deployment)
        self.redactor = redactor if redactor is not None else Redactor()
        self.redactor.add(endpoint.api_key)

    # --- auth and headers ------------------------------------------------------------------

    @property
    def uses_aad(self) -> bool:
        return self.endpoint.auth_mode == "AADToken"

    def _bearer(self) -> str:
        if not self.uses_aad:
            if not self.endpoint.api_key:
                raise EndpointError("no endpoint key to send (authMode Key)")
            return header_safe(self.endpoint.api_key, "the endpoint key")
        try:
            if self.credential is None:
                from azure.identity import DefaultAzureCredential

                self.credential = DefaultAzureCredential()
            token = str(self.credential.get_token(AAD_SCOPE).token)
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise EndpointError(
                f"could not get an Entra ID token for {AAD_SCOPE}: {first_line[:300]}",
                "the endpoint's authMode is AADToken, so every request carries an Entra ID "
                "access token for https://ml.azure.com instead of a key",
                [
                    "sign in with `az login` (DefaultAzureCredential uses the Azure CLI login), "
                    "or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a "
                    "service principal, or run where a managed identity is available",
                    "in Key mode, drop --aad",
                ],
            ) from None
        self.redactor.add(token)
        return header_safe(token, "the Entra ID token")

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._bearer()}",
            # AzureML keeps x-ms-client-request-id for client tracing (alphanumerics and '-').
            "x-ms-client-request-id": uuid.uuid4().hex,
            "Accept": "application/json, text/event-stream",
        }
        if self.deployment:
            headers[DEPLOYMENT_HEADER] = header_safe(self.deployment, "--deployment")
        return headers

    # --- calls -----------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any = None) -> bounded_http.Response:
        url = f"{self.endpoint.base_url}{path}"
        refused = plain_http_refused(url)
        if refused is not None:
            raise refused
        headers = self.headers()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = bounded_http.request(method, url, headers, data, Deadline(self.timeout))
        except HttpError as failure:
            raise connection_error(failure, url, self.timeout) from None
        if response.status == 200:
            return response
        with response:
            if 300 <= response.status < 400:
                raise _redirect_refused(response, url)
            try:
                text = _bounded_text(response, MAX_ERROR_BODY_BYTES)
            except HttpError:
                text = ""
        raise explain_status(
            response.status,
            response.headers,
            text,
            url=url,
            endpoint=self.endpoint,
            deployment=self.deployment,
            model=body.get("model") if isinstance(body, dict) else None,
        )

    def _json(self, response: bounded_http.Response, what: str) -> Any:
        request_id = response.header("x-request-id")
        with response:
            try:
                raw = response.read(MAX_JSON_BODY_BYTES)
            except HttpError as failure:
                raise connection_error(failure, response.url, self.timeout) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise unexpected(what, "the body is not JSON", request_id, raw[:200]) from None

    def list_models(self) -> list[str]:
        """The model ids vLLM serves (GET /v1/models)."""
        return [str(entry["id"]) for entry in self.list_model_entries()]

    def list_model_entries(self) -> list[dict[str, Any]]:
        """GET /v1/models's ``data``: one entry per served name, each with a string ``id`` (and,
        from vLLM, ``root``: the path or Hub id the weights were loaded from)."""
        response = self._send("GET", "/models")
        request_id = response.header("x-request-id")
        payload = self._json(response, "GET /v1/models")
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise unexpected("GET /v1/models", "no `data` list of models", request_id)
        entries = [item for item in data if isinstance(item, dict)]
        if len(entries) != len(data) or any(not isinstance(e.get("id"), str) for e in entries):
            raise unexpected("GET /v1/models", "a model without a string `id`", request_id)
        return entries

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
        response = self._send("POST", "/chat/completions", body)
        result = ChatResult(request_id=response.header("x-request-id"))
        if options.stream:
            with response:
                self._read_stream(response, result, started, on_reasoning, on_content)
        else:
            payload = self._json(response, "POST /v1/chat/completions")
            _apply_completion(payload, result, on_reasoning, on_content)
        result.total_seconds = time.monotonic() - started
        return result

    def _read_stream(
        self,
        response: bounded_http.Response,
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
            for event in server_sent_events(response.chunks(MAX_STREAM_BYTES), result.request_id):
                if event is None:
                    done = True
                    break
                if "error" in event:
                    raise _stream_error(event, result.request_id)
                for kind, text in _apply_chunk(event, result):
                    if result.time_to_first_token is None:
                        result.time_to_first_token = time.monotonic() - started
                    (reasoning if kind == "reasoning" else content).append(text)
                    callback = on_reasoning if kind == "reasoning" else on_content
                    if callback:
                        callback(text)
        except HttpError as failure:
            if failure.kind != "protocol":
                result.reasoning, result.content = "".join(reasoning), "".join(content)
                raise connection_error(failure, response.url, self.timeout) from None
            cut = str(failure)
        result.reasoning = "".join(reasoning)
        result.content = "".join(content)
        if cut or not done:
            raise _cut_stream(self.endpoint, self.deployment, cut or "no [DONE]", result)


# --- response shapes ----------------------------------------------------------------------------


def unexpected(what: str, why: str, request_id: str, sample: bytes | str = b"") -> EndpointError:
    """A 200 whose body is not what an OpenAI-compatible server sends."""
    shown = sample.decode("utf-8", "replace") if isinstance(sample, bytes) else sample
    return EndpointError(
        f"unexpected response to {what}: {why}",
        "the server answered 200 but not as vLLM's OpenAI-compatible API does; a proxy or "
        "another service may be answering on this URL",
        ["check the base URL, and quote the request id to whoever runs the server"],
        detail=shown[:200],
        request_id=request_id or "(none sent)",
    )


def _typed(container: Mapping[str, Any], name: str, kinds: tuple[type, ...], where: str) -> Any:
    value = container.get(name)
    if value is None or (isinstance(value, kinds) and not isinstance(value, bool)):
        return value
    raise ValueError(f"`{where}{name}` is {type(value).__name__}, expected {kinds[0].__name__}")


def _text_fields(message: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """(kind, text) pieces of a message or delta: its reasoning, then its content."""
    pieces: list[tuple[str, str]] = []
    for name in REASONING_FIELDS:
        value = _typed(message, name, (str,), where)
        if value:
            pieces.append(("reasoning", value))
            break
    value = _typed(message, "content", (str,), where)
    if value:
        pieces.append(("content", value))
    return pieces


def _envelope(payload: Any, result: ChatResult) -> list[Any]:
    """Check the fields every chunk and completion share, and return its choices."""
    if not isinstance(payload, dict):
        raise ValueError(f"the body is a JSON {type(payload).__name__}, expected an object")
    _typed(payload, "id", (str,), "")
    result.model = _typed(payload, "model", (str,), "") or result.model
    usage = _typed(payload, "usage", (dict,), "")
    if usage:
        result.usage = usage
    choices = _typed(payload, "choices", (list,), "") or []
    for choice in choices:
        if not isinstance(choice, dict):
            raise ValueError(f"a choice is {type(choice).__name__}, expected an object")
        finish = _typed(choice, "finish_reason", (str,), "choices[].")
        if finish:
            result.finish_reason = finish
    return choices


def _apply_chunk(event: Mapping[str, Any], result: ChatResult) -> list[tuple[str, str]]:
    try:
        pieces: list[tuple[str, str]] = []
        for choice in _envelope(event, result):
            delta = _typed(choice, "delta", (dict,), "choices[].") or {}
            pieces += _text_fields(delta, "choices[].delta.")
        return pieces
    except ValueError as why:
        raise unexpected(
            "POST /v1/chat/completions", f"a stream chunk: {why}", result.request_id
        ) from None


def _apply_completion(
    payload: Any,
    result: ChatResult,
    on_reasoning: Callable[[str], None] | None,
    on_content: Callable[[str], None] | None,
) -> None:
    try:
        choices = _envelope(payload, result)
        if not choices:
            raise ValueError("no `choices`")
        message = _typed(choices[0], "message", (dict,), "choices[].") or {}
        pieces = _text_fields(message, "choices[].message.")
    except ValueError as why:
        raise unexpected("POST /v1/chat/completions", str(why), result.request_id) from None
    for kind, text in pieces:
        if kind == "reasoning":
            result.reasoning = text
            if on_reasoning:
                on_reasoning(text)
        else:
            result.content = text
            if on_content:
                on_content(text)


def server_sent_events(
    chunks: Iterable[bytes], request_id: str = ""
) -> Iterator[dict[str, Any] | None]:
    """The JSON objects of an SSE stream (``data: {...}`` lines); ``None`` for ``data: [DONE]``.

    A line longer than :data:`MAX_EVENT_BYTES` is refused instead of buffered without end."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > MAX_EVENT_BYTES:
            raise unexpected(
                "POST /v1/chat/completions",
                f"a stream line longer than {MAX_EVENT_BYTES} bytes",
                request_id,
            )
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
                raise unexpected(
                    "POST /v1/chat/completions",
                    "a stream chunk that is not JSON",
                    request_id,
                    payload,
                ) from None
            if not isinstance(event, dict):
                raise unexpected(
                    "POST /v1/chat/completions", "a stream chunk that is not an object", request_id
                )
            yield event


def _bounded_text(response: bounded_http.Response, limit: int) -> str:
    """Up to ``limit`` bytes of an error body, as text (the rest is not read)."""
    data = b""
    try:
        for piece in response.chunks(limit):
            data += piece
    except HttpError as failure:
        if failure.kind != "too_large":
            raise
    return data[:limit].decode("utf-8", "replace")


def _redirect_refused(response: bounded_http.Response, url: str) -> EndpointError:
    target = urlsplit(response.header("Location"))
    where = target.hostname or urlsplit(url).hostname or "?"
    return EndpointError(
        f"HTTP {response.status} from {url}: a redirect to {where}, not followed",
        "AzureML endpoints do not redirect; following one would re-send the prompt and the "
        "credential to wherever it points",
        ["use the endpoint's own base URL (the stack's openaiBaseUrl output)"],
        status=response.status,
        request_id=response.header("x-request-id"),
    )


def _stream_error(event: Mapping[str, Any], request_id: str) -> EndpointError:
    message = error_message(event)
    return EndpointError(
        f"vLLM reported an error in the middle of the stream: {message[:500]}",
        "the request was accepted (200) and vLLM failed while generating",
        ["check the deployment's logs: `az ml online-deployment get-logs ... --lines 200`"],
        detail=message[:500],
        request_id=request_id,
    )


def _cut_stream(
    endpoint: Endpoint, deployment: str | None, why: str, result: ChatResult
) -> EndpointError:
    timeout = request_timeout(endpoint, deployment)
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


def connection_error(failure: HttpError, url: str, timeout: float) -> EndpointError:
    """A call that never got a complete HTTP answer."""
    text = str(failure)
    if failure.kind == "tls":
        return EndpointError(
            f"TLS handshake with {url} failed",
            "the endpoint's certificate could not be verified",
            ["check proxies that intercept TLS (REQUESTS_CA_BUNDLE names their CA bundle)"],
            detail=text[:300],
        )
    if failure.kind == "deadline":
        return EndpointError(
            f"no complete answer from {url} within {timeout:g} s (--timeout)",
            f"AzureML answers 408 after the request timeout (at most {AZUREML_MAX_TIMEOUT_SECONDS} "
            "s), so a call that outlasts it was held open by something in between, or by a "
            "server that never finishes",
            ["retry; lower --max-tokens; check proxies and firewalls on the way"],
        )
    if failure.kind == "too_large":
        return EndpointError(
            f"the answer from {url} is too large ({text})",
            "no completion this client asks for comes near that size",
            ["check the base URL: something other than vLLM may be answering"],
        )
    if failure.kind == "connect":
        advice = [
            "check the URL: the endpoint's host is <endpoint>.<region>.inference.ml.azure.com",
            "an endpoint with publicNetworkAccess Disabled is reachable only through its private "
            "endpoint, from inside the network",
            "an endpoint that was deleted (or not created yet) has no DNS name",
        ]
        return EndpointError(f"could not connect to {url}", "", advice, detail=text[:300])
    return EndpointError(f"request to {url} failed", detail=text[:300])
