"""A loopback HTTP server that answers like vLLM behind an AzureML managed online endpoint.

Two layers, as in Azure:

* the AzureML front end: checks ``Authorization: Bearer`` (the key, or an Entra ID token in
  AADToken mode), routes by the ``azureml-model-deployment`` header or by traffic weight (404
  "No valid deployments to route to" when nothing has traffic), and reports any non-200 answer of
  the container as 424 with ``ms-azureml-model-error-statuscode``/``-reason`` headers, as the
  front end's Envoy filter does;
* vLLM's OpenAI-compatible server: ``GET /v1/models``, ``POST /v1/chat/completions`` streamed
  (SSE ``data: {...}`` chunks: a role chunk, ``delta.reasoning`` chunks from the reasoning parser,
  ``delta.content`` chunks, a finish chunk, a usage chunk when ``stream_options.include_usage``,
  then ``data: [DONE]``) or whole, and vLLM's error bodies ``{"error": {message, type, param,
  code}}``.

Tests script failures with :meth:`FakeVllm.fail_next` (401/403/404/408/424/429, with the headers
AzureML sends), cut a stream short with ``cut_stream_after``, and read every request back from
``requests``. The front end's error *bodies* are illustrative (AzureML does not document them);
the client under test keys on the status and the ``ms-azureml-*`` headers only.
It binds 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken

from tests.support.loopback import SERVE_POLL_SECONDS

DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
NO_ROUTE = (
    "No valid deployments to route to. Please check that the endpoint has at least one "
    "deployment with positive weight values or use a deployment specific header to route."
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    deployment: str | None = None


@dataclass
class ScriptedError:
    """An answer the front end gives instead of routing: status, headers, body."""

    status: int
    body: bytes
    headers: dict[str, str]


def azureml_error(status: int, reason: str = "", model_status: int | None = None) -> ScriptedError:
    """An error as the AzureML front end sends it."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    body = b""
    if status in (401, 403):
        body = b"key_auth_access_denied" if status == 401 else b"aad_auth_forbidden"
    elif status == 404:
        body = NO_ROUTE.encode()
    elif status == 408:
        # Envoy's text for an upstream timeout; AzureML reports it as 408.
        body = b"upstream request timeout"
    elif status == 424:
        headers["ms-azureml-model-error-reason"] = reason or "model_error"
        if model_status is not None:
            headers["ms-azureml-model-error-statuscode"] = str(model_status)
            headers["Content-Type"] = "application/json"
            body = json.dumps(vllm_error(model_status, "scripted vLLM failure")).encode()
    elif status == 429:
        # The overflow answer has an empty text/plain body and this reason header.
        if reason:
            headers["ms-azureml-model-error-reason"] = reason
    else:
        body = b"internal server error"
    return ScriptedError(status, body, headers)


def vllm_error(code: int, message: str, param: str | None = None) -> dict[str, Any]:
    """vLLM's error body (ErrorResponse with ErrorInfo, vLLM 0.10+)."""
    kinds = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return {
        "error": {
            "message": message,
            "type": kinds.get(code, "InternalServerError"),
            "param": param,
            "code": code,
        }
    }


