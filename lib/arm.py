"""A small Azure Resource Manager client for the few calls azure-native cannot make for us.

The registry's ``importImage`` action has no resource type, and endpoint traffic must be set after
the deployments exist. Both run inside ``pulumi.dynamic`` providers during ``pulumi up``, so this
client is deliberately plain: a bearer token from azure-identity, ``requests``, and ARM's
asynchronous-operation protocol (``Azure-AsyncOperation`` or ``Location`` polling), which is how
ARM answers long PUT/PATCH/POST/DELETE calls with 201 or 202.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

ARM_URL = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"

# ARM's terminal states for an asynchronous operation.
_TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}

# Answers worth another try: throttling and transient server errors on any call, and 409 Conflict
# on writes, which AzureML gives while the endpoint is still busy with a previous operation (right
# after a deployment's long update, for example). A DELETE's 409 means "not allowed" (a deployment
# that still has traffic) and is final.
_RETRY_ALWAYS = {429, 500, 502, 503, 504}
_RETRY_WRITES = {409}
_MAX_ATTEMPTS = 6

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
        self.code = code
        self.message = message
        # ARM's Retry-After on a throttled answer (seconds), for callers that retry themselves.
        self.retry_after = retry_after
        where = f" ({method} {url})" if method else ""
        super().__init__(f"ARM answered {status} {code}: {message}{where}")


def default_credential() -> TokenCredential:
    """azure-identity's default chain without interactive prompts: CI (OIDC via `azure/login`,
    environment variables, workload identity) and a developer's `az login` both work."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


