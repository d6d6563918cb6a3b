"""Copy a public image into the workspace registry, server-side, with the registry's importImage action.

ACR's ``importImage`` ARM action (``POST .../registries/{name}/importImage``) makes the registry
itself fetch an image from Docker Hub: the ~10 GB vLLM base never crosses the machine that runs
Pulumi, and the image build then starts FROM the registry copy, so its push uploads only the thin
top layer. azure-native has no resource type for the action, so this module wraps it in a
``pulumi.dynamic`` resource that calls ARM through :mod:`lib.arm`.

The import is by digest: what lands in the registry is byte-for-byte the vetted image, whatever
happens to the tag on Docker Hub. It runs anonymously unless the stack sets ``dockerHubUsername``
and the secret ``dockerHubToken``; then they are the import's source credentials
(ImportSource.credentials ``{username, password}``, azure-rest-api-specs containerregistry
ImportSourceCredentials). Docker Hub rate-limits anonymous pulls per IP (Azure/bicep-registry-
modules#3069: 429 "You have reached your pull rate limit"), so a throttled import is retried a
bounded number of times, honouring ARM's Retry-After, and the final error names the two settings.

State compatibility: this module path and ``RegistryImportProvider`` are pickled into every stack's
state; stacks created before the credentials existed have no ``source_username`` or
``source_password`` inputs and import anonymously as before. The token is a Pulumi secret in the
inputs (encrypted in the state) and never part of the outputs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from lib.arm import ArmClient, ArmError, TokenCredential

# A stable ARM API version that has importImage (azure-rest-api-specs, containerregistry
# stable/2023-07-01, example ImportImageFromPublicRegistry.json) and is rolled out in every region.
IMPORT_API_VERSION = "2023-07-01"

# Copying ~10 GB between registries takes minutes; ARM reports it as one asynchronous operation.
IMPORT_TIMEOUT_SECONDS = 3600.0

# Inputs whose change means a different image in the registry, so a new import (a replacement).
# The credentials are not among them: another token imports the same bytes.
_IMPORT_INPUTS = ("registry_id", "source_registry", "source_image", "target_tag")
# Never returned as an output, so the token cannot land in the state's outputs in plaintext.
_SECRET_INPUTS = ("source_password",)

# Throttled imports: at most this many attempts, waiting ARM's Retry-After (or a minute per attempt
# when there is none), each wait capped. With lib/arm.py's own retries of HTTP 429 this bounds a
# rate-limited import at 25 minutes (3 attempts x 5 waits of at most 60 s, plus 2 waits of at most
# 5 min) before it gives up with the settings to set.
IMPORT_ATTEMPTS = 3
RATE_LIMIT_WAIT_SECONDS = 60.0
MAX_RATE_LIMIT_WAIT_SECONDS = 300.0
CREDENTIAL_SETTINGS = ("dockerHubUsername", "dockerHubToken")


class DockerHubRateLimitError(ArmError):
    """The import was still throttled after the last attempt."""


def rate_limited(error: ArmError) -> bool:
    """Whether ARM's answer is Docker Hub's (or ACR's) throttling rather than a real refusal."""
    text = f"{error.code} {error.message}".lower()
    return error.status == 429 or any(
        marker in text for marker in ("toomanyrequests", "too many requests", "rate limit")
    )


def digest_tag(digest: str) -> str:
    """The tag the registry copy gets: the digest spelled as a tag (``sha256-<hex>``).

    Tagged rather than untagged because registries may purge untagged manifests (ACR retention
    policy), which would break the next build FROM it; a tag derived from the digest can only ever
    name these same bytes, so re-importing over it is harmless.
    """
    return digest.replace(":", "-")


def import_request(
    source_registry: str,
    source_image: str,
    target_tag: str,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The importImage request body (ARM ImportImageParameters); with a password, the source
    credentials (ImportSourceCredentials: ``password`` required, ``username`` optional)."""
    source: dict[str, Any] = {"registryUri": source_registry, "sourceImage": source_image}
    if password:
        source["credentials"] = {
            "password": password,
            **({"username": username} if username else {}),
        }
    return {
        "source": source,
        "targetTags": [target_tag],
        # Force: a retry after an interrupted `pulumi up` finds the tag already there. The tag is
        # derived from the digest, so overwriting it rewrites the same manifest.
        "mode": "Force",
    }


def _gave_up(error: ArmError, image: str, authenticated: bool) -> DockerHubRateLimitError:
    if authenticated:
        advice = (
            "The import already authenticates with dockerHubUsername and dockerHubToken: wait for "
            "Docker Hub's limit to reset, or check that the token belongs to an account with a "
            "higher pull limit."
        )
    else:
        advice = (
            "The import is anonymous, and Docker Hub limits anonymous pulls per IP address. Give "
            "it Docker Hub credentials and run `pulumi up` again: `pulumi config set "
            "dockerHubUsername <user>` and `pulumi config set --secret dockerHubToken <access "
            "token>` (docs/first-deployment.md, Docker Hub credentials)."
        )
    return DockerHubRateLimitError(
        error.status,
        "DockerHubRateLimit",
        f"Docker Hub throttled the import of {image} {IMPORT_ATTEMPTS} times ({error.code}: "
        f"{error.message}). {advice}",
    )


class RegistryImportProvider(pulumi.dynamic.ResourceProvider):
    """Creates the registry copy with ARM's importImage; the copy outlives the resource.

    ``credential`` and ``base_url`` exist for tests (a loopback fake ARM); in a deployment both are
    None, so the provider serialized into the stack's state carries no credential and authenticates
    with azure-identity's default chain (`az login`, or the CI's federated login) when it runs.
    """

    # Nothing secret is captured (no credential in a deployment), so the serialized provider need
    # not be encrypted into the state.
    serialize_as_secret_always = False

    def __init__(
        self,
        credential: TokenCredential | None = None,
        base_url: str | None = None,
        poll_interval: float = 10.0,
        sleep: Callable[[float], None] | None = None,
    ):
        super().__init__()
        self.credential = credential
        self.base_url = base_url
        self.poll_interval = poll_interval
        # None in a deployment (time.sleep); tests pass a recorder.
        self.sleep = sleep

    def _client(self) -> ArmClient:
        sleep = getattr(self, "sleep", None) or time.sleep
        return ArmClient(
            credential=self.credential,
            base_url=self.base_url,
            poll_interval=self.poll_interval,
            timeout=IMPORT_TIMEOUT_SECONDS,
            sleep=sleep,
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        body = import_request(
            props["source_registry"],
            props["source_image"],
            props["target_tag"],
            props.get("source_username"),
            props.get("source_password"),
        )
        self._import(
            f"{props['registry_id']}/importImage", body, bool(props.get("source_password"))
        )
        outputs = {
            key: value
            for key, value in props.items()
            if key != "__provider" and key not in _SECRET_INPUTS
        }
        return pulumi.dynamic.CreateResult(id_=props["target_reference"], outs=outputs)

    def _import(self, action: str, body: dict[str, Any], authenticated: bool) -> None:
        # Pickled providers from before these attributes existed load without them.
        sleep: Callable[[float], None] = getattr(self, "sleep", None) or time.sleep
        client = self._client()
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            try:
                client.post(action, IMPORT_API_VERSION, body)
                return
            except ArmError as error:
                if not rate_limited(error):
                    raise
                if attempt == IMPORT_ATTEMPTS:
                    raise _gave_up(error, body["source"]["sourceImage"], authenticated) from None
                wait = (
                    error.retry_after
                    if error.retry_after is not None
                    else (RATE_LIMIT_WAIT_SECONDS * attempt)
                )
                wait = min(wait, MAX_RATE_LIMIT_WAIT_SECONDS)
                print(
                    f"importImage of {body['source']['sourceImage']} throttled ({error.code}); "
                    f"attempt {attempt + 1} of {IMPORT_ATTEMPTS} in {wait:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                sleep(wait)

    def diff(
        self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        changed = [key for key in _IMPORT_INPUTS if _olds.get(key) != _news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=changed, delete_before_replace=False
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Deliberately a no-op. Deleting a manifest needs the registry's data-plane API, and images
        # built FROM this copy share its layers; the registry, and the copy with it, goes when the
        # stack's registry is deleted. An old base left behind by a bump costs storage only:
        # README, "Bumping vLLM", says how to remove it.
        return None


@dataclass(frozen=True)
class RegistryImportArgs:
    """What to import: ``source_image`` (repository@sha256:digest) from ``source_registry`` into
    ``target_repository`` of the registry ``registry_id`` whose login server is ``login_server``;
    with ``source_password`` (a secret) and ``source_username``, authenticated."""

    registry_id: pulumi.Input[str]
    login_server: pulumi.Input[str]
    source_registry: str
    source_image: str
    target_repository: str
    source_username: str | None = None
    source_password: pulumi.Input[str] | None = None


class RegistryImport(pulumi.dynamic.Resource, module="containerregistry", name="ImportImage"):
    """A public image copied into a registry by digest; ``target_reference`` pins the copy
    (``<login server>/<repository>@sha256:...``) and resolves only once the copy exists."""

    target_reference: pulumi.Output[str]
    target_tag: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RegistryImportArgs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        digest = args.source_image.partition("@")[2]
        if not digest.startswith("sha256:"):
            raise ValueError(f"import by digest only, got {args.source_image!r}")
        target_tag = f"{args.target_repository}:{digest_tag(digest)}"
        target_reference = pulumi.Output.concat(
            args.login_server, "/", args.target_repository, "@", digest
        )
        super().__init__(
            RegistryImportProvider(),
            name,
            {
                "registry_id": args.registry_id,
                "source_registry": args.source_registry,
                "source_image": args.source_image,
                "target_tag": target_tag,
                "target_reference": target_reference,
                "source_username": args.source_username,
                "source_password": (
                    pulumi.Output.secret(args.source_password)
                    if args.source_password is not None
                    else None
                ),
            },
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=list(_SECRET_INPUTS))
            ),
        )
