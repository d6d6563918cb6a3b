"""A loopback stand-in for the Hugging Face Hub's model API (``GET /api/models/<id>/revision/<rev>``,
huggingface_hub's ``HfApi.model_info``): the revisions it knows answer 200 with ``sha``, others 404
with the Hub's error JSON. Point HF_ENDPOINT at :attr:`FakeHub.url`. Records every path and the
Authorization header it saw (there must be none)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.support.loopback import SERVE_POLL_SECONDS


@dataclass
class FakeHub:
    # model id -> the commits it has
    revisions: dict[str, set[str]] = field(default_factory=dict)
    # model id -> the sha to answer instead (a Hub that resolves a branch, say)
    answer_sha: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                hub.seen.append((self.path, self.headers.get("Authorization")))
                status, body = hub.answer(unquote(self.path))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # shutdown() waits for the loop's next poll (0.5 s by default); see SERVE_POLL_SECONDS.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_SECONDS},
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> tuple[int, Any]:
        prefix = "/api/models/"
        if path.startswith(prefix) and "/revision/" in path:
            model, revision = path[len(prefix) :].split("/revision/", 1)
            if revision in self.revisions.get(model, set()):
                return 200, {"id": model, "sha": self.answer_sha.get(model, revision)}
        return 404, {"error": "Revision Not Found"}
