"""The program's resource inputs, checked against Microsoft's ARM template schemas.

Mocks accept anything: a misspelt property, a wrong enum spelling, a number where ARM wants a
string, ``180s`` for an ISO 8601 duration or a name ARM's pattern refuses would pass every other
offline test and fail only in `pulumi preview` (azure-native checks the spec's patterns there) or
minutes into `pulumi up`. This test runs the program under mocks for every committed stack and for
variants that switch on the optional paths (:data:`VARIANTS`), turns each recorded azure-native
resource back into the ARM request body it stands for, and validates that body against the schemas
vendored in ``tests/arm_schemas`` (Microsoft's generated deployment-template schemas; see its
README). The endpoint body that :class:`components.traffic.EndpointTraffic` PUTs is validated too,
produced by the real provider code against an ARM that answers with the recorded endpoint.

From SDK inputs to an ARM body (:data:`ARM_SHAPES`, one row per resource type): the URL's path
parameters (``resourceGroupName``, ``workspaceName``, …) are not in the body, the resource's own
name becomes ``name``, the envelope keys (``location``, ``tags``, ``sku``, ``identity``, ``kind``)
stay at the top, and types whose SDK flattens ``properties.*`` into top-level arguments get those
put back under ``properties``. SDK names that differ from wire names are mapped back: the spec's
``x-ms-client-name`` renames (``renamed``) and azure-native's lower-camel names for wire names
that start with a capital (:func:`wire_names`). :func:`test_arm_shapes_match_the_sdk_and_the_schema`
checks each row against the SDK's Args class and the schema's resource definition.

Stricter than the schemas themselves, on purpose (each is shown to fail in ``test_*_is_caught``):

* Unknown properties are errors. Most of these schemas never say ``additionalProperties: false``,
  so a misspelt key would pass; :func:`unknown_properties` reports any key no applicable schema
  declares, following ``$ref``, ``allOf`` and the matching ``oneOf``/``anyOf`` branch. (Where the
  schemas do say it, on the base of a discriminated union, draft-04 would reject the derived
  type's own properties; that check is left to :func:`unknown_properties` too.)
* Template expressions are switched off. Nearly every field is ``oneOf [<real type>,
  expression]``, and the expression pattern ``^\\[([^\\[].*)?\\]$`` accepts any bracketed string
  (``"[16]"`` would pass for an integer). ARM request bodies carry no expressions, so the common
  ``expression`` definition is replaced by a schema nothing matches and only the real type remains.
* ``const`` and ``propertyNames`` (draft 6) are honoured: the schemas use ``const`` to pick the
  branch of a discriminated union, which a draft-04 validator would silently ignore.
* :func:`tightenings` adds rules the schemas state only in prose: ISO 8601 durations (with the
  common ``Iso8601Duration`` pattern), autoscale capacities as whole-number strings, recurrence
  days, hours, minutes and time zones, Azure Monitor's profile and rule limits, outbound rule names,
  workbook and role assignment names as UUIDs.

Values the preview does not know yet arrive as the string ``"[unknown]"``; they are wildcards
(dropped before validation) and counted. Under the mocks the program has none today, and the
variant test keeps it that way: a value hidden behind an unknown would go unchecked.

Not covered (no schema vendored for them, :data:`NOT_COVERED`): resource group, Log Analytics,
Application Insights, diagnostic settings; nor the registry import (an ARM action, not a resource
body). The schemas give no pattern for endpoint, deployment or environment names;
settings validates those.
"""

from __future__ import annotations

import copy
import functools
import gzip
import inspect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import pulumi_azure_native
import pytest
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from components.model_weights import job_body, job_name, model_version_body
from components.traffic import EndpointTrafficProvider
from lib.arm import ArmClient
from lib.catalog import PRINCIPAL_TYPES
from tests.conftest import BLUE_GREEN_WITH_MIRROR, STACKS
from tools.offline import ProgramRun, RecordedResource, run_program

SCHEMA_DIR = Path(__file__).with_name("arm_schemas")
SCHEMA_BASE_URI = "https://schema.management.azure.com/schemas/"
COMMON = "common/definitions.json"
MACHINE_LEARNING = "2026-05-01/Microsoft.MachineLearningServices.json"
INSIGHTS = "2022-10-01/Microsoft.Insights.json"
CONTAINER_REGISTRY = "2025-11-01/Microsoft.ContainerRegistry.json"
KEY_VAULT = "2026-02-01/Microsoft.KeyVault.json"
STORAGE = "2026-04-01/Microsoft.Storage.json"
# The same API versions as azure-native 3.29 sends ("Uses Azure REST API version ..." in the
# docstrings of authorization.RoleAssignment and applicationinsights.Workbook).
AUTHORIZATION = "2022-04-01/Microsoft.Authorization.json"
WORKBOOKS = "2023-06-01/Microsoft.Insights.Application.json"

UNKNOWN = "[unknown]"
ENDPOINT_TYPE = "azure-native:machinelearningservices:OnlineEndpoint"
TRAFFIC_TYPE = "pulumi-python:dynamic/traffic:EndpointTraffic"


# --- SDK inputs -> ARM request bodies ------------------------------------------------------------


@dataclass(frozen=True)
class ArmShape:
    """How one azure-native resource type's inputs map onto its ARM request body.

    ``definition`` is a JSON pointer into ``schema``: the top-level resource definition for
    top-level types, the ``*_childResource`` definition for child types, whose ``name`` is the last
    segment of the id (what the SDK input holds) rather than ``parent/child``.
    """

    schema: str
    definition: str
    name_input: str
    path_inputs: frozenset[str]
    envelope: frozenset[str]
    flattened: bool
    # SDK input -> ARM property, where the SDK uses the REST spec's x-ms-client-name.
    renamed: Mapping[str, str]


def _shape(
    schema: str,
    definition: str,
    name_input: str,
    path_inputs: set[str],
    envelope: set[str],
    *,
    flattened: bool,
    renamed: Mapping[str, str] | None = None,
) -> ArmShape:
    return ArmShape(
        schema,
        definition,
        name_input,
        frozenset(path_inputs),
        frozenset(envelope),
        flattened,
        dict(renamed or {}),
    )


TRACKED = {"location", "tags"}

