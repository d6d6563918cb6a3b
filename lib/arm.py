"""A small Azure Resource Manager client for the few calls azure-native cannot make for us.

The registry's ``importImage`` action has no resource type, endpoint traffic must be set after the
deployments exist, and ``make verify`` reads what the stack deployed. The first two run inside
``pulumi.dynamic`` providers during ``pulumi up``, so this client is deliberately plain: a bearer
token from azure-identity, :mod:`lib.bounded_http`, and ARM's asynchronous-operation protocol
(``Azure-AsyncOperation`` or ``Location`` polling), which is how ARM answers long
PUT/PATCH/POST/DELETE calls with 201 or 202.

What a faulty or hostile answer cannot do to it (docs/security.md, "Client tools and ARM client"):

* get the token: it goes only over https to the ARM host of the configured cloud; an operation
  URL on any other origin is an error, and nothing is sent there;
* stall it: every call has an overall deadline, every HTTP exchange (a trickled body too) one of
  its own, ``Retry-After`` is capped at a minute whatever its form, polls are at least a second
  apart, and an operation status without a state fails after a bounded number of polls;
* pass an empty or garbled 200 off as "does not exist": only a 404 means missing.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from lib import bounded_http
from lib.bounded_http import Deadline, HttpError
from lib.redact import Redactor

# ARM's origin in each cloud azure-native can target (its `environment` setting: public,
# usgovernment, china; pulumi_azure_native/config/vars.py). Hosts: the Azure SDKs' resource
# manager endpoints (azure-sdk-for-rust azure_core cloud configurations; Azure.ResourceManager
# ArmEnvironment).
ARM_ORIGINS = {
    "public": "https://management.azure.com",
    "usgovernment": "https://management.usgovcloudapi.net",
    "china": "https://management.chinacloudapi.cn",
}
ARM_URL = ARM_ORIGINS["public"]
ARM_SCOPE = f"{ARM_URL}/.default"
# Where the deployer picks the cloud for the client: the variable the azure-native provider and
# Terraform's azurerm read for the same purpose.
CLOUD_VARIABLE = "ARM_ENVIRONMENT"

# ARM's terminal states for an asynchronous operation.
_TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}

# Answers worth another try: throttling and transient server errors on any call, and 409 Conflict
# on writes, which AzureML gives while the endpoint is still busy with a previous operation (right
# after a deployment's long update, for example). A DELETE's 409 means "not allowed" (a deployment
# that still has traffic) and is final.
_RETRY_ALWAYS = {429, 500, 502, 503, 504}
_RETRY_WRITES = {409}
_MAX_ATTEMPTS = 6

# Bounds on what the server decides. Retry-After above a minute is taken as a minute (ARM's own
# hints are seconds to tens of seconds); polls are never closer than a second, whatever it says.
MAX_RETRY_AFTER_SECONDS = 60.0
MIN_POLL_SECONDS = 1.0
# One HTTP exchange, from connect to the last byte of the body.
REQUEST_DEADLINE_SECONDS = 60.0
MAX_BODY_BYTES = 32 * 1024 * 1024
# An operation status without a state this many polls in a row is not going to grow one.
MAX_POLLS_WITHOUT_STATUS = 10

LOGIN_HELP = (
    "Sign in first: `az login` on a workstation; in CI, run azure/login with OIDC before "
    "`pulumi up` (azure-identity reads that Azure CLI login, or AZURE_CLIENT_ID, AZURE_TENANT_ID "
    "and AZURE_FEDERATED_TOKEN_FILE; the ARM_* variables configure only the azure-native provider)."
)


class TokenCredential(Protocol):
    """What azure-identity credentials offer (``get_token(scope).token``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class ArmError(Exception):
    """An ARM call that failed, with ARM's own code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = str(code)[:200]
        self.message = str(message)[:1000]
        # ARM's Retry-After on a throttled answer (seconds, capped), for callers that retry.
        self.retry_after = retry_after
        where = f" ({method} {_without_query(url)})" if method else ""
        super().__init__(f"ARM answered {status} {self.code}: {self.message}{where}")


def _without_query(url: str) -> str:
    # Operation URLs may carry signatures in their query; the path says which call it was.
    return url.split("?", 1)[0]


def default_credential() -> TokenCredential:
    """azure-identity's default chain without interactive prompts: CI (OIDC via `azure/login`,
    environment variables, workload identity) and a developer's `az login` both work."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def cloud_origin(cloud: str | None = None) -> str:
    """ARM's origin for ``cloud`` (default: $ARM_ENVIRONMENT, else public)."""
    name = (cloud or os.environ.get(CLOUD_VARIABLE) or "public").strip().lower()
    if name not in ARM_ORIGINS:
        raise ArmError(
            0,
            "UnknownCloud",
            f"{CLOUD_VARIABLE} = {name[:40]!r} is not a cloud this client knows; use one of "
            f"{', '.join(ARM_ORIGINS)} (the values of azure-native's `environment` setting)",
        )
    return ARM_ORIGINS[name]


