"""The one module that touches Pulumi's configuration.

Pulumi hands a program every config value as a string, under its full key ("vllm-azureml:owner",
"azure-native:location"), and knows which keys the stack file holds encrypted. :func:`load_settings`
turns that map into the native values :func:`parse_settings` validates; :func:`from_pulumi` reads
the map from the running program (through lib/pulumi_api.py, since no public API lists it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import pulumi

from lib.config_namespaces import namespace_problems
from lib.pulumi_api import config_entries
from settings.defaults import DEFAULTS, SECRET_KEYS
from settings.model import LOCATION_KEY, PROJECT, Settings
from settings.parse import parse_settings
from settings.reader import SettingsError


def _decode(raw: str | None, default: Any) -> Any:
    """Pulumi hands every config value over as a string: objects, lists, numbers and booleans as
    JSON. Strings stay strings (a model id is not JSON)."""
    if raw is None:
        return None
    if isinstance(default, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_settings(
    entries: Mapping[str, str],
    stack: str,
    project: str = PROJECT,
    hugging_face_token: Any = None,
    secret_keys: Collection[str] = (),
    vllm_api_key: Any = None,
    docker_hub_token: Any = None,
) -> Settings:
    """Validate raw Pulumi configuration: ``entries`` maps full keys ("vllm-azureml:owner",
    "azure-native:location") to the strings Pulumi hands a program; ``secret_keys`` are the keys
    the stack file holds encrypted.

    Every entry is judged, not only the project's: a key in a namespace nothing reads, or a
    provider key the provider does not read, is refused (lib/config_namespaces.py), since a typo
    there would leave a setting at its default while the stack file looks configured."""
    prefix = f"{project}:"
    problems = namespace_problems(entries, project, secret_keys)
    problems += [
        f"{prefix}{name}: is stored in plaintext in Pulumi.{stack}.yaml; remove it and "
        f"set it encrypted: `pulumi config set --secret {name} <value>`"
        for name in sorted(SECRET_KEYS)
        if entries.get(prefix + name) and prefix + name not in secret_keys
    ]
    if problems:
        raise SettingsError(stack, problems)
    raw: dict[str, Any] = {}
    for full_key, value in entries.items():
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        if name in SECRET_KEYS:
            continue
        raw[name] = _decode(value, DEFAULTS.get(name, ""))
    return parse_settings(
        raw,
        stack,
        entries.get(LOCATION_KEY),
        project,
        hugging_face_token=hugging_face_token,
        vllm_api_key=vllm_api_key,
        docker_hub_token=docker_hub_token,
    )


def _secret(
    entries: Mapping[str, str], secret_keys: Collection[str], project: str, name: str
) -> Any:
    """The secret setting ``name`` as a Pulumi secret, or None when it is not set (or not
    encrypted, which load_settings refuses)."""
    key = f"{project}:{name}"
    if entries.get(key) and key in secret_keys:
        return pulumi.Config().require_secret(name)
    return None


def from_pulumi() -> Settings:
    """The stack's settings, read from the running Pulumi program's configuration.

    The whole map is read, not one known key at a time as ``pulumi.Config`` would, so that unknown
    keys become errors.
    """
    project = pulumi.get_project()
    entries, secret_keys = config_entries()
    return load_settings(
        entries,
        pulumi.get_stack(),
        project,
        hugging_face_token=_secret(entries, secret_keys, project, "huggingFaceToken"),
        secret_keys=secret_keys,
        vllm_api_key=_secret(entries, secret_keys, project, "vllmApiKey"),
        docker_hub_token=_secret(entries, secret_keys, project, "dockerHubToken"),
    )
