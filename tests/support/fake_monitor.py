"""Loopback fakes of what the in-container metrics publisher talks to: vLLM's ``/metrics``,
AzureML's managed-identity endpoint (``MSI_ENDPOINT``) and Azure Monitor's custom-metrics
ingestion endpoint. Each binds 127.0.0.1 on an ephemeral port, records every request and answers
what the test scripted (status codes in order, then the default)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.loopback import SERVE_POLL_SECONDS

FAKE_TOKEN = "fake-monitoring-token-0123456789"
FAKE_SECRET = "fake-msi-secret-abcdef"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class LoopbackServer:
    """One fake. ``statuses`` are answered first, in order; then ``default_status``."""

    kind: str
    payload: bytes = b""
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> LoopbackServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                with fake.lock:
                    fake.seen.append(
                        Seen(
                            self.command,
                            parts.path,
                            urllib.parse.parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw) if raw else None,
                        )
                    )
                    status = fake.statuses.pop(0) if fake.statuses else fake.default_status
                body = fake.payload if status == 200 else b'{"error": "scripted"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer  # noqa: N815 - http.server's method names
            do_POST = _answer  # noqa: N815

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that stops reading (the publisher's size limit) resets the socket:
                # expected, not worth a traceback in the test output.
                return

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_SECONDS},
            daemon=True,
        )
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def identity(token: str = FAKE_TOKEN, expires_in: int = 3600) -> LoopbackServer:
    payload = json.dumps(
        {"access_token": token, "expires_in": str(expires_in), "token_type": "Bearer"}
    )
    return LoopbackServer("identity", payload.encode()).start()


def ingestion() -> LoopbackServer:
    return LoopbackServer("ingestion", b"{}").start()


def vllm_metrics(text: str) -> LoopbackServer:
    return LoopbackServer("metrics", text.encode()).start()


def vllm_text(
    running: float = 3,
    waiting: float = 1,
    kv: float = 0.25,
    prompt_tokens: float = 1000,
    generation_tokens: float = 5000,
    succeeded: float = 10,
    ttft_counts: tuple[float, ...] = (0, 4, 9, 10, 10),
    kv_name: str = "vllm:kv_cache_usage_perc",
) -> str:
    """vLLM's Prometheus text (names from vllm/v1/metrics/loggers.py) with the given values;
    TTFT buckets le=0.1, 0.5, 1, 5, +Inf (cumulative)."""
    labels = 'engine="0",model_name="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"'
    bounds = ("0.1", "0.5", "1.0", "5.0", "+Inf")
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{labels}}} {running}",
        f"vllm:num_requests_waiting{{{labels}}} {waiting}",
        f"{kv_name}{{{labels}}} {kv}",
        f"vllm:prompt_tokens_total{{{labels}}} {prompt_tokens}",
        f"vllm:generation_tokens_total{{{labels}}} {generation_tokens}",
        f'vllm:request_success_total{{{labels},finished_reason="stop"}} {succeeded}',
        f'vllm:request_success_total{{{labels},finished_reason="length"}} 0',
        *(
            f'vllm:time_to_first_token_seconds_bucket{{{labels},le="{b}"}} {c}'
            for b, c in zip(bounds, ttft_counts, strict=True)
        ),
        f"vllm:time_to_first_token_seconds_count{{{labels}}} {ttft_counts[-1]}",
    ]
    return "\n".join(lines) + "\n"
