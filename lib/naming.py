"""Azure names: stable, unique where Azure needs them unique, and valid by Azure's rules.

Storage accounts, key vaults and registries need globally unique names and endpoints need names
unique in their region across all customers. A short suffix derived from the subscription, project,
stack, region and an optional salt makes them unique without per-run randomness, so a second
`pulumi up` computes the same names and changes nothing.
"""

from __future__ import annotations

import hashlib
import re

import pulumi

from settings import Settings

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def stable_suffix(*parts: str, length: int = 6) -> str:
    """A lowercase base-36 digest of ``parts``: the same inputs always give the same suffix."""
    number = int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest(), "big")
    digits = []
    for _ in range(length):
        number, remainder = divmod(number, 36)
        digits.append(_ALPHABET[remainder])
    return "".join(digits)


def subscription_suffix(
    subscription_id: str, project: str, stack: str, location: str, name_salt: str
) -> str:
    """The suffix of the names that must be unique beyond the resource group (and the offline
    preview's way to tell which names are placeholders)."""
    return stable_suffix(subscription_id, project, stack, location, name_salt)


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def storage_account_name(stem: str, suffix: str) -> str:
    """3-24 lowercase letters and digits, globally unique."""
    return ("st" + _compact(stem))[: 24 - len(suffix)] + suffix


def registry_name(stem: str, suffix: str) -> str:
    """5-50 letters and digits, globally unique."""
    return ("cr" + _compact(stem))[: 50 - len(suffix)] + suffix


def key_vault_name(stem: str, suffix: str) -> str:
    """3-24 letters, digits and single hyphens, starting with a letter; globally unique."""
    head = ("kv-" + re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", stem.lower()))).strip("-")
    head = head[: 24 - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def endpoint_name(stem: str, suffix: str) -> str:
    """3-32 letters, digits and hyphens, letter first; unique within the Azure region."""
    head = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", stem.lower())).strip("-")
    head = head[: 32 - len(suffix) - 1].rstrip("-")
    if not head or not head[0].isalpha():
        head = "e" + head
    return f"{head}-{suffix}"


class StackNames:
    """Every Azure resource name of one stack, computed once and handed to the components.

    Names that must be unique beyond the resource group carry a suffix derived from the
    subscription id, so they are Outputs; the rest are plain strings.
    """

    def __init__(self, settings: Settings, subscription_id: pulumi.Input[str]):
        stem = f"{settings.project}-{settings.stack}"
        self._stem = stem
        self.resource_group: str = settings.resource_group_name or f"rg-{stem}"
        # Workspaces are soft-deleted for 14 days and block their name in the resource group
        # meanwhile; the salt lets a destroyed stack come back under a fresh name.
        salt = f"-{settings.name_salt}" if settings.name_salt else ""
        self.workspace: str = f"mlw-{stem}"[: 33 - len(salt)] + salt
        self.log_analytics: str = f"log-{stem}"
        self.app_insights: str = f"appi-{stem}"
        self.image_repository: str = settings.project

        self.suffix: pulumi.Output[str] = pulumi.Output.from_input(subscription_id).apply(
            lambda subscription: subscription_suffix(
                subscription,
                settings.project,
                settings.stack,
                settings.location,
                settings.name_salt,
            )
        )
        self.storage_account: pulumi.Output[str] = self.suffix.apply(
            lambda s: storage_account_name(stem, s)
        )
        self.key_vault: pulumi.Output[str] = self.suffix.apply(lambda s: key_vault_name(stem, s))
        self.registry: pulumi.Output[str] = self.suffix.apply(lambda s: registry_name(stem, s))
        self.endpoint: pulumi.Output[str] = (
            pulumi.Output.from_input(settings.endpoint_name)
            if settings.endpoint_name
            else self.suffix.apply(
                lambda s: endpoint_name(f"{settings.project}-{settings.stack}", s)
            )
        )

    def autoscale_setting(self, deployment: str) -> str:
        """The autoscale setting of ``deployment``: unique per stack and deployment, so stacks
        sharing a resource group never collide."""
        return f"autoscale-{self._stem}-{deployment}"