# Sources: each SDK class's `_internal_init` (`__props__` keys) and Args getters in
# pulumi_azure_native 3.29.0, and the resource definition in the schema file. The SDK takes
# `properties=` for ML endpoints, deployments, environment versions and Key Vault vaults and
# secrets; it flattens the properties of workspaces, registries, cache rules, storage accounts,
# blob services, autoscale settings, role assignments and workbooks into top-level arguments.
ARM_SHAPES: dict[str, ArmShape] = {
    "azure-native:machinelearningservices:Workspace": _shape(
        MACHINE_LEARNING,
        "/resourceDefinitions/workspaces",
        "workspaceName",
        {"resourceGroupName"},
        TRACKED | {"identity", "kind", "sku"},
        flattened=True,
    ),
    ENDPOINT_TYPE: _shape(
        MACHINE_LEARNING,
        "/definitions/workspaces_onlineEndpoints_childResource",
        "endpointName",
        {"resourceGroupName", "workspaceName"},
        TRACKED | {"identity", "kind", "sku", "properties"},
        flattened=False,
    ),
    "azure-native:machinelearningservices:OnlineDeployment": _shape(
        MACHINE_LEARNING,
        "/definitions/workspaces_onlineEndpoints_deployments_childResource",
        "deploymentName",
        {"resourceGroupName", "workspaceName", "endpointName"},
        TRACKED | {"identity", "kind", "sku", "properties"},
        flattened=False,
    ),
    # `name` is the environment (container) name, a path parameter; the version is the resource.
    "azure-native:machinelearningservices:EnvironmentVersion": _shape(
        MACHINE_LEARNING,
        "/definitions/workspaces_environments_versions_childResource",
        "version",
        {"resourceGroupName", "workspaceName", "name"},
        {"properties"},
        flattened=False,
    ),
    # `autoscaleSettingName` is the resource name; `name` is ARM's `properties.name`.
    "azure-native:monitor:AutoscaleSetting": _shape(
        INSIGHTS,
        "/resourceDefinitions/autoscalesettings",
        "autoscaleSettingName",
        {"resourceGroupName"},
        TRACKED,
        flattened=True,
    ),
    "azure-native:containerregistry:Registry": _shape(
        CONTAINER_REGISTRY,
        "/resourceDefinitions/registries",
        "registryName",
        {"resourceGroupName"},
        TRACKED | {"identity", "sku"},
        flattened=True,
    ),
    "azure-native:containerregistry:CacheRule": _shape(
        CONTAINER_REGISTRY,
        "/definitions/registries_cacheRules_childResource",
        "cacheRuleName",
        {"resourceGroupName", "registryName"},
        set(),
        flattened=True,
    ),
    "azure-native:keyvault:Vault": _shape(
        KEY_VAULT,
        "/resourceDefinitions/vaults",
        "vaultName",
        {"resourceGroupName"},
        TRACKED | {"properties"},
        flattened=False,
    ),
    "azure-native:keyvault:Secret": _shape(
        KEY_VAULT,
        "/definitions/vaults_secrets_childResource",
        "secretName",
        {"resourceGroupName", "vaultName"},
        {"tags", "properties"},
        flattened=False,
    ),
    "azure-native:storage:StorageAccount": _shape(
        STORAGE,
        "/resourceDefinitions/storageAccounts",
        "accountName",
        {"resourceGroupName"},
        TRACKED | {"extendedLocation", "identity", "kind", "sku"},
        flattened=True,
        # The SDK names these after the spec's x-ms-client-name; the wire name is ARM's (same
        # description in both, checked below).
        renamed={
            "enableHttpsTrafficOnly": "supportsHttpsTrafficOnly",
            "enableNfsV3": "isNfsV3Enabled",
            "networkRuleSet": "networkAcls",
        },
    ),
    "azure-native:storage:BlobServiceProperties": _shape(
        STORAGE,
        "/definitions/storageAccounts_blobServices_childResource",
        "blobServicesName",
        {"resourceGroupName", "accountName"},
        set(),
        flattened=True,
    ),
    # An extension resource: `scope` is the URL's prefix ({scope}/providers/Microsoft.Authorization/
    # roleAssignments/{name}), never in the body; the schema has no envelope keys.
    "azure-native:authorization:RoleAssignment": _shape(
        AUTHORIZATION,
        "/resourceDefinitions/roleAssignments",
        "roleAssignmentName",
        {"scope"},
        set(),
        flattened=True,
    ),
    # `resourceName` is the workbook's name (a UUID); its `tags` are the resource's, not the
    # deprecated string list `properties.tags`.
    "azure-native:applicationinsights:Workbook": _shape(
        WORKBOOKS,
        "/resourceDefinitions/workbooks",
        "resourceName",
        {"resourceGroupName"},
        TRACKED | {"identity", "kind"},
        flattened=True,
    ),
}

# azure-native types the program declares whose provider namespace or resource type is not in the
# vendored files. Adding a type to the program forces a decision here.
NOT_COVERED = {
    "azure-native:resources:ResourceGroup": "Microsoft.Resources is not vendored",
    "azure-native:operationalinsights:Workspace": "Microsoft.OperationalInsights is not vendored",
    "azure-native:applicationinsights:Component": (
        "Microsoft.Insights/components is not in 2022-10-01/Microsoft.Insights.json"
    ),
    "azure-native:monitor:DiagnosticSetting": (
        "Microsoft.Insights/diagnosticSettings is not in 2022-10-01/Microsoft.Insights.json"
    ),
}

# SDK inputs (API versions of azure-native 3.29) that the vendored schema version does not declare
# where the mapping says they go. Empty unless a version difference needs naming.
SDK_ONLY_INPUTS: dict[str, frozenset[str]] = {}


@dataclass
class ArmBody:
    """One resource's ARM request body, the inputs left out because they were unknown, and the
    SDK names turned into wire names."""

    resource: str
    type: str
    shape: ArmShape
    document: dict[str, Any]
    wildcards: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)


