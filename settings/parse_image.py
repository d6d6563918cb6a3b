"""The serving image: which vLLM base image, and how it reaches the stack's registry.

Keys: ``baseImage``, ``baseImageSource``, ``dockerHubCredentialSet``, ``dockerHubUsername``.
(``huggingFaceToken`` and ``dockerHubToken`` are secrets and reach the settings from
settings/pulumi_config.py, never as plain config.) The rule
that ``cacheRule`` needs a credential set is in settings/rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from settings.model import BASE_IMAGE_SOURCES, BaseImageSource
from settings.reader import Reader

# An ACR repository@digest or an image on Docker Hub pinned by digest: tags move, digests do not.
PINNED_IMAGE_PATTERN = (
    r"(docker\.io/)?[a-z0-9]+([._-][a-z0-9]+)*/[a-z0-9]+([._-][a-z0-9]+)*@sha256:[0-9a-f]{64}"
)
# A Docker Hub user (or organisation access-token owner) name: letters, digits, ".", "_" and "-".
DOCKER_HUB_USERNAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"
# ACR credential set names.
CREDENTIAL_SET_PATTERN = r"[a-zA-Z0-9-]{5,50}"


@dataclass(frozen=True)
class ImageChoices:
    """The base image and its source, validated."""

    base_image: str
    base_image_source: BaseImageSource
    docker_hub_credential_set: str | None
    docker_hub_username: str | None


def parse_image(reader: Reader, prefix: str, values: Mapping[str, Any]) -> ImageChoices:
    base_image = reader.string(
        f"{prefix}baseImage",
        values["baseImage"],
        PINNED_IMAGE_PATTERN,
        "must be a Docker Hub image pinned by digest, e.g. "
        "docker.io/vllm/vllm-openai@sha256:<64 hex digits>; tags such as 'latest' move",
    )
    source = reader.choice(
        f"{prefix}baseImageSource", values["baseImageSource"], BASE_IMAGE_SOURCES
    )
    credential_set = reader.string(
        f"{prefix}dockerHubCredentialSet",
        values["dockerHubCredentialSet"],
        r"|" + CREDENTIAL_SET_PATTERN,
        "must be empty or the name of an ACR credential set (5-50 letters, digits or '-')",
    )
    username = reader.string(
        f"{prefix}dockerHubUsername",
        values["dockerHubUsername"],
        r"|" + DOCKER_HUB_USERNAME_PATTERN,
        "must be empty or a Docker Hub user name (letters, digits, '.', '_' or '-')",
    )
    return ImageChoices(
        base_image=base_image,
        base_image_source=source,
        docker_hub_credential_set=credential_set or None,
        docker_hub_username=username or None,
    )
