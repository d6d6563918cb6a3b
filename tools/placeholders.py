"""Which values in an offline plan are stand-ins, and where the real ones come from.

The offline run answers `getClientConfig` with an all-zero subscription and builds no image, so
every name that carries the subscription-derived suffix, every URL made from those names, and the
image digest (and the environment version derived from it) are placeholders. The preview marks
them, so nobody copies a name or digest from it as if Azure had made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lib.naming import subscription_suffix
from tools.offline import (
    OFFLINE_CLIENT_ID,
    OFFLINE_OBJECT_ID,
    OFFLINE_SUBSCRIPTION_ID,
    OFFLINE_TENANT_ID,
    ProgramRun,
)

MARK = "*"
LEGEND = (
    f"{MARK} placeholder: the offline run uses a stand-in subscription "
    f"({OFFLINE_SUBSCRIPTION_ID}) and builds no image. Names marked {MARK} get a suffix derived "
    "from your subscription id (the same length), URLs follow from those names, and the image "
    "digest and environment version come from the registry after the build; after `pulumi up`, "
    "`pulumi stack output` shows the real values."
)
DOCKER_IMAGE = "docker:index/image:Image"
ENVIRONMENT_VERSION = "azure-native:machinelearningservices:EnvironmentVersion"


def tokens(run: ProgramRun, project: str, location: str, name_salt: str) -> frozenset[str]:
    """Substrings that only a placeholder value contains."""
    found = {
        OFFLINE_SUBSCRIPTION_ID,
        OFFLINE_TENANT_ID,
        OFFLINE_OBJECT_ID,
        OFFLINE_CLIENT_ID,
        subscription_suffix(OFFLINE_SUBSCRIPTION_ID, project, run.stack, location, name_salt),
    }
    for image in run.of_type(DOCKER_IMAGE):
        digest = str(image.outputs.get("repoDigest", ""))
        if "@sha256:" in digest:
            found.add(digest.split("@sha256:", 1)[1])
    for environment in run.of_type(ENVIRONMENT_VERSION):
        version = environment.input("version")
        if isinstance(version, str) and version:
            found.add(version)
    return frozenset(found)


def is_placeholder(value: Any, placeholder_tokens: Iterable[str]) -> bool:
    """Whether a shown string is a stand-in. Lists and objects are not marked as a whole: their
    resource ids name the stand-in subscription too, and marking every one says nothing."""
    return isinstance(value, str) and any(token in value for token in placeholder_tokens)