def _origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def retry_after(headers: Any, default: float, floor: float = 0.0) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110
    10.2.3), capped at :data:`MAX_RETRY_AFTER_SECONDS`; ``default`` when absent or unreadable
    (negative, NaN, garbage), never below ``floor``."""
    value = headers.get("Retry-After") if headers is not None else None
    seconds = default
    if value is not None:
        text = str(value).strip()
        try:
            parsed = float(text)
        except ValueError:
            parsed = _http_date_seconds(text)
        if parsed is not None and not math.isnan(parsed) and parsed >= 0:
            seconds = parsed
    return max(floor, min(seconds, MAX_RETRY_AFTER_SECONDS))


def _http_date_seconds(text: str) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class ArmClient:
    """Calls ARM with a bearer token and waits for asynchronous operations to finish.

    ``base_url`` replaces the cloud's ARM origin, and is then the only origin the token goes to:
    tests pass a loopback fake's origin explicitly (plain http is accepted for loopback only).
    ``timeout`` bounds each public call, polling included."""

    # The floor between two polls. A class attribute so that tests against the loopback fake,
    # which answers in microseconds, can lower it for the whole test (tests/support/fake_arm.py
    # fast_polls); no deployment code sets it.
    min_poll_seconds: float = MIN_POLL_SECONDS

    def __init__(
        self,
        credential: TokenCredential | None = None,
        base_url: str | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        retry_delay: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        cloud: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ):
        self._credential = credential
        # Called before each poll of a long-running operation with (url, seconds waited so far),
        # so a caller can report progress during waits of many minutes.
        self._progress = progress
        origin = cloud_origin(cloud)
        self.scope = f"{origin}/.default"
        self.base_url = (base_url or origin).rstrip("/")
        scheme, host, _ = _origin_of(self.base_url)
        if scheme != "https" and not (scheme == "http" and bounded_http.is_loopback(host)):
            raise ArmError(
                0, "InsecureArmUrl", f"ARM must be called over https, not {self.base_url!r}"
            )
        self._origin = _origin_of(self.base_url)
        self.poll_interval = max(poll_interval, self.min_poll_seconds)
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._sleep = sleep
        # Masks the token in every ArmError, should a server echo it in an error body.
        self.redactor = Redactor()

    # --- public verbs ------------------------------------------------------------------------

    def get(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        """The resource, or None when ARM says 404. Any other answer that is not a JSON object
        (an empty or garbled 200 included) is an :class:`ArmError`, never "missing"."""
        deadline = Deadline(self.timeout)
        response = self._send("GET", self._url(resource_id, api_version), deadline=deadline)
        if response.status == 404:
            return None
        self._raise_for(response)
        return _resource(response)

    def get_url(self, url: str) -> dict[str, Any]:
        """GET a full ARM URL (a ``nextLink``, or a list with a query) as a JSON object."""
        response = self._send("GET", url, deadline=Deadline(self.timeout))
        self._raise_for(response)
        return _resource(response)

    def list(
        self, path: str, api_version: str, max_pages: int = 20, query: str = ""
    ) -> list[dict[str, Any]]:
        """Every item of a list call (``value``), following ``nextLink`` for at most ``max_pages``
        pages; an empty list when ARM says the parent does not exist (404). A page that is not a
        list answer is an :class:`ArmError`, never "empty"."""
        url = self._url(path, api_version) + (f"&{query}" if query else "")
        items: list[dict[str, Any]] = []
        for _ in range(max_pages):
            response = self._send("GET", url, deadline=Deadline(self.timeout))
            if response.status == 404:
                return items
            self._raise_for(response)
            page = _resource(response)
            value = page.get("value")
            if not isinstance(value, list):
                raise ArmError(
                    200, "InvalidResponse", "a list answer without a `value` list", "GET", url
                )
            items += [item for item in value if isinstance(item, dict)]
            next_link = page.get("nextLink")
            if not isinstance(next_link, str) or not next_link:
                return items
            url = next_link
        raise ArmError(200, "TooManyPages", f"more than {max_pages} pages", "GET", path)

    def put(self, resource_id: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", resource_id, api_version, body) or {}

    def patch(self, resource_id: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PATCH", resource_id, api_version, body) or {}

    def post(
        self, action_path: str, api_version: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Invoke an action (``.../registries/x/importImage``) and return its final result."""
        deadline = Deadline(self.timeout)
        response = self._send("POST", self._url(action_path, api_version), body, deadline)
        self._raise_for(response)
        if _has_operation(response):
            return self._wait(response, final_get=None, deadline=deadline)
        return _optional_resource(response)

    def delete(self, resource_id: str, api_version: str) -> None:
        deadline = Deadline(self.timeout)
        response = self._send("DELETE", self._url(resource_id, api_version), deadline=deadline)
        if response.status == 404:
            return
        self._raise_for(response)
        if _has_operation(response):
            self._wait(response, final_get=None, deadline=deadline)

    # --- protocol ------------------------------------------------------------------------------

    def _write(
        self, method: str, resource_id: str, api_version: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        deadline = Deadline(self.timeout)
        url = self._url(resource_id, api_version)
        response = self._send(method, url, body, deadline)
        self._raise_for(response)
        if _has_operation(response):
            # ARM returns the resource as it was accepted (200 or 201 with provisioningState
            # Updating/Creating, or 202); the final state comes from a GET once the operation
            # succeeds (the x-ms-long-running-operation "original-uri" convention).
            return self._wait(response, final_get=url, deadline=deadline)
        return _resource(response)

    def _wait(
        self, response: _Answer, final_get: str | None, deadline: Deadline
    ) -> dict[str, Any] | None:
        operation_url = response.header("Azure-AsyncOperation")
        location_url = response.header("Location")
        delay = retry_after(response, self.poll_interval, self.min_poll_seconds)
        if operation_url:
            operation = self._poll_operation(operation_url, delay, deadline)
            if final_get:
                return self._get_final(final_get, deadline)
            if location_url:
                return self._get_final(location_url, deadline)
            properties = operation.get("properties")
            return properties if isinstance(properties, dict) else None
        if location_url:
            while True:
                self._pause(delay, deadline, location_url)
                answer = self._send("GET", location_url, deadline=deadline)
                if answer.status != 202:
                    self._raise_for(answer)
                    return _optional_resource(answer)
                delay = retry_after(answer, self.poll_interval, self.min_poll_seconds)
        return _optional_resource(response)

    def _poll_operation(self, url: str, delay: float, deadline: Deadline) -> dict[str, Any]:
        without_status = 0
        while True:
            self._pause(delay, deadline, url)
            answer = self._send("GET", url, deadline=deadline)
            self._raise_for(answer)
            operation = _resource(answer)
            raw_status = operation.get("status")
            status = raw_status.lower() if isinstance(raw_status, str) else ""
            if status in _TERMINAL:
                break
            without_status = without_status + 1 if not status else 0
            if without_status >= MAX_POLLS_WITHOUT_STATUS:
                raise ArmError(
                    200,
                    "OperationStatusMissing",
                    f"the operation status had no `status` in {without_status} polls in a row",
                    "GET",
                    url,
                )
            delay = retry_after(answer, self.poll_interval, self.min_poll_seconds)
        if status != "succeeded":
            error = operation.get("error")
            error = error if isinstance(error, dict) else {}
            raise ArmError(
                200,
                str(error.get("code") or status.capitalize()),
                str(error.get("message") or f"asynchronous operation {status}"),
                "GET",
                url,
            )
        return operation

    def _get_final(self, url: str, deadline: Deadline) -> dict[str, Any]:
        answer = self._send("GET", url, deadline=deadline)
        self._raise_for(answer)
        return _resource(answer)

    def _pause(self, delay: float, deadline: Deadline, url: str) -> None:
        if delay >= deadline.remaining():
            raise ArmError(
                408,
                "Timeout",
                f"operation still running after {deadline.seconds:.0f} s",
                "GET",
                url,
            )
        if self._progress is not None:
            self._progress(url, deadline.seconds - deadline.remaining())
        self._sleep(delay)

    def _url(self, path: str, api_version: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"ARM paths start with '/': {path!r}")
        return f"{self.base_url}{path}?api-version={api_version}"

    def _token(self) -> str:
        try:
            if self._credential is None:
                self._credential = default_credential()
            token = self._credential.get_token(self.scope).token
        except Exception as error:
            # Any failure (no login, an expired refresh token, a broken CLI, a missing package),
            # not only ClientAuthenticationError: the fix is the login either way.
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise ArmError(
                401, "NotLoggedIn", f"no usable Azure login ({reason}). {LOGIN_HELP}"
            ) from None
        if not isinstance(token, str) or not token:
            raise ArmError(401, "NotLoggedIn", f"the Azure login gave no token. {LOGIN_HELP}")
        self.redactor.add(token)
        return token

    def _check_origin(self, method: str, url: str) -> None:
        if _origin_of(url) != self._origin:
            raise ArmError(
                0,
                "UntrustedHost",
                f"ARM named {urlsplit(url).hostname!r} ({urlsplit(url).scheme}) as where to "
                f"continue, not {self.base_url}; the token is sent to ARM only, so the call stops",
                method,
                url,
            )

    def _send(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        deadline: Deadline | None = None,
    ) -> _Answer:
        self._check_origin(method, url)
        deadline = deadline or Deadline(self.timeout)
        retryable = _RETRY_ALWAYS | (_RETRY_WRITES if method in ("PUT", "PATCH", "POST") else set())
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            answer = self._exchange(method, url, data, deadline)
            if answer.status not in retryable or attempt == _MAX_ATTEMPTS:
                return answer
            # ARM's Retry-After when it gives one, else exponential backoff (10, 20, 40 s ...).
            wait = retry_after(answer, self.retry_delay * 2 ** (attempt - 1))
            if wait >= deadline.remaining():
                return answer
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns")

    def _exchange(self, method: str, url: str, data: bytes | None, deadline: Deadline) -> _Answer:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        exchange = Deadline(min(REQUEST_DEADLINE_SECONDS, max(deadline.remaining(), 0.0)))
        try:
            with bounded_http.request(method, url, headers, data, exchange) as response:
                return _Answer(
                    response.status,
                    response.reason,
                    response.headers,
                    response.read(MAX_BODY_BYTES),
                    method,
                    url,
                )
        except HttpError as error:
            code = {"deadline": "Timeout", "too_large": "ResponseTooLarge"}.get(
                error.kind, "ConnectionError"
            )
            raise ArmError(0, code, str(error), method, url) from None

    def _raise_for(self, response: _Answer) -> None:
        if response.status < 400:
            return
        payload = _parse(response.body)
        error = payload.get("error") if isinstance(payload, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or response.body[:500].decode("utf-8", "replace"))
        raise ArmError(
            response.status,
            self.redactor(str(error.get("code") or response.reason or "Error")),
            self.redactor(message),
            response.method,
            response.url,
            retry_after=retry_after(response, -1.0) if response.get("Retry-After") else None,
        )


class _Answer:
    """A whole ARM answer: status, headers and the (bounded) body."""

    def __init__(self, status: int, reason: str, headers: Any, body: bytes, method: str, url: str):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.method = method
        self.url = url

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        return "" if value is None else str(value)

    def get(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)


def _has_operation(response: _Answer) -> bool:
    """Whether ARM handed back an operation to poll: an Azure-AsyncOperation URL on any success
    status, or a Location URL on 202 Accepted (201 Created's Location is just the resource)."""
    if response.header("Azure-AsyncOperation"):
        return True
    return response.status == 202 and bool(response.header("Location"))


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return None


def _resource(response: _Answer) -> dict[str, Any]:
    """The JSON object an answer must carry; an empty or garbled body is an error."""
    data = _parse(response.body)
    if not isinstance(data, dict):
        what = "an empty body" if not response.body.strip() else "a body that is not a JSON object"
        raise ArmError(
            response.status,
            "InvalidResponse",
            f"ARM answered {response.status} with {what}; nothing is assumed from it (retry, "
            "and if it persists check https://status.azure.com and any proxy in between)",
            response.method,
            response.url,
        )
    return data


def _optional_resource(response: _Answer) -> dict[str, Any] | None:
    """An action's result: nothing (204, or an empty 200/202) or a JSON object."""
    if response.status == 204 or not response.body.strip():
        return None
    return _resource(response)
