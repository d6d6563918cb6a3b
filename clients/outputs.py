"""Where the chat client and the smoke test find the endpoint: a stack's outputs, or options/env.

The stack outputs are the contract between the Pulumi program and everything that calls the
endpoint. They are read with the Pulumi CLI (``pulumi stack output --json --show-secrets``), which
decrypts ``primaryKey``; where the CLI is not installed (a CI job, an app host), the base URL and
key come from options or environment variables instead. First match wins:

1. ``--base-url`` (with ``--api-key`` or ``VLLM_AZUREML_API_KEY``, or ``--aad``);
2. ``--stack NAME`` with the ``pulumi`` CLI on PATH: that stack's outputs;
3. ``VLLM_AZUREML_BASE_URL`` (with ``VLLM_AZUREML_API_KEY``, or ``--aad``);
4. the ``pulumi`` CLI's currently selected stack.

An explicit ``--stack`` beats the environment variables, so a stale variable left in a shell
cannot silently send a "prod" smoke test to the dev endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from lib.catalog import AUTH_MODES

ROOT = Path(__file__).resolve().parent.parent

ENV_BASE_URL = "VLLM_AZUREML_BASE_URL"
ENV_API_KEY = "VLLM_AZUREML_API_KEY"
ENV_MODEL = "VLLM_AZUREML_MODEL"

# `pulumi stack output` only reads local state or the backend; a minute is plenty, and a hung CLI
# (for example waiting for a passphrase on a terminal it does not have) should not hang CI.
PULUMI_TIMEOUT_SECONDS = 120


class EndpointConfigError(Exception):
    """The endpoint to call cannot be determined: no outputs, no CLI, missing or bad values."""


@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment as the stack exports it under ``deployments``."""

    name: str
    model: str
    traffic: int
    mirror_traffic: int = 0
    instance_type: str | None = None
    # Optional extras: when exported, error messages quote the real numbers (429 limit, 408 limit).
    instance_count: int | None = None
    max_concurrent_requests_per_instance: int | None = None
    request_timeout_seconds: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """Everything a client needs to call the endpoint, and where it came from."""

    base_url: str
    auth_mode: str
    source: str
    # Never printed: excluded from repr so a stray log line cannot leak it.
    api_key: str | None = field(default=None, repr=False)
    deployments: Mapping[str, DeploymentInfo] = field(default_factory=lambda: MappingProxyType({}))
    stack: str | None = None
    endpoint_name: str | None = None
    region: str | None = None
    resource_group_name: str | None = None
    workspace_name: str | None = None
    default_model: str | None = None

    def live_deployments(self) -> list[DeploymentInfo]:
        """Deployments that take a share of live traffic (the ones an app without a header hits)."""
        return [d for d in self.deployments.values() if d.traffic > 0]

    def configured_models(self, deployment: str | None) -> list[str]:
        """The model ids the stack says are served: by ``deployment``, or behind live traffic."""
        if self.default_model:
            return [self.default_model]
        if deployment is not None:
            info = self.deployments.get(deployment)
            return [info.model] if info else []
        return sorted({d.model for d in self.live_deployments()})