class ArmClient:
    """Calls ARM with a bearer token and waits for asynchronous operations to finish."""

    def __init__(
        self,
        credential: TokenCredential | None = None,
        base_url: str | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        retry_delay: float = 10.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, float], None] | None = None,
    ):
        self._credential = credential
        self.base_url = (base_url or ARM_URL).rstrip("/")
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._session = session or requests.Session()
        self._sleep = sleep
        # Called before each poll of a long-running operation with (url, seconds waited so far),
        # so a caller can report progress during waits of many minutes.
        self._progress = progress

    # --- public verbs ------------------------------------------------------------------------

    def get(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        """The resource, or None when ARM says it does not exist."""
        response = self._send("GET", self._url(resource_id, api_version))
        if response.status_code == 404:
            return None
        self._raise_for(response)
        return _json(response)

    def list(self, path: str, api_version: str, max_pages: int = 20) -> list[dict[str, Any]]:
        """Every item of a list call (``value``), following ``nextLink`` for at most ``max_pages``
        pages; an empty list when ARM says the parent does not exist."""
        items: list[dict[str, Any]] = []
        url: str | None = self._url(path, api_version)
        for _ in range(max_pages):
            if url is None:
                break
            response = self._send("GET", url)
            if response.status_code == 404:
                return items
            self._raise_for(response)
            page = _json(response) or {}
            items.extend(item for item in page.get("value") or [] if isinstance(item, dict))
            next_link = page.get("nextLink")
            url = next_link if isinstance(next_link, str) and next_link else None
        return items

    def put(self, resource_id: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", resource_id, api_version, body) or {}

    def patch(self, resource_id: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PATCH", resource_id, api_version, body) or {}

    def post(
        self, action_path: str, api_version: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Invoke an action (``.../registries/x/importImage``) and return its final result."""
        url = self._url(action_path, api_version)
        response = self._send("POST", url, body)
        self._raise_for(response)
        if _has_operation(response):
            return self._wait(response, final_get=None)
        return _json(response)

    def delete(self, resource_id: str, api_version: str) -> None:
        url = self._url(resource_id, api_version)
        response = self._send("DELETE", url)
        if response.status_code == 404:
            return
        self._raise_for(response)
        if _has_operation(response):
            self._wait(response, final_get=None)

    # --- protocol ------------------------------------------------------------------------------

    def _write(
        self, method: str, resource_id: str, api_version: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        url = self._url(resource_id, api_version)
        response = self._send(method, url, body)
        self._raise_for(response)
        if _has_operation(response):
            # ARM returns the resource as it was accepted (200 or 201 with provisioningState
            # Updating/Creating, or 202); the final state comes from a GET once the operation
            # succeeds (the x-ms-long-running-operation "original-uri" convention).
            return self._wait(response, final_get=url)
        return _json(response)

    def _wait(self, response: requests.Response, final_get: str | None) -> dict[str, Any] | None:
        operation_url = response.headers.get("Azure-AsyncOperation")
        location_url = response.headers.get("Location")
        started = time.monotonic()
        deadline = started + self.timeout
        delay = _retry_after(response, self.poll_interval)
        if operation_url:
            while True:
                self._pause(delay, deadline, operation_url, started)
                status_response = self._send("GET", operation_url)
                self._raise_for(status_response)
                operation = _json(status_response) or {}
                status = str(operation.get("status", "")).lower()
                if status in _TERMINAL:
                    break
                delay = _retry_after(status_response, self.poll_interval)
            if status != "succeeded":
                error = operation.get("error") or {}
                raise ArmError(
                    200,
                    error.get("code", status.capitalize()),
                    error.get("message", f"asynchronous operation {status}"),
                    "GET",
                    operation_url,
                )
            if final_get:
                return self._get_url(final_get)
            if location_url:
                return self._get_url(location_url)
            return operation.get("properties") if isinstance(operation, dict) else None
        if location_url:
            while True:
                self._pause(delay, deadline, location_url, started)
                location_response = self._send("GET", location_url)
                if location_response.status_code != 202:
                    self._raise_for(location_response)
                    return _json(location_response)
                delay = _retry_after(location_response, self.poll_interval)
        return _json(response)

    def _get_url(self, url: str) -> dict[str, Any] | None:
        response = self._send("GET", url)
        self._raise_for(response)
        return _json(response)

    def _pause(self, delay: float, deadline: float, url: str, started: float) -> None:
        if time.monotonic() + delay > deadline:
            raise ArmError(
                408, "Timeout", f"operation still running after {self.timeout:.0f} s", "GET", url
            )
        if self._progress is not None:
            self._progress(url, time.monotonic() - started)
        self._sleep(delay)

    def _url(self, path: str, api_version: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"ARM paths start with '/': {path!r}")
        return f"{self.base_url}{path}?api-version={api_version}"

    def _token(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError

        if self._credential is None:
            self._credential = default_credential()
        try:
            return self._credential.get_token(ARM_SCOPE).token
        except ClientAuthenticationError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ArmError(401, "NotLoggedIn", f"no Azure login ({reason}). {LOGIN_HELP}") from None

    def _send(self, method: str, url: str, body: dict[str, Any] | None = None) -> requests.Response:
        retryable = _RETRY_ALWAYS | (_RETRY_WRITES if method in ("PUT", "PATCH", "POST") else set())
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            try:
                response = self._session.request(
                    method, url, json=body, headers=headers, timeout=60
                )
            except requests.RequestException as error:
                raise ArmError(0, "ConnectionError", str(error), method, url) from None
            if response.status_code not in retryable or attempt == _MAX_ATTEMPTS:
                return response
            # ARM's Retry-After when it gives one, else exponential backoff (10, 20, 40 s ...).
            self._sleep(_retry_after(response, self.retry_delay * 2 ** (attempt - 1)))
        raise AssertionError("unreachable: the last attempt returns")

    @staticmethod
    def _raise_for(response: requests.Response) -> None:
        if response.status_code < 400:
            return
        payload = _json(response) or {}
        error = payload.get("error") if isinstance(payload, dict) else None
        error = error if isinstance(error, dict) else {}
        raise ArmError(
            response.status_code,
            error.get("code", response.reason or "Error"),
            error.get("message", response.text[:500]),
            response.request.method or "" if response.request is not None else "",
            response.url,
            retry_after=_retry_after_or_none(response),
        )


def _has_operation(response: requests.Response) -> bool:
    """Whether ARM handed back an operation to poll: an Azure-AsyncOperation URL on any success
    status, or a Location URL on 202 Accepted (201 Created's Location is just the resource)."""
    if response.headers.get("Azure-AsyncOperation"):
        return True
    return response.status_code == 202 and bool(response.headers.get("Location"))


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _retry_after_or_none(response: requests.Response) -> float | None:
    value = _retry_after(response, -1.0)
    return value if value >= 0 else None


def _json(response: requests.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else {"value": data}
