"""A loopback HTTP server that behaves like Azure Resource Manager for the calls this project makes.

It keeps resources in memory by ARM path, answers writes the way ARM answers long-running ones
(201/202 with an ``Azure-AsyncOperation`` or ``Location`` URL that reports InProgress for a few polls
before Succeeded), and records every request, so the ARM client and the dynamic providers are tested
over real HTTP rather than mocked at the function level. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.loopback import SERVE_POLL_SECONDS


@dataclass
class RecordedRequest:
    method: str
    path: str
    api_version: str | None
    headers: dict[str, str]
    body: Any
    # Every query parameter, decoded (a test can check a filter or a metric name that was sent).
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Operation:
    """An asynchronous operation that succeeds (or fails) after ``polls`` status reads."""

    polls: int
    outcome: str = "Succeeded"
    error: dict[str, str] | None = None
    result: Any = None
    apply: Callable[[], None] | None = None
    reads: int = 0


# A handler may answer a request itself: return (status, body, headers) or None to fall through.
Handler = Callable[["FakeArm", RecordedRequest], "tuple[int, Any, dict[str, str]] | None"]


@dataclass
class FakeArm:
    """State and behaviour of the fake; the HTTP plumbing is in :class:`_RequestHandler`."""

    polls: int = 2
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)
    handlers: list[Handler] = field(default_factory=list)
    base_url: str = ""
    expected_token: str = "fake-arm-token"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_operation(self, operation: Operation) -> str:
        operation_id = f"op-{len(self.operations) + 1}"
        self.operations[operation_id] = operation
        return f"{self.base_url}/operations/{operation_id}"

    def writes(self, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method in ("PUT", "PATCH", "POST", "DELETE")
            and (method is None or r.method == method)
        ]

    def handle(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("authorization") != f"Bearer {self.expected_token}":
            return 401, {"error": {"code": "AuthenticationFailed", "message": "bad token"}}, {}
        if request.path.startswith("/operations/"):
            return self._operation_status(request.path.rsplit("/", 1)[-1])
        if request.path.startswith("/locations/"):
            return self._location_status(request.path.rsplit("/", 1)[-1])
        for handler in self.handlers:
            answer = handler(self, request)
            if answer is not None:
                return answer
        if request.api_version is None:
            return (
                400,
                {"error": {"code": "MissingApiVersionParameter", "message": "api-version"}},
                {},
            )
        path = request.path.lower()
        if request.method == "GET":
            resource = self.resources.get(path)
            if resource is None:
                return 404, {"error": {"code": "ResourceNotFound", "message": request.path}}, {}
            return 200, resource, {}
        if request.method in ("PUT", "PATCH"):
            existing = self.resources.get(path)
            body = request.body or {}
            if request.method == "PATCH":
                if existing is None:
                    return 404, {"error": {"code": "ResourceNotFound", "message": request.path}}, {}
                merged = _merge(existing, body)
            else:
                merged = {**body, "id": request.path, "name": request.path.rsplit("/", 1)[-1]}

            def apply() -> None:
                self.resources[path] = merged

            url = self.new_operation(Operation(self.polls, apply=apply))
            status = 200 if existing is not None else 201
            return status, merged, {"Azure-AsyncOperation": url, "Retry-After": "0"}
        if request.method == "DELETE":
            if path not in self.resources:
                return 204, None, {}

            def remove() -> None:
                self.resources.pop(path, None)

            operation_id = f"loc-{len(self.operations) + 1}"
            self.operations[operation_id] = Operation(self.polls, apply=remove)
            return (
                202,
                None,
                {"Location": f"{self.base_url}/locations/{operation_id}", "Retry-After": "0"},
            )
        return 405, {"error": {"code": "MethodNotAllowed", "message": request.method}}, {}

    def _operation_status(self, operation_id: str) -> tuple[int, Any, dict[str, str]]:
        operation = self.operations.get(operation_id)
        if operation is None:
            return 404, {"error": {"code": "NotFound", "message": operation_id}}, {}
        operation.reads += 1
        if operation.reads < operation.polls:
            return 200, {"status": "InProgress"}, {"Retry-After": "0"}
        if operation.outcome == "Succeeded" and operation.apply is not None:
            operation.apply()
            operation.apply = None
        body: dict[str, Any] = {"status": operation.outcome}
        if operation.error:
            body["error"] = operation.error
        return 200, body, {}

    def _location_status(self, operation_id: str) -> tuple[int, Any, dict[str, str]]:
        operation = self.operations.get(operation_id)
        if operation is None:
            return 404, {"error": {"code": "NotFound", "message": operation_id}}, {}
        operation.reads += 1
        if operation.reads < operation.polls:
            return 202, None, {"Retry-After": "0"}
        if operation.apply is not None:
            operation.apply()
            operation.apply = None
        if operation.result is None:
            return 204, None, {}
        return 200, operation.result, {}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396), the semantics ARM gives PATCH."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _RequestHandler(BaseHTTPRequestHandler):
    fake: FakeArm

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        request = RecordedRequest(
            method=self.command,
            path=parsed.path,
            api_version=(parse_qs(parsed.query).get("api-version") or [None])[0],
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            query=parse_qs(parsed.query),
        )
        with self.fake.lock:
            self.fake.requests.append(request)
            status, payload, headers = self.fake.handle(request)
        # bytes go out as they are: a test can answer with an empty or garbled body.
        data = (
            payload
            if isinstance(payload, bytes)
            else b""
            if payload is None
            else json.dumps(payload).encode()
        )
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if data and not isinstance(payload, bytes):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve  # noqa: N815 - stdlib names


class FakeArmServer:
    """Start with ``with FakeArmServer() as arm:``; ``arm.url`` is its base URL."""

    def __init__(self, fake: FakeArm | None = None):
        self.fake = fake or FakeArm()
        handler = type("Handler", (_RequestHandler,), {"fake": self.fake})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.fake.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_SECONDS},
            daemon=True,
        )

    def __enter__(self) -> FakeArm:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeCredential:
    """Stands in for an azure-identity credential; counts the scopes it was asked for."""

    def __init__(self, token: str = "fake-arm-token"):  # noqa: S107 - a test token
        self.token = token
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        self.scopes.extend(scopes)
        return type("AccessToken", (), {"token": self.token, "expires_on": 4102444800})()


# --- Online endpoints: the rules ARM applies to traffic ------------------------------------------

_ONLINE_ENDPOINT = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/[^/]+/providers/microsoft\.machinelearningservices/"
    r"workspaces/[^/]+/onlineendpoints/[^/]+$"
)
_ONLINE_DEPLOYMENT = re.compile(_ONLINE_ENDPOINT.pattern[:-1] + r"/deployments/([^/]+)$")


def _bad_request(message: str) -> tuple[int, Any, dict[str, str]]:
    return 400, {"error": {"code": "BadRequest", "message": message}}, {}


def _deployments_of(fake: FakeArm, endpoint_path: str) -> set[str]:
    prefix = endpoint_path + "/deployments/"
    return {path[len(prefix) :] for path in fake.resources if path.startswith(prefix)}


def online_endpoint_rules(fake: FakeArm, request: RecordedRequest) -> Any:
    """A handler (``fake.handlers.append(online_endpoint_rules)``) that makes endpoints behave
    like AzureML's: a PUT is refused when its traffic names a deployment that does not exist, does
    not sum to 100 (or 0), or mirrors more than 50 % or to a live deployment; a PATCH may change
    only tags and identity; ARM adds its read-only fields; and a deployment that still takes live
    or mirror traffic cannot be deleted. Everything else falls through to the generic behaviour.
    """
    path = request.path.lower()
    if request.method == "PUT" and _ONLINE_ENDPOINT.match(path):
        body = request.body or {}
        properties = body.get("properties") or {}
        traffic = properties.get("traffic") or {}
        mirror = {k: v for k, v in (properties.get("mirrorTraffic") or {}).items() if v}
        deployments = _deployments_of(fake, path)
        for name in sorted(set(traffic) | set(mirror)):
            if name.lower() not in deployments:
                return _bad_request(f"Deployment '{name}' does not exist on this endpoint")
        if sum(traffic.values()) not in (0, 100):
            return _bad_request("Traffic values need to sum to 100")
        if sum(mirror.values()) > 50 or len(mirror) > 1:
            return _bad_request("Mirror traffic must go to one deployment and be at most 50")
        if any(traffic.get(name, 0) > 0 for name in mirror):
            return _bad_request("A deployment cannot take live and mirror traffic at once")
        existing = fake.resources.get(path)
        stored = {
            **body,
            "id": request.path,
            "name": request.path.rsplit("/", 1)[-1],
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "systemData": {"lastModifiedBy": "fake-arm"},
            "identity": {
                **(body.get("identity") or {}),
                "principalId": "00000000-0000-0000-0000-0000000000aa",
                "tenantId": "00000000-0000-0000-0000-0000000000bb",
            },
            "properties": {
                **properties,
                "traffic": dict(traffic),
                "mirrorTraffic": dict(mirror),
                "provisioningState": "Succeeded",
                "scoringUri": f"https://{request.path.rsplit('/', 1)[-1]}.fake.inference.ml.azure.com/score",
            },
        }

        def apply() -> None:
            fake.resources[path] = stored

        url = fake.new_operation(Operation(fake.polls, apply=apply))
        accepted = {
            **stored,
            "properties": {**stored["properties"], "provisioningState": "Updating"},
        }
        status = 200 if existing is not None else 201
        return status, accepted, {"Azure-AsyncOperation": url, "Retry-After": "0"}
    if request.method == "PATCH" and _ONLINE_ENDPOINT.match(path):
        unexpected = sorted(set(request.body or {}) - {"tags", "identity", "sku", "kind"})
        if unexpected:
            return _bad_request(f"PATCH takes tags and identity only, not {unexpected}")
        return None
    match = _ONLINE_DEPLOYMENT.match(path)
    if request.method == "DELETE" and match:
        endpoint = fake.resources.get(path.rsplit("/deployments/", 1)[0]) or {}
        properties = endpoint.get("properties") or {}
        name = match.group(2)
        shares = {k.lower(): v for k, v in (properties.get("traffic") or {}).items()}
        mirrored = {k.lower(): v for k, v in (properties.get("mirrorTraffic") or {}).items()}
        if shares.get(name, 0) > 0 or mirrored.get(name, 0) > 0:
            return (
                409,
                {
                    "error": {
                        "code": "Conflict",
                        "message": f"Cannot delete deployment '{name}' with non-zero traffic",
                    }
                },
                {},
            )
    return None


# --- AzureML jobs: a job PUT is accepted at once and its status moves on with each read ----------

_JOB = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.machinelearningservices/"
    r"workspaces/[^/]+/jobs/([^/]+)$"
)


@dataclass
class JobScript:
    """How the fake's jobs behave: each GET moves a job one step along ``states``; the last state
    stays. ``error`` is reported on a job that ends Failed."""

    states: tuple[str, ...] = ("Queued", "Running", "Completed")
    error: dict[str, str] | None = None
    reads: dict[str, int] = field(default_factory=dict)

    def __call__(self, fake: FakeArm, request: RecordedRequest) -> Any:
        path = request.path.lower()
        match = _JOB.match(path)
        if match is None:
            return None
        name = match.group(1)
        if request.method == "PUT":
            if path in fake.resources:
                return _bad_request(f"Job {name} already exists; job names are unique")
            body = request.body or {}
            stored = {
                **body,
                "id": request.path,
                "name": name,
                "properties": {
                    **(body.get("properties") or {}),
                    "status": "NotStarted",
                    "services": {
                        "Studio": {"endpoint": f"https://ml.azure.com/runs/{name}?wsid=fake"}
                    },
                },
            }
            fake.resources[path] = stored
            self.reads[path] = 0
            # Jobs are created synchronously (201 with the job), not as an operation.
            return 201, stored, {}
        if request.method == "GET" and path in fake.resources:
            stored = fake.resources[path]
            if path not in self.reads:
                # Seeded by a test as an earlier run left it: its status stays as stored.
                return 200, stored, {}
            step = min(self.reads.get(path, 0), len(self.states) - 1)
            self.reads[path] = self.reads.get(path, 0) + 1
            status = self.states[step]
            properties = {**stored["properties"], "status": status}
            if status == "Failed" and self.error:
                properties["error"] = self.error
            return 200, {**stored, "properties": properties}, {}
        return None
