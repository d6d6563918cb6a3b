"""Stack settings: every configuration key is read here, once, into frozen typed settings.

Nothing else in the program reads Pulumi's configuration. One job per module:

* ``model.py``: the frozen dataclasses (choices as ``Literal`` types);
* ``defaults.py``: each key's default, with the reason for it;
* ``reader.py``: typed reads with "did you mean" hints, and :class:`SettingsError`;
* ``parse.py``: :func:`parse_settings`, which runs one parser per area:
  ``parse_stack.py`` (region, resource group, ownership tags), ``parse_workspace.py``
  (protection, Key Vault, logs, registry, network), ``parse_endpoint.py`` (auth, access, name),
  ``parse_image.py`` (base image), ``parse_deployment.py`` (deployments, vLLM, probes) and
  ``parse_autoscale.py``; a new key goes into its area's parser, its default into defaults.py;
* ``rules.py``: rules that combine keys;
* ``pulumi_config.py``: the only module that touches Pulumi's config (:func:`from_pulumi`);
* ``schema.py``, ``schema_stack.py``, ``schema_deployment.py``: the settings table (key, type,
  default, allowed values, description) that ``python -m tools.schema`` generates ``Pulumi.yaml``'s
  ``config:`` block and docs/configuration.md from.

Azure's own facts and limits (regions, GPU sizes, time zones, service limits) are in lib/catalog.py.
This module re-exports the public names, so ``from settings import ...`` is all callers need.
"""

from __future__ import annotations

from lib.catalog import (
    AUTH_MODES,
    AUTOSCALE_TIME_ZONES,
    AZURE_REGIONS,
    DEPLOYMENT_NAME_PATTERN,
    ENDPOINT_NAME_PATTERN,
    FIREWALL_SKUS,
    GPU_INSTANCE_TYPES,
    HUGGING_FACE_FQDNS,
    MANAGED_NETWORK_MODES,
    NETWORK_ACCESS,
    PRINCIPAL_TYPES,
    REGISTRY_SKUS,
    RESOURCE_GROUP_PATTERN,
    WEEKDAYS,
)
from settings.defaults import (
    DEFAULT_AUTOSCALE,
    DEFAULT_BASE_IMAGE,
    DEFAULT_BASE_IMAGE_TAG,
    DEFAULT_DEPLOYMENT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_LIVENESS_PROBE,
    DEFAULT_MODEL,
    DEFAULT_PROFILE,
    DEFAULT_READINESS_PROBE,
    DEFAULT_REVISION,
    DEFAULT_VLLM,
    DEFAULTS,
    SECRET_KEYS,
)
from settings.model import (
    BASE_IMAGE_SOURCES,
    LOCATION_KEY,
    PROJECT,
    PROJECT_TAGS,
    WEIGHTS_SOURCES,
    AutoscaleSettings,
    BaseImageSource,
    DeploymentSettings,
    ProbeSettings,
    RecurrenceProfile,
    Settings,
    VllmSettings,
    WeightsSource,
)
from settings.parse import parse_settings
from settings.parse_autoscale import EMAIL_PATTERN
from settings.parse_deployment import HF_MODEL_PATTERN, VLLM_MANAGED_FLAGS
from settings.parse_image import PINNED_IMAGE_PATTERN
from settings.parse_stack import STACK_NAME_PATTERN
from settings.parse_workspace import FQDN_PATTERN
from settings.pulumi_config import from_pulumi, load_settings
from settings.reader import SettingsError
from settings.schema import Key, Section
from settings.schema_deployment import DEPLOYMENT_SECTIONS
from settings.schema_stack import STACK

# The settings table (key, type, default, allowed values, description), section by section: the
# source tools/schema.py generates Pulumi.yaml's config block and docs/configuration.md from.
SETTINGS_TABLE: tuple[Section, ...] = (STACK, *DEPLOYMENT_SECTIONS)

__all__ = [
    "AUTH_MODES",
    "AUTOSCALE_TIME_ZONES",
    "AZURE_REGIONS",
    "BASE_IMAGE_SOURCES",
    "DEFAULTS",
    "DEFAULT_AUTOSCALE",
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_BASE_IMAGE_TAG",
    "DEFAULT_DEPLOYMENT",
    "DEFAULT_INSTANCE_TYPE",
    "DEFAULT_LIVENESS_PROBE",
    "DEFAULT_MODEL",
    "DEFAULT_PROFILE",
    "DEFAULT_READINESS_PROBE",
    "DEFAULT_REVISION",
    "DEFAULT_VLLM",
    "DEPLOYMENT_NAME_PATTERN",
    "EMAIL_PATTERN",
    "ENDPOINT_NAME_PATTERN",
    "FIREWALL_SKUS",
    "FQDN_PATTERN",
    "GPU_INSTANCE_TYPES",
    "HF_MODEL_PATTERN",
    "HUGGING_FACE_FQDNS",
    "LOCATION_KEY",
    "MANAGED_NETWORK_MODES",
    "NETWORK_ACCESS",
    "PINNED_IMAGE_PATTERN",
    "PRINCIPAL_TYPES",
    "PROJECT",
    "PROJECT_TAGS",
    "REGISTRY_SKUS",
    "RESOURCE_GROUP_PATTERN",
    "SECRET_KEYS",
    "SETTINGS_TABLE",
    "STACK_NAME_PATTERN",
    "VLLM_MANAGED_FLAGS",
    "WEEKDAYS",
    "WEIGHTS_SOURCES",
    "AutoscaleSettings",
    "BaseImageSource",
    "DeploymentSettings",
    "Key",
    "ProbeSettings",
    "RecurrenceProfile",
    "Section",
    "Settings",
    "SettingsError",
    "VllmSettings",
    "WeightsSource",
    "from_pulumi",
    "load_settings",
    "parse_settings",
]
