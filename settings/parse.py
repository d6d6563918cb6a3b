"""Validate one stack's configuration, area by area, into :class:`Settings`.

Pure Python, no Pulumi runtime: tests call :func:`parse_settings` directly. Every problem is
collected before anything raises, so a user fixes a stack file in one pass instead of one error
per ``pulumi up``. Each area has its own parser module (``parse_<area>.py``), which is where a new
key goes; rules that combine keys are in settings/rules.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lib.quoting import key_name
from settings import rules
from settings.defaults import DEFAULTS
from settings.model import PROJECT, Settings
from settings.parse_deployment import parse_deployments
from settings.parse_endpoint import parse_endpoint
from settings.parse_image import parse_image
from settings.parse_models import parse_served_model_name, parse_weights_source
from settings.parse_stack import parse_stack
from settings.parse_workspace import parse_workspace
from settings.reader import MAX_LISTED_PROBLEMS, Reader, SettingsError, near_miss


def parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    location: Any,
    project: str = PROJECT,
    hugging_face_token: Any = None,
    vllm_api_key: Any = None,
    docker_hub_token: Any = None,
) -> Settings:
    """Validate one stack's configuration.

    ``raw`` holds the project's keys without namespace and with native values (as YAML gives
    them); missing keys take :data:`DEFAULTS`. Raises :class:`SettingsError` listing every problem.
    """
    reader = Reader(stack)
    prefix = f"{project}:"
    values = _with_defaults(reader, prefix, raw)
    placement = parse_stack(reader, prefix, values, stack, location)
    workspace = parse_workspace(reader, prefix, values)
    endpoint = parse_endpoint(reader, prefix, values, workspace.public_network_access)
    image = parse_image(reader, prefix, values)
    deployments = parse_deployments(reader, f"{prefix}deployments", values["deployments"])
    served_model_name = parse_served_model_name(
        reader,
        f"{prefix}servedModelName",
        values["servedModelName"],
        [d.model for d in deployments],
    )
    weights_source = parse_weights_source(reader, f"{prefix}weightsSource", values["weightsSource"])
    rules.check_token_for_weights_source(reader, prefix, weights_source, hugging_face_token)
    rules.check_registry_for_network(reader, prefix, workspace)
    rules.check_fqdns_for_network(reader, prefix, workspace)
    rules.check_cache_rule_credentials(reader, prefix, image)
    rules.check_docker_hub_credentials(reader, prefix, image, docker_hub_token is not None)
    rules.check_traffic(reader, f"{prefix}deployments", deployments)
    rules.check_vllm_api_key_auth(reader, prefix, endpoint.auth_mode, vllm_api_key is not None)
    if reader.problems:
        raise SettingsError(stack, reader.problems)
    return Settings(
        project=project,
        stack=stack,
        location=placement.location,
        resource_group_name=placement.resource_group_name,
        name_salt=placement.name_salt,
        owner=placement.owner,
        cost_center=placement.cost_center,
        extra_tags=placement.extra_tags,
        protect_resources=workspace.protect_resources,
        key_vault_purge_protection=workspace.key_vault_purge_protection,
        key_vault_retention_days=workspace.key_vault_retention_days,
        log_retention_days=workspace.log_retention_days,
        registry_sku=workspace.registry_sku,
        public_network_access=workspace.public_network_access,
        managed_network=workspace.managed_network,
        firewall_sku=workspace.firewall_sku,
        deployer_principal_type=workspace.deployer_principal_type,
        outbound_fqdns=workspace.outbound_fqdns,
        auth_mode=endpoint.auth_mode,
        endpoint_public_network_access=endpoint.endpoint_public_network_access,
        endpoint_name=endpoint.endpoint_name,
        base_image=image.base_image,
        base_image_source=image.base_image_source,
        docker_hub_credential_set=image.docker_hub_credential_set,
        docker_hub_username=image.docker_hub_username,
        hugging_face_token=hugging_face_token,
        vllm_api_key=vllm_api_key,
        docker_hub_token=docker_hub_token,
        deployments=deployments,
        served_model_name=served_model_name,
        weights_source=weights_source,
    )


def _with_defaults(reader: Reader, prefix: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The known keys over a copy of their defaults; unknown keys are problems (a typo in a stack
    file must not pass unnoticed)."""
    for index, unknown in enumerate(sorted(set(raw) - set(DEFAULTS))):
        # A hint for the keys a message lists; past them a fuzzy search would only cost time.
        hint = near_miss(unknown, list(DEFAULTS)) if index < MAX_LISTED_PROBLEMS else ""
        reader.problems.append(f"{prefix}{key_name(unknown)}: unknown configuration key{hint}")
    values = copy.deepcopy(DEFAULTS)
    values.update({k: v for k, v in raw.items() if k in DEFAULTS})
    return values
