"""The online endpoint: how callers authenticate, whether it is public, and its name.

Keys: ``authMode``, ``endpointPublicNetworkAccess``, ``endpointName``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.catalog import (
    AUTH_MODES,
    ENDPOINT_NAME_PATTERN,
    NETWORK_ACCESS,
    REFUSED_AUTH_MODE,
    AuthMode,
    NetworkAccess,
)
from settings.reader import Reader


@dataclass(frozen=True)
class EndpointChoices:
    """The endpoint's auth mode, network access and name, validated."""

    auth_mode: AuthMode
    endpoint_public_network_access: NetworkAccess
    endpoint_name: str | None


def parse_endpoint(
    reader: Reader,
    prefix: str,
    values: Mapping[str, Any],
    workspace_access: NetworkAccess,
) -> EndpointChoices:
    """``workspace_access`` is what an unset ``endpointPublicNetworkAccess`` follows."""
    auth_mode = _parse_auth_mode(reader, f"{prefix}authMode", values["authMode"])
    access_raw = values["endpointPublicNetworkAccess"]
    access = (
        workspace_access
        if access_raw == ""
        else reader.choice(f"{prefix}endpointPublicNetworkAccess", access_raw, NETWORK_ACCESS)
    )
    endpoint_name = reader.string(
        f"{prefix}endpointName",
        values["endpointName"],
        r"|" + ENDPOINT_NAME_PATTERN,
        "must be empty (derived, unique in the region) or 3-32 characters: a letter first, then "
        "letters, digits or '-', not ending in '-'",
    )
    return EndpointChoices(
        auth_mode=auth_mode,
        endpoint_public_network_access=access,
        endpoint_name=endpoint_name or None,
    )


def _parse_auth_mode(reader: Reader, key: str, value: Any) -> AuthMode:
    if value == REFUSED_AUTH_MODE:
        reader.problem(
            key,
            value,
            "AMLToken is not supported: its tokens come from a workspace data-plane call and "
            "expire hourly; use Key or AADToken (Entra ID, audience https://ml.azure.com)",
        )
        return "Key"
    return reader.choice(key, value, AUTH_MODES)