def without_unknowns(value: Any, path: str, wildcards: list[str]) -> Any:
    """``value`` without the preview's ``"[unknown]"`` placeholders; their paths go to
    ``wildcards``."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if item == UNKNOWN:
                wildcards.append(where)
            else:
                kept[key] = without_unknowns(item, where, wildcards)
        return kept
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            if item == UNKNOWN:
                wildcards.append(f"{path}.{index}")
            else:
                items.append(without_unknowns(item, f"{path}.{index}", wildcards))
        return items
    return value


def arm_body(type_token: str, inputs: Mapping[str, Any], resource: str = "") -> ArmBody:
    """The ARM request body (as a template resource: type, apiVersion, name, …) for recorded SDK
    ``inputs`` of ``type_token``."""
    shape = ARM_SHAPES[type_token]
    wildcards: list[str] = []
    remaining = without_unknowns(dict(inputs), "", wildcards)
    definition = schema_node(shape.schema, shape.definition)
    document: dict[str, Any] = {
        "type": definition["properties"]["type"]["enum"][0],
        "apiVersion": definition["properties"]["apiVersion"]["enum"][0],
    }
    if shape.name_input in remaining:
        document["name"] = remaining.pop(shape.name_input)
    for key in shape.path_inputs:
        remaining.pop(key, None)
    properties: dict[str, Any] = {}
    for sdk_key, value in remaining.items():
        key = shape.renamed.get(sdk_key, sdk_key)
        if key in shape.envelope:
            document[key] = value
        elif shape.flattened:
            properties[key] = value
        else:
            # Neither path nor envelope: left at the top, where the strict check reports it.
            document[key] = value
    if shape.flattened:
        document["properties"] = properties
    renamed: list[str] = []
    uri = SCHEMA_BASE_URI + shape.schema
    document = wire_names([(uri, shape.definition)], document, (), renamed)
    return ArmBody(resource, type_token, shape, document, wildcards, renamed)


# --- Schemas -------------------------------------------------------------------------------------

# Replaces the common `expression` definition: request bodies carry no template expressions, so a
# value must satisfy the real branch of every `oneOf [<type>, expression]`.
NO_EXPRESSIONS = {
    "not": {},
    "description": "Template expressions are not valid in ARM request bodies (this test).",
}
ISO_8601_DURATION = {"$ref": f"{SCHEMA_BASE_URI}{COMMON}#/definitions/Iso8601Duration"}
WHOLE_NUMBER = {"type": "string", "pattern": "^[0-9]+$"}
UUID = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}


@dataclass(frozen=True)
class Tightening:
    """A rule a schema states only in prose, added to the property schema at ``pointer`` (with
    ``allOf``, so the original still applies)."""

    schema: str
    pointer: str
    rule: dict[str, Any]
    source: str


def _recurrence_time_zones() -> list[str]:
    """The Windows time zone ids listed in RecurrentSchedule.timeZone's description."""
    description = schema_document_raw(INSIGHTS)["definitions"]["RecurrentSchedule"]["properties"][
        "timeZone"
    ]["description"]
    return [zone.strip() for zone in description.split("are: ", 1)[1].split(",")]


def tightenings() -> list[Tightening]:
    probe = "/definitions/ProbeSettings/properties"
    request = "/definitions/OnlineRequestSettings/properties"
    schedule = "/definitions/RecurrentSchedule/properties"
    capacity = "/definitions/ScaleCapacity/properties"
    iso = "description: '... in ISO 8601 format'"
    return [
        *(
            Tightening(MACHINE_LEARNING, f"{probe}/{key}", ISO_8601_DURATION, iso)
            for key in ("initialDelay", "period", "timeout")
        ),
        *(
            Tightening(MACHINE_LEARNING, f"{request}/{key}", ISO_8601_DURATION, iso)
            for key in ("requestTimeout", "maxQueueWait")
        ),
        *(
            Tightening(
                INSIGHTS,
                f"/definitions/MetricTrigger/properties/{key}",
                ISO_8601_DURATION,
                "Azure Monitor autoscale REST API: a duration, 1 minute to 12 hours",
            )
            for key in ("timeGrain", "timeWindow")
        ),
        Tightening(
            INSIGHTS, "/definitions/ScaleAction/properties/cooldown", ISO_8601_DURATION, iso
        ),
        *(
            Tightening(INSIGHTS, f"{capacity}/{key}", WHOLE_NUMBER, "a number of instances")
            for key in ("minimum", "maximum", "default")
        ),
        Tightening(
            INSIGHTS,
            "/definitions/ScaleAction/properties/value",
            {"type": "string", "pattern": "^[1-9][0-9]*$"},
            "description: 'This value must be 1 or greater'",
        ),
        Tightening(
            INSIGHTS,
            "/definitions/AutoscaleSetting/properties/profiles",
            {"maxItems": 20},
            "description: 'A maximum of 20 profiles can be specified'",
        ),
        Tightening(
            INSIGHTS,
            "/definitions/AutoscaleProfile/properties/rules",
            {"maxItems": 10},
            "description: 'A maximum of 10 rules can be specified'",
        ),
        Tightening(
            INSIGHTS,
            f"{schedule}/days",
            {
                "items": {
                    "enum": [
                        "Sunday",
                        "Monday",
                        "Tuesday",
                        "Wednesday",
                        "Thursday",
                        "Friday",
                        "Saturday",
                    ]
                }
            },
            "description: 'Possible values are Sunday through Saturday'",
        ),
        Tightening(
            INSIGHTS,
            f"{schedule}/hours",
            {"items": {"minimum": 0, "maximum": 23}},
            "description: 'Values supported are 0 to 23'",
        ),
        Tightening(
            INSIGHTS,
            f"{schedule}/minutes",
            {"items": {"minimum": 0, "maximum": 59}},
            "minutes of an hour",
        ),
        Tightening(
            INSIGHTS,
            f"{schedule}/timeZone",
            {"enum": _recurrence_time_zones()},
            "description: the Windows time zone ids it lists",
        ),
        Tightening(
            MACHINE_LEARNING,
            "/definitions/ManagedNetworkSettings/properties/outboundRules",
            {
                "propertyNames": schema_document_raw(MACHINE_LEARNING)["resourceDefinitions"][
                    "workspaces_outboundRules"
                ]["properties"]["name"]["oneOf"][0]
            },
            "each key is a workspaces/outboundRules name (its resource definition's pattern)",
        ),
        Tightening(
            WORKBOOKS,
            "/resourceDefinitions/workbooks/properties/name",
            UUID,
            "description: 'The value must be an UUID'",
        ),
        Tightening(
            AUTHORIZATION,
            "/resourceDefinitions/roleAssignments/properties/name",
            UUID,
            "the SDK's roleAssignmentName docstring (the REST spec's description): 'It can be "
            "any valid GUID'",
        ),
    ]


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _at(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.split("/")[1:] if pointer else []:
        node = node[int(token)] if isinstance(node, list) else node[_unescape(token)]
    return node


def vendored_files() -> list[str]:
    """The vendored schemas by their path under schemas/ (stored gzip-compressed, ``*.json.gz``)."""
    return sorted(
        path.relative_to(SCHEMA_DIR).as_posix().removesuffix(".gz")
        for path in SCHEMA_DIR.rglob("*.json.gz")
    )


@functools.cache
def schema_document_raw(relative: str) -> dict[str, Any]:
    """A vendored schema file exactly as Microsoft publishes it (gzip keeps the repository small
    and keeps Microsoft's prose, which quotes example image tags, out of text searches)."""
    return json.loads(gzip.decompress((SCHEMA_DIR / f"{relative}.gz").read_bytes()))


def _drop_closed_objects(node: Any) -> None:
    """Remove ``additionalProperties: false`` everywhere: :func:`unknown_properties` enforces it.

    The generator puts it on the base of discriminated unions (``allOf [base, oneOf [derived,
    …]]``), where draft-04 applies it to the base alone and so rejects every property only a
    derived type declares (an FQDN outbound rule's ``destination``); the unknown-property check
    reads it as meant, across the whole union.
    """
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            del node["additionalProperties"]
        for value in node.values():
            _drop_closed_objects(value)
    elif isinstance(node, list):
        for value in node:
            _drop_closed_objects(value)


@functools.cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """Every vendored schema by its id URI, with expressions switched off and the tightenings
    applied (in memory: the vendored files stay verbatim)."""
    documents = {
        relative: copy.deepcopy(schema_document_raw(relative)) for relative in vendored_files()
    }
    documents[COMMON]["definitions"]["expression"] = NO_EXPRESSIONS
    for document in documents.values():
        _drop_closed_objects(document)
    for tightening in tightenings():
        parent_pointer, _, key = tightening.pointer.rpartition("/")
        parent = _at(documents[tightening.schema], parent_pointer)
        parent[_unescape(key)] = {"allOf": [parent[_unescape(key)], tightening.rule]}
    return {SCHEMA_BASE_URI + relative: document for relative, document in documents.items()}


def schema_node(relative: str, pointer: str) -> Any:
    return _at(schema_documents()[SCHEMA_BASE_URI + relative], pointer)


# Draft 4, as the files declare, plus the two draft-6 keywords they (or the tightenings) use.
ArmValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {
        "const": jsonschema.Draft6Validator.VALIDATORS["const"],
        "propertyNames": jsonschema.Draft6Validator.VALIDATORS["propertyNames"],
    },
)