@dataclass
class FakeVllm:
    """State and behaviour of the fake; the HTTP plumbing is in :class:`_Handler`."""

    model: str = DEFAULT_MODEL
    auth_mode: str = "Key"
    api_key: str = "test-key"
    aad_token: str = "fake-entra-token"
    # Deployment name -> traffic percent, as on the endpoint.
    deployments: dict[str, int] = field(default_factory=lambda: {"blue": 100})
    reasoning: str = "The user asks for 17 + 25. 17 + 25 = 42."
    content: str = "42"
    # vLLM before 0.10 named the field reasoning_content.
    reasoning_field: str = "reasoning"
    max_model_len: int = 32768
    # Close the connection after this many SSE events, without the final chunk (a cut stream).
    cut_stream_after: int | None = None
    # End the body cleanly but without `data: [DONE]` (a proxy that closes a timed-out stream).
    send_done: bool = True
    # Send this instead of chunks, after the role chunk (a vLLM failure mid-stream).
    stream_error: dict[str, Any] | None = None
    token_delay: float = 0.0
    # AzureML forwards only the scoring route to the container (the case ADR 0003 cannot rule
    # out): every other path gets the front end's 404.
    scoring_route_only: bool = False
    # vLLM started with --api-key (VLLM_API_KEY): /v1 paths need `Authorization: Bearer <it>`,
    # else vLLM's AuthenticationMiddleware answers 401 {"error": "Unauthorized"}, which the front
    # end reports as 424. The front end here forwards the caller's header unchanged.
    vllm_api_key: str | None = None
    # vLLM's --served-model-name (default: the model id) and the path it loaded the weights from
    # (`root` in /v1/models; default: the model id, as when vLLM downloads from the Hub).
    served_names: list[str] | None = None
    root: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    scripted: list[ScriptedError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeVllm:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval keeps shutdown (once per test) fast; see SERVE_POLL_SECONDS.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeVllm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # --- scripting -------------------------------------------------------------------------

    def fail_next(
        self, status: int, times: int = 1, reason: str = "", model_status: int | None = None
    ) -> None:
        """Answer the next ``times`` requests with an AzureML error of ``status``."""
        with self.lock:
            self.scripted += [azureml_error(status, reason, model_status)] * times

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # --- the AzureML front end ---------------------------------------------------------------

    def front_end(self, request: RecordedRequest) -> ScriptedError | None:
        with self.lock:
            if self.scripted:
                return self.scripted.pop(0)
        secret = self.api_key if self.auth_mode == "Key" else self.aad_token
        if request.headers.get("authorization") != f"Bearer {secret}":
            return azureml_error(401)
        if self.scoring_route_only and request.path != "/v1/chat/completions":
            return ScriptedError(404, b"", {"Content-Type": "text/plain; charset=utf-8"})
        header = request.headers.get("azureml-model-deployment")
        if header is not None:
            if header not in self.deployments:
                return ScriptedError(
                    404,
                    f"Deployment {header} not found in endpoint.".encode(),
                    {"Content-Type": "text/plain; charset=utf-8"},
                )
            request.deployment = header
            return None
        live = [name for name, share in self.deployments.items() if share > 0]
        if not live:
            return azureml_error(404)
        request.deployment = live[0]
        return None


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so streamed answers use chunked transfer encoding, as uvicorn's do.
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeVllm:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = RecordedRequest(
            method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        with self.fake.lock:
            self.fake.requests.append(request)
        error = self.fake.front_end(request)
        if error is not None:
            self._send(error.status, error.body, error.headers)
            return
        self._vllm(method, request)

    # --- vLLM ------------------------------------------------------------------------------

    def _vllm(self, method: str, request: RecordedRequest) -> None:
        key = self.fake.vllm_api_key
        if (
            key
            and request.path.startswith("/v1")
            and request.headers.get("authorization") != f"Bearer {key}"
        ):
            self._model_error(401, {"error": "Unauthorized"})
            return
        if method == "GET" and request.path == "/v1/models":
            created = 1_700_000_000
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": name,
                            "object": "model",
                            "created": created,
                            "owned_by": "vllm",
                            "root": self.fake.root or self.fake.model,
                            "parent": None,
                            "max_model_len": self.fake.max_model_len,
                        }
                        for name in self.fake.served_names or [self.fake.model]
                    ],
                },
            )
            return
        if method == "POST" and request.path == "/v1/chat/completions":
            self._chat(request.body if isinstance(request.body, dict) else {})
            return
        # FastAPI's 404 for an unknown route, reported by AzureML as 424.
        self._model_error(404, {"detail": "Not Found"})

    def _model_error(self, code: int, body: dict[str, Any]) -> None:
        self._json(
            424,
            body,
            {
                "ms-azureml-model-error-reason": "model_error",
                "ms-azureml-model-error-statuscode": str(code),
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._model_error(400, vllm_error(400, "messages must be a non-empty list", "messages"))
            return
        model = body.get("model")
        if model is not None and model not in (fake.served_names or [fake.model]):
            self._model_error(404, vllm_error(404, f"The model `{model}` does not exist.", "model"))
            return
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + 4
        if isinstance(max_tokens, int) and prompt_tokens + max_tokens > fake.max_model_len:
            self._model_error(
                400,
                vllm_error(
                    400,
                    f"This model's maximum context length is {fake.max_model_len} tokens. "
                    f"However, you requested {prompt_tokens + max_tokens} tokens.",
                ),
            )
            return
        # One "token" per whitespace-separated piece, reasoning first, as the parser splits them.
        pieces = [("reasoning", p) for p in _pieces(fake.reasoning)]
        pieces += [("content", p) for p in _pieces(fake.content)]
        finish = "stop"
        if isinstance(max_tokens, int) and len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        usage = {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + len(pieces),
            "completion_tokens": len(pieces),
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(pieces, finish, usage if include_usage else None)
            return
        reasoning = "".join(p for kind, p in pieces if kind == "reasoning")
        content = "".join(p for kind, p in pieces if kind == "content")
        message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": []}
        message[fake.reasoning_field] = reasoning or None
        self._json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": fake.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish,
                        "stop_reason": None,
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(
        self, pieces: list[tuple[str, str]], finish: str, usage: dict[str, int] | None
    ) -> None:
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "fake-request-id")
        self.end_headers()

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": fake.model,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        if fake.stream_error is not None:
            events.append(fake.stream_error)
        else:
            for kind, piece in pieces:
                field_name = fake.reasoning_field if kind == "reasoning" else "content"
                events.append(chunk({field_name: piece}))
            events.append(chunk({"content": ""}, finish))
            if usage is not None:
                events.append(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": fake.model,
                        "choices": [],
                        "usage": usage,
                    }
                )
        for index, event in enumerate(events):
            if fake.cut_stream_after is not None and index >= fake.cut_stream_after:
                # Drop the connection mid-body: no final chunk, no [DONE].
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if fake.token_delay and index:
                time.sleep(fake.token_delay)
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
        if fake.send_done:
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    # --- plumbing --------------------------------------------------------------------------

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-request-id", "fake-request-id")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _pieces(text: str) -> list[str]:
    """Split text into word-sized deltas that join back to the text exactly."""
    pieces: list[str] = []
    for index, word in enumerate(text.split(" ")):
        pieces.append(word if index == 0 else " " + word)
    return [p for p in pieces if p]


# --- The other two test doubles the tools meet: the Pulumi CLI and an Entra ID credential. ----


def install_fake_pulumi(
    bin_dir: Path, outputs: dict[str, Any], exit_code: int = 0, stderr: str = ""
) -> Path:
    """Put an executable ``pulumi`` in ``bin_dir`` that prints ``outputs`` as JSON (what
    ``pulumi stack output --json --show-secrets`` prints) and appends its argv and cwd, as a JSON
    line, to ``bin_dir/pulumi.log``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / "pulumi.log"
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as log:\n"
        "    log.write(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}) + '\\n')\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.stdout.write({json.dumps(outputs)!r})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return log


def pulumi_calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out ``token`` and records the scopes asked."""

    def __init__(
        self,
        token: str = "fake-entra-token",  # noqa: S107 - a test double's token, not a credential
        error: Exception | None = None,
    ):
        self.token = token
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken(self.token, int(time.time()) + 3600)


def stack_outputs(fake: FakeVllm, **overrides: Any) -> dict[str, Any]:
    """The outputs a deployed stack exports, pointing at ``fake``: the contract in docs/clients.md,
    "Stack outputs"."""
    outputs: dict[str, Any] = {
        "region": "eastus2",
        "resourceGroupName": "rg-vllm-prod",
        "workspaceName": "mlw-vllm-prod",
        "endpointName": "vllm-prod-a1b2c3",
        "scoringUri": fake.base_url + "/chat/completions",
        "openaiBaseUrl": fake.base_url,
        "authMode": fake.auth_mode,
        "deployments": {
            name: {
                "model": fake.model,
                "traffic": traffic,
                "mirrorTraffic": 0,
                "instanceType": "Standard_NC24ads_A100_v4",
            }
            for name, traffic in fake.deployments.items()
        },
        "imageReference": "crvllmprod.azurecr.io/vllm@sha256:" + "0" * 64,
    }
    if fake.auth_mode == "Key":
        outputs["primaryKey"] = fake.api_key
    outputs.update(overrides)
    return outputs