def normalize_base_url(value: str, where: str) -> str:
    """The OpenAI-compatible base URL, ending in ``/v1`` without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.username is not None or parts.password is not None:
        # Never echo it: the user info may hold a password. AzureML takes no basic auth.
        raise EndpointConfigError(
            f"{where} carries user info (user:password@) before the host {parts.hostname}; "
            "AzureML endpoints take the key as a bearer token: drop it from the URL and pass "
            f"the key with --api-key or {ENV_API_KEY}"
        )
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise EndpointConfigError(
            f"{where} = {value!r} is not a URL; expected "
            "https://<endpoint>.<region>.inference.ml.azure.com/v1"
        )
    path = parts.path.rstrip("/")
    if path == "":
        path = "/v1"
    if not path.endswith("/v1"):
        raise EndpointConfigError(
            f"{where} = {value!r} must be the OpenAI-compatible base URL ending in /v1, "
            "e.g. https://<endpoint>.<region>.inference.ml.azure.com/v1 (not the scoring URI "
            "of one route)"
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _int(value: Any, where: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise EndpointConfigError(f"{where} = {value!r} must be a whole number")
    return int(value)


def parse_deployments(raw: Any, source: str) -> dict[str, DeploymentInfo]:
    """``deployments`` as exported: ``{name: {model, traffic, mirrorTraffic, instanceType, ...}}``.

    A list of objects with a ``name`` field is accepted too.
    """
    if raw is None:
        return {}
    if isinstance(raw, list):
        items: dict[str, Any] = {}
        for entry in raw:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise EndpointConfigError(f"{source}: deployments entries need a 'name': {entry!r}")
            items[entry["name"]] = entry
        raw = items
    if not isinstance(raw, dict):
        raise EndpointConfigError(f"{source}: deployments must be an object, got {raw!r}")
    deployments: dict[str, DeploymentInfo] = {}
    for name, value in raw.items():
        where = f"{source}: deployments.{name}"
        if not isinstance(value, dict) or not isinstance(value.get("model"), str):
            raise EndpointConfigError(f"{where} must be an object with a 'model' string")
        deployments[name] = DeploymentInfo(
            name=name,
            model=value["model"],
            traffic=_int(value.get("traffic"), f"{where}.traffic", 0) or 0,
            mirror_traffic=_int(value.get("mirrorTraffic"), f"{where}.mirrorTraffic", 0) or 0,
            instance_type=value.get("instanceType"),
            instance_count=_int(value.get("instanceCount"), f"{where}.instanceCount"),
            max_concurrent_requests_per_instance=_int(
                value.get("maxConcurrentRequestsPerInstance"),
                f"{where}.maxConcurrentRequestsPerInstance",
            ),
            request_timeout_seconds=_int(
                value.get("requestTimeoutSeconds"), f"{where}.requestTimeoutSeconds"
            ),
        )
    return deployments


def endpoint_from_outputs(
    outputs: Mapping[str, Any],
    source: str,
    stack: str | None = None,
    api_key: str | None = None,
    use_aad: bool = False,
    model: str | None = None,
) -> Endpoint:
    """Validate a stack's outputs (as ``pulumi stack output --json --show-secrets`` prints them)."""
    base_url = outputs.get("openaiBaseUrl")
    if not isinstance(base_url, str) or not base_url:
        present = ", ".join(sorted(outputs)) or "none"
        raise EndpointConfigError(
            f"{source} has no openaiBaseUrl output (outputs present: {present}). "
            "Has `pulumi up` completed for this stack?"
        )
    auth_mode = outputs.get("authMode")
    if auth_mode not in AUTH_MODES:
        raise EndpointConfigError(
            f"{source}: authMode = {auth_mode!r}, expected one of {', '.join(AUTH_MODES)}"
        )
    key = api_key or outputs.get("primaryKey")
    if auth_mode == "Key" and not use_aad:
        if not isinstance(key, str) or not key:
            raise EndpointConfigError(
                f"{source}: authMode is Key but there is no primaryKey output; pass --api-key or "
                "read it with `az ml online-endpoint get-credentials`"
            )
        if key == "[secret]":
            raise EndpointConfigError(
                f"{source}: primaryKey came back as [secret]; the outputs must be read with "
                "--show-secrets"
            )
    return Endpoint(
        base_url=normalize_base_url(base_url, f"{source}: openaiBaseUrl"),
        auth_mode="AADToken" if use_aad else auth_mode,
        source=source,
        api_key=key if isinstance(key, str) and auth_mode == "Key" and not use_aad else None,
        deployments=MappingProxyType(parse_deployments(outputs.get("deployments"), source)),
        stack=stack,
        endpoint_name=outputs.get("endpointName"),
        region=outputs.get("region"),
        resource_group_name=outputs.get("resourceGroupName"),
        workspace_name=outputs.get("workspaceName"),
        default_model=model,
    )