@functools.cache
def registry() -> Registry:
    """The vendored schemas under their published URIs; nothing is fetched (an unknown URI fails)."""
    return Registry().with_resources(
        (uri, Resource.from_contents(document)) for uri, document in schema_documents().items()
    )


@functools.cache
def validator(uri: str, pointer: str) -> Validator:
    """A compiled validator for the schema at ``uri#pointer``, one per location per session."""
    return ArmValidator({"$ref": f"{uri}#{pointer}"}, registry=registry())


# --- Unknown properties --------------------------------------------------------------------------

Location = tuple[str, str]


@dataclass
class _Declared:
    """What the schemas that apply to one object say about its keys."""

    declared: bool = False
    open: bool = False
    properties: dict[str, list[Location]] = field(default_factory=dict)
    additional: list[Location] = field(default_factory=list)
    items: list[Location] = field(default_factory=list)


def _dereference(location: Location) -> tuple[Location, Any]:
    uri, pointer = location
    node = _at(schema_documents()[uri], pointer)
    while isinstance(node, dict) and "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        uri = target or uri
        node = _at(schema_documents()[uri], pointer)
    return (uri, pointer), node


def _gather(location: Location, instance: Any, declared: _Declared) -> None:
    (uri, pointer), node = _dereference(location)
    if not isinstance(node, dict):
        return
    if "properties" in node:
        declared.declared = True
        for key in node["properties"]:
            declared.properties.setdefault(key, []).append(
                (uri, f"{pointer}/properties/{_escape(key)}")
            )
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        declared.open = True
        declared.additional.append((uri, f"{pointer}/additionalProperties"))
    elif extra is True:
        declared.open = True
    if isinstance(node.get("items"), dict):
        declared.items.append((uri, f"{pointer}/items"))
    for index in range(len(node.get("allOf", []))):
        _gather((uri, f"{pointer}/allOf/{index}"), instance, declared)
    for keyword in ("oneOf", "anyOf"):
        branches = [
            branch
            for index in range(len(node.get(keyword, [])))
            if _dereference(branch := (uri, f"{pointer}/{keyword}/{index}"))[1] != NO_EXPRESSIONS
        ]
        # Of a union (the Managed or Kubernetes side of a deployment), only the branch the value
        # is; all of them when none fits, which the validator reports anyway.
        if len(branches) > 1:
            branches = [b for b in branches if validator(*b).is_valid(instance)] or branches
        for branch in branches:
            _gather(branch, instance, declared)


def unknown_properties(
    locations: list[Location], instance: Any, path: tuple[str, ...] = ()
) -> Iterator[str]:
    """Keys of ``instance`` (recursively) that no schema at ``locations`` declares, where those
    schemas list their properties and allow no others."""
    declared = _Declared()
    for location in locations:
        _gather(location, instance, declared)
    if isinstance(instance, dict):
        for key, value in instance.items():
            where = (*path, key)
            if key in declared.properties:
                yield from unknown_properties(declared.properties[key], value, where)
            elif declared.open or not declared.declared:
                yield from unknown_properties(declared.additional, value, where)
            else:
                yield f"{'.'.join(where)}: unknown property (not in the schema)"
    elif isinstance(instance, list):
        for index, item in enumerate(instance):
            yield from unknown_properties(declared.items, item, (*path, str(index)))


def wire_names(
    locations: list[Location], instance: Any, path: tuple[str, ...], renamed: list[str]
) -> Any:
    """``instance`` with SDK property names turned into wire names where they differ by case.

    azure-native names every SDK property in lower camel case (``ToLowerCamel`` of the wire name)
    and keeps the wire name in its metadata (``sdkName``, provider/pkg/resources/resources.go), so
    Azure Monitor's ``DimensionName`` arrives here as ``dimensionName``. A key is renamed only
    where the schema declares the capitalised name and not the recorded one.
    """
    declared = _Declared()
    for location in locations:
        _gather(location, instance, declared)
    if isinstance(instance, dict):
        result = {}
        for key, value in instance.items():
            wire = key
            capitalised = key[:1].upper() + key[1:]
            if key not in declared.properties and capitalised in declared.properties:
                wire = capitalised
                renamed.append(".".join((*path, key)))
            if wire in declared.properties:
                children = declared.properties[wire]
            else:
                children = declared.additional
            result[wire] = wire_names(children, value, (*path, wire), renamed)
        return result
    if isinstance(instance, list):
        return [
            wire_names(declared.items, item, (*path, str(index)), renamed)
            for index, item in enumerate(instance)
        ]
    return instance


# --- Validation ----------------------------------------------------------------------------------


def _is_expression_branch(error: jsonschema.ValidationError) -> bool:
    return error.validator == "not" and error.validator_value == {}


def _leaves(error: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    """The specific failures under a ``oneOf``/``anyOf``/``allOf`` error, without the switched-off
    expression branch."""
    branches = [sub for sub in error.context or [] if not _is_expression_branch(sub)]
    if not branches:
        yield error
        return
    for sub in branches:
        yield from _leaves(sub)


def problems(body: ArmBody) -> list[str]:
    """Every way ``body`` breaks its schema, one line each: resource, property path, problem."""
    uri = SCHEMA_BASE_URI + body.shape.schema
    found: set[str] = set()
    for error in validator(uri, body.shape.definition).iter_errors(body.document):
        for leaf in _leaves(error):
            where = ".".join(str(part) for part in leaf.absolute_path) or "(body)"
            found.add(f"{where}: {leaf.message} [{leaf.validator}]")
    found.update(unknown_properties([(uri, body.shape.definition)], body.document))
    return [f"{body.resource} ({body.type}) {line}" for line in sorted(found)]


# --- The program's bodies ------------------------------------------------------------------------

HUGGING_FACE_TOKEN = {
    "huggingFaceToken": {"secure": "v1:encrypted-in-the-stack-file"},
    # Deployments read a token only on the Hub path: staging refuses gated models (ADR 0030).
    "weightsSource": "huggingface",
}
AUTOSCALED_WITH_PROFILES = [
    {
        "name": "blue",
        "traffic": 100,
        "instanceCount": 2,
        "autoscale": {
            "enabled": True,
            "minInstances": 2,
            "defaultInstances": 2,
            "maxInstances": 8,
            "metricsMode": "platform",
            "timeZone": "W. Europe Standard Time",
            "profiles": [
                {
                    "name": "night",
                    "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                    "start": "22:30",
                    "minInstances": 1,
                    "defaultInstances": 1,
                    "maxInstances": 2,
                },
                {
                    "name": "day",
                    "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                    "start": "07:00",
                    "minInstances": 2,
                    "defaultInstances": 2,
                    "maxInstances": 8,
                },
            ],
            "notifyEmails": ["ml-platform@example.com"],
            "notifyWebhooks": ["https://example.invalid/hooks/scale?sig=token"],
        },
    }
]

# Each committed stack, plus variants that reach the optional paths: (stack, overrides).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{stack: (stack, {}) for stack in STACKS},
    "blue-green-mirror": ("dev", {"deployments": BLUE_GREEN_WITH_MIRROR}),
    "hugging-face-token": ("prod", HUGGING_FACE_TOKEN),
    "autoscale-profiles-notifications": ("dev", {"deployments": AUTOSCALED_WITH_PROFILES}),
    "approved-outbound-private": (
        "dev",
        {
            "managedNetwork": "AllowOnlyApprovedOutbound",
            "firewallSku": "Basic",
            "publicNetworkAccess": "Disabled",
        },
    ),
    "no-managed-network": ("prod", {"managedNetwork": "Disabled", "registrySku": "Standard"}),
    "cache-rule": ("dev", {"baseImageSource": "cacheRule", "dockerHubCredentialSet": "docker-hub"}),
}


@functools.cache
def _variant_run(variant: str) -> ProgramRun:
    """One program run per variant per session: the tests below only read it (they copy before
    they mutate), and re-running the program for each mutation would make this file slow."""
    stack, overrides = VARIANTS[variant]
    return run_program(stack, overrides=overrides, preview=True)


class _RecordingArm(ArmClient):
    """Answers the traffic provider's GET with the endpoint as ARM would return it and keeps the
    PUT body it sends."""

    def __init__(self, endpoint: dict[str, Any]):
        super().__init__()
        self.endpoint = endpoint
        self.sent: list[dict[str, Any]] = []

    def get(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.endpoint)

    def put(self, resource_id: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(copy.deepcopy(body))
        return body


def traffic_bodies(program_run: ProgramRun) -> list[ArmBody]:
    """The endpoint PUT body that each EndpointTraffic sends (the real provider code, against an
    ARM that returns the recorded endpoint with the fields ARM adds)."""
    bodies = []
    for traffic in program_run.of_type(TRAFFIC_TYPE):
        endpoint = program_run.one(ENDPOINT_TYPE)
        declared = arm_body(ENDPOINT_TYPE, endpoint.inputs, endpoint.name).document
        as_read = {
            **{key: value for key, value in declared.items() if key != "apiVersion"},
            "id": traffic.inputs["endpoint_id"],
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "systemData": {"createdBy": "someone", "createdByType": "User"},
            "identity": {**endpoint.outputs.get("identity", {}), **declared.get("identity", {})},
            "properties": {
                **endpoint.outputs.get("properties", {}),
                **declared["properties"],
                "traffic": {},
                "mirrorTraffic": {},
            },
        }
        arm = _RecordingArm(as_read)
        EndpointTrafficProvider(client_factory=lambda arm=arm: arm).create(dict(traffic.inputs))
        (sent,) = arm.sent
        document = {key: declared[key] for key in ("type", "apiVersion", "name")} | sent
        bodies.append(
            ArmBody(traffic.name, f"{TRAFFIC_TYPE} PUT", ARM_SHAPES[ENDPOINT_TYPE], document)
        )
    return bodies


# The staging provider's own ARM calls (components/model_weights.py): its job and the model version.
WEIGHTS_TYPE = "pulumi-python:dynamic/model_weights:ModelWeights"
JOB_SHAPE = _shape(
    MACHINE_LEARNING,
    "/definitions/workspaces_jobs_childResource",
    "",
    set(),
    set(),
    flattened=False,
)
MODEL_VERSION_SHAPE = _shape(
    MACHINE_LEARNING,
    "/definitions/workspaces_models_versions_childResource",
    "",
    set(),
    set(),
    flattened=False,
)


def weights_bodies(name: str, props: Mapping[str, Any]) -> list[ArmBody]:
    """The job PUT and the model-version PUT that staging ``props`` sends."""
    bodies = []
    for label, shape, document, resource_name in (
        ("job PUT", JOB_SHAPE, job_body(props), job_name(props["model"], props["revision"], 1)),
        ("version PUT", MODEL_VERSION_SHAPE, model_version_body(props, "stage-1"), "74fbf131a939"),
    ):
        definition = schema_node(shape.schema, shape.definition)
        envelope = {
            "type": definition["properties"]["type"]["enum"][0],
            "apiVersion": definition["properties"]["apiVersion"]["enum"][0],
            "name": resource_name,
        }
        bodies.append(ArmBody(name, f"{WEIGHTS_TYPE} {label}", shape, envelope | document))
    return bodies


STAGING_PROPS = {
    "workspace_id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w",
    "model": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "revision": "74fbf131a939963dd1e244389bb61ad0d0440a4d",
    "environment_id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/environments/vllm/versions/1",
    "tags": {"stack": "dev"},
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "identity_client_id": "11111111-2222-3333-4444-555555555555",
            "token_secret_uri": "https://kv.vault.azure.net/secrets/hugging-face-token/1",
        },
    ],
    ids=["public-model", "gated-model"],
)
def test_staging_bodies_match_their_arm_schemas(extra: dict[str, Any]) -> None:
    bodies = weights_bodies("weights", {**STAGING_PROPS, **extra})
    found = [line for body in bodies for line in problems(body)]
    assert not found, "\n".join(found)