def read_stack_outputs(pulumi: str, stack: str | None) -> dict[str, Any]:
    """Run ``pulumi stack output --json --show-secrets`` in the project directory."""
    command = [pulumi, "stack", "output", "--json", "--show-secrets"]
    if stack:
        command += ["--stack", stack]
    shown = f"stack '{stack}'" if stack else "the selected stack"
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EndpointConfigError(f"could not run `{' '.join(command)}`: {error}") from None
    if result.returncode != 0:
        # Never stdout: with --show-secrets it may hold primaryKey even when the command fails.
        message = result.stderr.strip()[:2000] or f"exit {result.returncode}, no message on stderr"
        raise EndpointConfigError(
            f"`pulumi stack output` failed for {shown}: {message}\n"
            "Log in to the stack's backend (`pulumi login`), check the stack name "
            "(`pulumi stack ls`), and set PULUMI_CONFIG_PASSPHRASE if the stack uses a passphrase."
        )
    try:
        outputs = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as error:
        raise EndpointConfigError(
            f"`pulumi stack output --json` printed something that is not JSON: {error}"
        ) from None
    if not isinstance(outputs, dict):
        raise EndpointConfigError("`pulumi stack output --json` did not print an object")
    return outputs


def resolve_endpoint(
    stack: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    use_aad: bool = False,
    model: str | None = None,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    on_secret: Callable[[str], None] | None = None,
) -> tuple[Endpoint, list[str]]:
    """The endpoint to call, and notes worth telling the user (for example a fallback taken)."""
    env = os.environ if environ is None else environ
    notes: list[str] = []
    model = model or env.get(ENV_MODEL) or None

    def manual(url: str, where: str) -> Endpoint:
        key = api_key or env.get(ENV_API_KEY) or None
        if not use_aad and not key:
            raise EndpointConfigError(
                f"{where} gives the base URL but there is no key: pass --api-key or set "
                f"{ENV_API_KEY} (Key mode), or pass --aad (AADToken mode)"
            )
        return Endpoint(
            base_url=normalize_base_url(url, where),
            auth_mode="AADToken" if use_aad else "Key",
            source=where,
            api_key=None if use_aad else key,
            stack=stack,
            default_model=model,
        )

    def from_stack(pulumi: str) -> Endpoint:
        outputs = read_stack_outputs(pulumi, stack)
        key = outputs.get("primaryKey")
        if on_secret is not None and isinstance(key, str):
            on_secret(key)
        source = f"stack '{stack}'" if stack else "the selected Pulumi stack"
        return endpoint_from_outputs(outputs, source, stack, api_key, use_aad, model)

    if base_url:
        return manual(base_url, "--base-url"), notes
    pulumi = which("pulumi")
    if stack and pulumi:
        return from_stack(pulumi), notes
    env_url = env.get(ENV_BASE_URL)
    if env_url:
        if stack:
            notes.append(
                f"the pulumi CLI is not on PATH, so stack '{stack}' outputs cannot be read; "
                f"using {ENV_BASE_URL} = {env_url}"
            )
        return manual(env_url, ENV_BASE_URL), notes
    if pulumi:
        return from_stack(pulumi), notes
    wanted = f"stack '{stack}'" if stack else "a stack"
    raise EndpointConfigError(
        f"cannot find the endpoint for {wanted}: the pulumi CLI is not on PATH and "
        f"{ENV_BASE_URL} is not set. Either install the Pulumi CLI and log in to the stack's "
        f"backend (outputs are read with `pulumi stack output --json --show-secrets`), or set "
        f"{ENV_BASE_URL}=https://<endpoint>.<region>.inference.ml.azure.com/v1 and "
        f"{ENV_API_KEY}=<key> (or pass --base-url/--api-key, and --aad for Entra ID auth)."
    )


def endpoint_from_arguments(
    args: Any, err: TextIO, label: str, on_secret: Callable[[str], None] | None = None
) -> Endpoint | None:
    """The endpoint the command-line options name (``--stack``, ``--base-url``, ``--api-key``,
    ``--aad``, ``--model``), with notes written to ``err``; None, after an error message, when it
    cannot be resolved (the caller exits 2)."""
    try:
        endpoint, notes = resolve_endpoint(
            stack=args.stack,
            base_url=args.base_url,
            api_key=args.api_key,
            use_aad=args.aad,
            model=args.model,
            on_secret=on_secret,
        )
    except EndpointConfigError as error:
        err.write(f"{label}error: {error}\n")
        return None
    for note in notes:
        err.write(f"{label}note: {note}\n")
    return endpoint