def test_a_wrong_staging_body_is_caught() -> None:
    job, version = weights_bodies("weights", STAGING_PROPS)
    job.document["properties"]["outputs"]["weights"]["jobOutputType"] = "folder"
    version.document["properties"]["modelUrl"] = "typo"
    assert any("jobOutputType" in line for line in problems(job))
    assert any("modelUrl" in line for line in problems(version))


def covered_bodies(program_run: ProgramRun) -> list[ArmBody]:
    staging = [
        body
        for weights in program_run.of_type(WEIGHTS_TYPE)
        for body in weights_bodies(weights.name, weights.inputs)
    ]
    return (
        [
            arm_body(resource.type, resource.inputs, resource.name)
            for resource in program_run.resources
            if resource.type in ARM_SHAPES
        ]
        + traffic_bodies(program_run)
        + staging
    )


# --- Tests: the program --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_resource_body_matches_its_arm_schema(variant: str) -> None:
    bodies = covered_bodies(_variant_run(variant))
    found = [line for body in bodies for line in problems(body)]
    assert not found, "\n".join(found)
    # A body made of wildcards proves nothing: the mocks answer every output, so nothing the
    # program declares should be unknown even in a preview.
    wildcards = [f"{body.resource}: {path}" for body in bodies for path in body.wildcards]
    assert not wildcards, wildcards


def test_the_variants_reach_every_covered_type() -> None:
    declared = {
        resource.type for variant in VARIANTS for resource in _variant_run(variant).resources
    }
    assert set(ARM_SHAPES) | {TRAFFIC_TYPE, WEIGHTS_TYPE} <= declared


def test_every_azure_native_type_is_validated_or_named_as_not_covered() -> None:
    declared = {
        resource.type
        for variant in VARIANTS
        for resource in _variant_run(variant).resources
        if resource.type.startswith("azure-native:")
    }
    assert declared <= set(ARM_SHAPES) | set(NOT_COVERED)
    assert not set(ARM_SHAPES) & set(NOT_COVERED)


def test_variants_exercise_what_they_are_named_for() -> None:
    def one(variant: str, type_token: str) -> RecordedResource:
        return _variant_run(variant).one(type_token)

    traffic = one("blue-green-mirror", TRAFFIC_TYPE)
    assert traffic.inputs["mirror_traffic"] == {"green": 20}
    assert one("hugging-face-token", "azure-native:keyvault:Secret").input("properties.value")
    setting = one("autoscale-profiles-notifications", "azure-native:monitor:AutoscaleSetting")
    assert len(setting.input("profiles")) == 3
    assert setting.input("notifications.0.email.customEmails")
    assert setting.input("notifications.0.webhooks.0.serviceUri")
    workspace = "azure-native:machinelearningservices:Workspace"
    assert one("approved-outbound-private", workspace).input("managedNetwork.outboundRules")
    assert one("no-managed-network", workspace).input("managedNetwork.isolationMode") == "Disabled"
    assert one("cache-rule", "azure-native:containerregistry:CacheRule")


# --- Tests: the mapping --------------------------------------------------------------------------


def _sdk_descriptions(type_token: str) -> dict[str, str]:
    """A resource type's SDK inputs by wire (camelCase) name, with their docstrings, from its
    Args class; checked against the resource's ``_internal_init`` arguments."""
    module, name = type_token.split(":")[1:]
    args_class = getattr(getattr(pulumi_azure_native, module), f"{name}Args")
    resource_class = getattr(getattr(pulumi_azure_native, module), name)
    parameters = set(inspect.signature(resource_class._internal_init).parameters) - {
        "__self__",
        "resource_name",
        "opts",
        "__props__",
    }
    # An input that collides with Pulumi's own argument gets a trailing underscore there only
    # (the workbook's `resource_name_`; its Args property is `resource_name`).
    internal = {name.removesuffix("_") for name in parameters}
    getters = {
        python: prop.fget for python, prop in vars(args_class).items() if isinstance(prop, property)
    }
    assert internal == set(getters), f"{type_token}: Args and _internal_init disagree"
    return {
        getattr(getter, "_pulumi_name", python): inspect.getdoc(getter) or ""
        for python, getter in getters.items()
    }


def _sdk_inputs(type_token: str) -> set[str]:
    return set(_sdk_descriptions(type_token))


def _declared_keys(uri: str, pointer: str) -> set[str]:
    declared = _Declared()
    _gather((uri, pointer), {}, declared)
    return set(declared.properties)


def _properties_definition(uri: str, definition: str) -> str:
    """The pointer of the definition a resource's ``properties`` refers to."""
    (target, pointer), _ = _dereference((uri, f"{definition}/properties/properties/oneOf/0"))
    assert target == uri
    return pointer


@pytest.mark.parametrize("type_token", sorted(ARM_SHAPES))
def test_arm_shapes_match_the_sdk_and_the_schema(type_token: str) -> None:
    shape = ARM_SHAPES[type_token]
    uri = SCHEMA_BASE_URI + shape.schema
    sdk = _sdk_inputs(type_token)
    top_level = _declared_keys(uri, shape.definition)
    assert shape.name_input in sdk
    assert shape.path_inputs <= sdk
    assert shape.envelope <= sdk
    assert shape.envelope <= top_level - {"name", "type", "apiVersion"}
    body_inputs = sdk - shape.path_inputs - {shape.name_input} - shape.envelope
    if shape.flattened:
        assert "properties" not in sdk
        properties_pointer = _properties_definition(uri, shape.definition)
        properties = _declared_keys(uri, properties_pointer)
        descriptions = _sdk_descriptions(type_token)
        for sdk_name, arm_name in shape.renamed.items():
            # The same property under two names: the SDK's docstring is the spec's description.
            arm_description = schema_node(
                shape.schema, f"{properties_pointer}/properties/{arm_name}"
            )
            assert descriptions[sdk_name] == arm_description["description"], sdk_name
        wire = {shape.renamed.get(name, name) for name in body_inputs}
        missing = wire - properties - SDK_ONLY_INPUTS.get(type_token, frozenset())
        assert not missing, f"SDK inputs the schema's properties do not declare: {missing}"
    else:
        assert not body_inputs, f"SDK inputs neither path, envelope nor properties: {body_inputs}"


def test_every_vendored_file_is_used_and_verbatim() -> None:
    used = {shape.schema for shape in ARM_SHAPES.values()} | {COMMON}
    on_disk = set(vendored_files())
    assert used == on_disk
    for relative in on_disk:
        # Microsoft's id matches where the file sits, so $refs resolve to the vendored copies.
        assert schema_document_raw(relative)["id"] == f"{SCHEMA_BASE_URI}{relative}#"


def test_no_reference_leaves_the_vendored_files() -> None:
    references = set()
    for document in schema_documents().values():
        references.update(re.findall(r'"\$ref": "([^"#]*)#', json.dumps(document)))
    assert references - {""} <= set(schema_documents())


# --- Tests: the validator catches what it should -------------------------------------------------


def _body(variant: str, type_token: str) -> ArmBody:
    program_run = _variant_run(variant)
    if type_token == TRAFFIC_TYPE:
        (body,) = traffic_bodies(program_run)
        return body
    resource = program_run.of_type(type_token)[0]
    return arm_body(type_token, resource.inputs, resource.name)


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
ENVIRONMENT = "azure-native:machinelearningservices:EnvironmentVersion"
REGISTRY = "azure-native:containerregistry:Registry"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
WORKBOOK = "azure-native:applicationinsights:Workbook"

# (variant, type, path in the ARM body, wrong value, what the report must say)
MUTATIONS = [
    ("dev", ENDPOINT_TYPE, "properties.authMode", "key", "properties.authMode: 'key' is not one"),
    ("dev", DEPLOYMENT, "properties.requestSettings.requestTimeout", "180s", "does not match"),
    ("dev", DEPLOYMENT, "properties.livenessProbe.initialDelay", "600", "does not match"),
    ("dev", DEPLOYMENT, "properties.readinessProbe.period", "PT10", "does not match"),
    ("dev", DEPLOYMENT, "sku.capacity", "2", "'2' is not of type 'integer'"),
    # Bracketed like an ARM expression: still the wrong type.
    (
        "dev",
        DEPLOYMENT,
        "properties.requestSettings.maxConcurrentRequestsPerInstance",
        "[16]",
        "'[16]' is not of type 'integer'",
    ),
    ("dev", DEPLOYMENT, "properties.endpointComputeType", "managed", "endpointComputeType"),
    ("dev", DEPLOYMENT, "properties.appInsightsEnabled", "true", "is not of type 'boolean'"),
    ("dev", ENVIRONMENT, "properties.inferenceConfig.scoringRoute.path", "/", "does not match"),
    ("dev", ENVIRONMENT, "properties.inferenceConfig.livenessRoute.port", "8000", "'integer'"),
    ("dev", REGISTRY, "properties.adminUserEnabled", "no", "'no' is not of type 'boolean'"),
    ("dev", REGISTRY, "sku.name", "premium", "'premium' is not one of"),
    ("dev", REGISTRY, "name", "cr-vllm-dev", "'cr-vllm-dev' does not match"),
    ("dev", STORAGE_ACCOUNT, "properties.minimumTlsVersion", "TLS1.2", "'TLS1.2' is not one of"),
    ("dev", STORAGE_ACCOUNT, "name", "stVllmDev", "'stVllmDev' does not match"),
    ("dev", STORAGE_ACCOUNT, "kind", "StorageV3", "'StorageV3' is not one of"),
    (
        "dev",
        "azure-native:storage:BlobServiceProperties",
        "properties.deleteRetentionPolicy.days",
        400,
        "400 is greater than the maximum of 365",
    ),
    ("dev", "azure-native:keyvault:Vault", "properties.sku.name", "Standard", "is not one of"),
    ("dev", "azure-native:keyvault:Vault", "properties.sku.family", "B", "is not one of"),
    ("dev", WORKSPACE, "name", "mlw.vllm", "'mlw.vllm' does not match"),
    ("dev", WORKSPACE, "name", "m" * 34, "does not match"),
    ("dev", WORKSPACE, "properties.managedNetwork.isolationMode", "AllowInternet", "is not one"),
    ("dev", WORKSPACE, "properties.systemDatastoresAuthMode", "identity", "is not one of"),
    (
        "prod",
        WORKSPACE,
        "properties.managedNetwork.outboundRules.fqdn-huggingface-co.type",
        "Fqdn",
        "type",
    ),
    (
        "cache-rule",
        "azure-native:containerregistry:CacheRule",
        "name",
        "vllm_openai",
        "does not match",
    ),
    ("prod", AUTOSCALE, "properties.profiles.0.capacity.minimum", 2, "2 is not of type 'string'"),
    ("prod", AUTOSCALE, "properties.profiles.0.capacity.maximum", "six", "does not match"),
    (
        "prod",
        AUTOSCALE,
        "properties.profiles.0.rules.0.metricTrigger.operator",
        "GreaterThen",
        "is not one of",
    ),
    (
        "prod",
        AUTOSCALE,
        "properties.profiles.0.rules.0.metricTrigger.timeGrain",
        "1m",
        "does not match",
    ),
    (
        "prod",
        AUTOSCALE,
        "properties.profiles.0.rules.0.scaleAction.cooldown",
        "20 minutes",
        "does not match",
    ),
    ("prod", AUTOSCALE, "properties.profiles.0.rules.0.scaleAction.value", "0", "does not match"),
    (
        "prod",
        AUTOSCALE,
        "properties.profiles.0.rules.0.metricTrigger.threshold",
        "60000",
        "'number'",
    ),
    ("prod", AUTOSCALE, "properties.profiles.1.recurrence.schedule.days.0", "Mon", "is not one of"),
    ("prod", AUTOSCALE, "properties.profiles.1.recurrence.schedule.hours.0", 24, "maximum of 23"),
    (
        "prod",
        AUTOSCALE,
        "properties.profiles.1.recurrence.schedule.timeZone",
        "America/New_York",
        "is not one of",
    ),
    ("prod", AUTOSCALE, "properties.enabled", "true", "is not of type 'boolean'"),
    ("blue-green-mirror", TRAFFIC_TYPE, "properties.mirrorTraffic.green", "20", "'integer'"),
    ("hugging-face-token", "azure-native:keyvault:Secret", "properties.value", 42, "'string'"),
    # 2023-06-01 knows one kind; "user" (private workbooks) was an older API's.
    ("prod", WORKBOOK, "kind", "user", "'user' is not one of ['shared']"),
    ("prod", WORKBOOK, "name", "vllm-azureml-prod", "'vllm-azureml-prod' does not match"),
    # The document as an object rather than its serialized JSON.
    ("prod", WORKBOOK, "properties.serializedData", {"items": []}, "is not of type 'string'"),
    # The deprecated properties.tags is a list of strings, not the resource's tag map.
    ("prod", WORKBOOK, "properties.tags", {"stack": "prod"}, "is not of type 'array'"),
    ("prod", WORKBOOK, "properties.version", 1, "1 is not of type 'string'"),
    (
        "prod",
        ROLE_ASSIGNMENT,
        "properties.principalType",
        "ManagedIdentity",
        "'ManagedIdentity' is not one of",
    ),
    ("prod", ROLE_ASSIGNMENT, "name", "metrics-publisher", "'metrics-publisher' does not match"),
    ("prod", ROLE_ASSIGNMENT, "properties.description", None, "None is not of type 'string'"),
]


@pytest.mark.parametrize(
    ("variant", "type_token", "path", "value", "expected"),
    MUTATIONS,
    ids=[f"{m[1].rsplit(':', 1)[-1]}-{m[2]}={m[3]!r}" for m in MUTATIONS],
)
def test_wrong_value_is_caught(
    variant: str, type_token: str, path: str, value: Any, expected: str
) -> None:
    body = _body(variant, type_token)
    assert not problems(body), "the unmutated body must be valid for this test to mean anything"
    _set(body.document, path, value)
    found = problems(body)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    ("type_token", "path"),
    [
        # Flattened SDK argument with a typo: lands in ARM's properties, unknown there.
        (REGISTRY, "properties.adminEnabled"),
        (WORKSPACE, "properties.managedNetwork.isolationmode"),
        (ENDPOINT_TYPE, "properties.authmode"),
        (DEPLOYMENT, "properties.requestSettings.timeout"),
        (DEPLOYMENT, "properties.livenessProbe.initialDelaySeconds"),
        (AUTOSCALE, "properties.profiles.0.rules.0.metricTrigger.metric"),
        # A Kubernetes-only deployment property on a Managed deployment.
        (DEPLOYMENT, "properties.containerResourceRequirements"),
        (WORKBOOK, "properties.displayname"),
        (ROLE_ASSIGNMENT, "properties.principalID"),
        # A path parameter the mapping forgot would stay at the top of the body.
        (STORAGE_ACCOUNT, "resourceGroupName"),
        (ROLE_ASSIGNMENT, "scope"),
    ],
)
def test_unknown_property_is_caught(type_token: str, path: str) -> None:
    body = _body("prod", type_token)
    assert not problems(body)
    _set(body.document, path, {} if "Requirements" in path else "x")
    assert any(f"{path}: unknown property" in line for line in problems(body)), problems(body)


def test_too_many_profiles_are_caught() -> None:
    body = _body("prod", AUTOSCALE)
    profiles = body.document["properties"]["profiles"]
    body.document["properties"]["profiles"] = (profiles * 21)[:21]
    assert any("profiles: " in line and "is too long" in line for line in problems(body))


def test_a_bad_outbound_rule_name_is_caught() -> None:
    body = _body("prod", WORKSPACE)
    rules = body.document["properties"]["managedNetwork"]["outboundRules"]
    rules["-huggingface.co"] = rules.pop("fqdn-huggingface-co")
    assert any("'-huggingface.co' does not match" in line for line in problems(body))


@pytest.mark.parametrize(
    ("variant", "type_token", "path"),
    [
        ("dev", ENVIRONMENT, "properties.inferenceConfig.scoringRoute.port"),
        ("prod", WORKBOOK, "properties.displayName"),
        ("prod", WORKBOOK, "properties.serializedData"),
        ("prod", WORKBOOK, "properties.category"),
        ("prod", ROLE_ASSIGNMENT, "properties.principalId"),
        ("prod", ROLE_ASSIGNMENT, "properties.roleDefinitionId"),
    ],
)
def test_missing_required_property_is_caught(variant: str, type_token: str, path: str) -> None:
    body = _body(variant, type_token)
    assert not problems(body)
    *parents, key = path.split(".")
    node = body.document
    for part in parents:
        node = node[part]
    del node[key]
    assert any(f"'{key}' is a required property" in line for line in problems(body)), problems(body)


def test_every_deployer_principal_type_settings_allow_is_one_the_schema_allows() -> None:
    # deployerPrincipalType reaches a role assignment only with a Hugging Face token (the variant
    # covers User, the default); the other allowed values must be valid too.
    principal_type = schema_document_raw(AUTHORIZATION)["definitions"]["RoleAssignmentProperties"][
        "properties"
    ]["principalType"]["oneOf"][0]
    assert set(PRINCIPAL_TYPES) <= set(principal_type["enum"])


def test_the_uuid_names_are_what_the_sources_say() -> None:
    """The two UUID tightenings restate prose: the workbook schema's and the SDK's (the REST
    spec's roleAssignmentName parameter), so a reworded source makes this fail, not pass."""
    workbook_name = schema_document_raw(WORKBOOKS)["resourceDefinitions"]["workbooks"]
    assert "The value must be an UUID" in workbook_name["properties"]["name"]["description"]
    role_assignment_name = _sdk_descriptions(ROLE_ASSIGNMENT)["roleAssignmentName"]
    assert "It can be any valid GUID" in role_assignment_name


def test_unknown_values_are_wildcards_and_counted() -> None:
    inputs = {
        "registryName": "crvllmdev",
        "resourceGroupName": UNKNOWN,
        "location": "swedencentral",
        "sku": {"name": UNKNOWN},
        "adminUserEnabled": False,
        "tags": {"owner": UNKNOWN},
    }
    body = arm_body(REGISTRY, inputs, "registry")
    assert sorted(body.wildcards) == ["resourceGroupName", "sku.name", "tags.owner"]
    # sku.name is required, so dropping the wildcard makes sku incomplete: reported, not hidden.
    assert any("'name' is a required property" in line for line in problems(body))
    assert body.document["properties"] == {"adminUserEnabled": False}


def test_schemas_are_compiled_once() -> None:
    assert validator(SCHEMA_BASE_URI + STORAGE, "/resourceDefinitions/storageAccounts") is (
        validator(SCHEMA_BASE_URI + STORAGE, "/resourceDefinitions/storageAccounts")
    )


def test_sdk_names_become_wire_names() -> None:
    storage = _body("prod", STORAGE_ACCOUNT).document["properties"]
    assert storage["supportsHttpsTrafficOnly"] is True
    assert "enableHttpsTrafficOnly" not in storage
    autoscale = _body("prod", AUTOSCALE)
    assert any(path.endswith(".dimensionName") for path in autoscale.renamed)
    rules = autoscale.document["properties"]["profiles"][0]["rules"]
    dimensions = [d for rule in rules for d in rule["metricTrigger"].get("dimensions", [])]
    assert dimensions, "prod scales out on rejected requests, a rule with a dimension filter"
    assert all(set(d) == {"DimensionName", "Operator", "Values"} for d in dimensions)


def test_a_name_that_is_wrong_beyond_its_first_letter_is_caught() -> None:
    inputs = copy.deepcopy(_variant_run("prod").one(AUTOSCALE).inputs)
    rule = next(r for r in inputs["profiles"][0]["rules"] if r["metricTrigger"].get("dimensions"))
    dimension = rule["metricTrigger"]["dimensions"][0]
    dimension["dimensionname"] = dimension.pop("dimensionName")
    found = problems(arm_body(AUTOSCALE, inputs, "setting"))
    assert any("dimensions.0.dimensionname: unknown property" in line for line in found), found
