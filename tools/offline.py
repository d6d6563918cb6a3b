"""Run the real Pulumi program in-process under Pulumi's mocks, and record what it declares.

This is the engine behind the offline preview (``python -m tools.preview``) and the test suite. It
needs no Pulumi CLI, no Azure credentials, no Docker and no network: ``pulumi.runtime.set_mocks``
replaces the engine, and :class:`AzureMocks` answers each resource and invoke with outputs shaped
like Azure's (ARM ids, login servers, scoring URIs) so the program's wiring runs as it would.

Mocks do not read ``Pulumi.<stack>.yaml``; :func:`load_stack_config` does, applying the project's
defaults from ``Pulumi.yaml`` as the CLI would.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from lib.pulumi_api import (
    MockMonitor,
    deserialize_properties,
    get_root_resource,
    reset_root_stack,
    run_program_function,
    sync_await,
)

# Re-exported: the preview and the tests catch it from here.
from tools.stackfile import StackFileError, read_stack_file

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"

# Pulumi marks secret values on the wire with this signature key (sdk/python/lib/pulumi/runtime/rpc.py).
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"

# Obviously fake identities for the offline run: all-zero style GUIDs that no tenant owns.
OFFLINE_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
OFFLINE_TENANT_ID = "00000000-0000-0000-0000-000000000001"
OFFLINE_OBJECT_ID = "00000000-0000-0000-0000-000000000002"
OFFLINE_CLIENT_ID = "00000000-0000-0000-0000-000000000003"
# Stands in for an encrypted `secure:` value from a stack file, which only the CLI can decrypt.
OFFLINE_SECRET_VALUE = "offline-preview-secret"


@dataclass
class RecordedResource:
    """One resource the program registered, with its inputs as the engine received them."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    secret_paths: list[str]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    ignore_changes: list[str]
    custom_timeouts: dict[str, str]
    delete_before_replace: bool
    retain_on_delete: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def input(self, path: str, default: Any = None) -> Any:
        """Read a nested input by dotted path ("properties.authMode")."""
        value: Any = self.inputs
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return default
        return value

    def is_secret(self, path: str) -> bool:
        """Whether the input at ``path`` (or an object containing it) was sent as a secret."""
        return any(path == secret or path.startswith(secret + ".") for secret in self.secret_paths)


def _strip_secrets(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Unwrap Pulumi's secret envelopes, remembering where they were."""
    if isinstance(value, dict):
        if value.get(SIGNATURE_KEY) == SECRET_SIGNATURE:
            secret_paths.append(path)
            return _strip_secrets(value.get("value"), path, secret_paths)
        return {
            key: _strip_secrets(item, f"{path}.{key}" if path else key, secret_paths)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _strip_secrets(item, f"{path}.{index}", secret_paths)
            for index, item in enumerate(value)
        ]
    if isinstance(value, pulumi.output.Unknown):
        return "[unknown]"
    # The wire format has only doubles: 16 arrives as 16.0. Whole numbers go back to ints so
    # that the preview and its JSON show what the stack file said.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _arm_segment(azure_type: str) -> str:
    """`azure-native:machinelearningservices:OnlineEndpoint` -> `Microsoft.MachineLearningServices/...`."""
    module, kind = azure_type.split(":")[1:3]
    providers = {
        "resources": "Microsoft.Resources/resourceGroups",
        "storage": "Microsoft.Storage",
        "keyvault": "Microsoft.KeyVault",
        "containerregistry": "Microsoft.ContainerRegistry",
        "operationalinsights": "Microsoft.OperationalInsights",
        "applicationinsights": "Microsoft.Insights",
        "machinelearningservices": "Microsoft.MachineLearningServices",
        "authorization": "Microsoft.Authorization",
        "monitor": "Microsoft.Insights",
    }
    namespace = providers.get(module, f"Microsoft.{module.capitalize()}")
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    return f"{namespace}/{plural[0].lower()}{plural[1:]}"


class AzureMocks(pulumi.runtime.Mocks):
    """Answers the engine like Azure would, shaped enough for the program's wiring to be real."""

    def __init__(self, location: str, stack: str):
        self.location = location
        self.stack = stack
        # Every invoke the program made, by token: tests check what a run asks Azure for.
        self.invokes: list[str] = []

    def _resource_group_id(self, inputs: Mapping[str, Any]) -> str:
        group = inputs.get("resourceGroupName") or "unknown-group"
        return f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/{group}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = copy.deepcopy(args.inputs)
        if not args.custom:
            return None, inputs
        outputs = dict(inputs)
        handler = self._handlers().get(args.typ)
        resource_id = self._default_id(args.typ, args.name, inputs)
        if handler is not None:
            resource_id, extra = handler(args, inputs, resource_id)
            outputs.update(extra)
        outputs.setdefault("id", resource_id)
        return resource_id, outputs

    def _handlers(self) -> dict[str, Any]:
        return {
            "azure-native:resources:ResourceGroup": self._resources_resource_group,
            "azure-native:containerregistry:Registry": self._containerregistry_registry,
            "azure-native:keyvault:Vault": self._keyvault_vault,
            "azure-native:keyvault:Secret": self._keyvault_secret,
            "azure-native:storage:StorageAccount": self._storage_storage_account,
            "azure-native:operationalinsights:Workspace": self._operationalinsights_workspace,
            "azure-native:applicationinsights:Component": self._applicationinsights_component,
            "azure-native:machinelearningservices:Workspace": self._machinelearningservices_workspace,
            "azure-native:machinelearningservices:OnlineEndpoint": self._machinelearningservices_online_endpoint,
            "azure-native:machinelearningservices:OnlineDeployment": self._machinelearningservices_online_deployment,
            "azure-native:machinelearningservices:EnvironmentVersion": self._machinelearningservices_environment_version,
            "docker:index/image:Image": self._docker_image,
        }

    def _default_id(self, typ: str, logical_name: str, inputs: Mapping[str, Any]) -> str:
        if not typ.startswith("azure-native:"):
            return f"{logical_name}-offline-id"
        name = next(
            (
                inputs[key]
                for key in (
                    "name",
                    "accountName",
                    "vaultName",
                    "registryName",
                    "workspaceName",
                    "endpointName",
                    "deploymentName",
                    "autoscaleSettingName",
                    "resourceName",
                    "roleAssignmentName",
                )
                if isinstance(inputs.get(key), str)
            ),
            logical_name,
        )
        return f"{self._resource_group_id(inputs)}/providers/{_arm_segment(typ)}/{name}"

    # --- per-type outputs (names follow the provider's camelCase wire names) -------------------

    def _resources_resource_group(self, args, inputs, _):
        name = inputs.get("resourceGroupName", args.name)
        return f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/{name}", {"name": name}

    def _containerregistry_registry(self, args, inputs, resource_id):
        name = inputs.get("registryName", args.name)
        return resource_id, {"name": name, "loginServer": f"{name.lower()}.azurecr.io"}

    def _keyvault_vault(self, args, inputs, resource_id):
        name = inputs.get("vaultName", args.name)
        return resource_id, {
            "name": name,
            "properties": {
                **inputs.get("properties", {}),
                "vaultUri": f"https://{name}.vault.azure.net/",
            },
        }

    def _keyvault_secret(self, args, inputs, resource_id):
        name = inputs.get("secretName", args.name)
        vault = inputs.get("vaultName", "vault")
        version = hashlib.sha256(f"{vault}/{name}".encode()).hexdigest()[:32]
        return resource_id, {
            "name": name,
            "properties": {
                "secretUri": f"https://{vault}.vault.azure.net/secrets/{name}",
                "secretUriWithVersion": f"https://{vault}.vault.azure.net/secrets/{name}/{version}",
            },
        }

    def _storage_storage_account(self, args, inputs, resource_id):
        name = inputs.get("accountName", args.name)
        return resource_id, {"name": name}

    def _operationalinsights_workspace(self, args, inputs, resource_id):
        name = inputs.get("workspaceName", args.name)
        return resource_id, {"name": name, "customerId": "00000000-0000-0000-0000-00000000000a"}

    def _applicationinsights_component(self, args, inputs, resource_id):
        name = inputs.get("resourceName", args.name)
        return resource_id, {
            "name": name,
            "connectionString": f"InstrumentationKey=offline;IngestionEndpoint=https://{self.location}.in.applicationinsights.azure.com/",
        }

    def _identity(self, name: str) -> dict[str, Any]:
        digest = hashlib.sha256(name.encode()).hexdigest()
        principal = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return {"type": "SystemAssigned", "principalId": principal, "tenantId": OFFLINE_TENANT_ID}

    def _machinelearningservices_workspace(self, args, inputs, resource_id):
        name = inputs.get("workspaceName", args.name)
        return resource_id, {"name": name, "identity": self._identity(resource_id)}

    def _machinelearningservices_online_endpoint(self, args, inputs, resource_id):
        name = inputs.get("endpointName", args.name)
        workspace = inputs.get("workspaceName", "workspace")
        resource_id = (
            f"{self._resource_group_id(inputs)}/providers/Microsoft.MachineLearningServices/"
            f"workspaces/{workspace}/onlineEndpoints/{name}"
        )
        location = inputs.get("location", self.location)
        return resource_id, {
            "name": name,
            "identity": self._identity(resource_id),
            "properties": {
                **inputs.get("properties", {}),
                "scoringUri": f"https://{name}.{location}.inference.ml.azure.com/score",
                "swaggerUri": f"https://{name}.{location}.inference.ml.azure.com/swagger.json",
                "provisioningState": "Succeeded",
            },
        }

    def _machinelearningservices_online_deployment(self, args, inputs, resource_id):
        name = inputs.get("deploymentName", args.name)
        resource_id = (
            f"{self._resource_group_id(inputs)}/providers/Microsoft.MachineLearningServices/"
            f"workspaces/{inputs.get('workspaceName', 'workspace')}/onlineEndpoints/"
            f"{inputs.get('endpointName', 'endpoint')}/deployments/{name}"
        )
        return resource_id, {"name": name}

    def _machinelearningservices_environment_version(self, args, inputs, resource_id):
        resource_id = (
            f"{self._resource_group_id(inputs)}/providers/Microsoft.MachineLearningServices/"
            f"workspaces/{inputs.get('workspaceName', 'workspace')}/environments/"
            f"{inputs.get('name', 'environment')}/versions/{inputs.get('version', '1')}"
        )
        return resource_id, {}

    def _docker_image(self, args, inputs, _):
        # A real build pushes and reports the registry's digest; offline, the digest is derived
        # from the build inputs so that it changes exactly when they do.
        image_name = inputs.get("imageName", args.name)
        repository = image_name.split("@")[0].rsplit(":", 1)[0]
        seed = json.dumps(inputs.get("build", {}), sort_keys=True) + image_name
        digest = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
        return f"{repository}@{digest}", {
            "repoDigest": f"{repository}@{digest}",
            "imageName": image_name,
            "baseImageName": image_name,
            "registryServer": repository.split("/")[0],
        }

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        token = args.token
        self.invokes.append(token)
        if token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": OFFLINE_SUBSCRIPTION_ID,
                "tenantId": OFFLINE_TENANT_ID,
                "objectId": OFFLINE_OBJECT_ID,
                "clientId": OFFLINE_CLIENT_ID,
            }
        if token == "azure-native:machinelearningservices:listOnlineEndpointKeys":
            return {"primaryKey": "offline-primary-key", "secondaryKey": "offline-secondary-key"}
        if token == "azure-native:resources:getResourceGroup":
            name = args.args.get("resourceGroupName", "group")
            return {
                "id": f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/{name}",
                "name": name,
                "location": self.location,
            }
        return {}


class RecordingMonitor(MockMonitor):
    """The mock monitor, plus a record of each registration's parent, options and dependencies."""

    def __init__(self, mocks: AzureMocks):
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secret_paths: list[str] = []
        raw_inputs = deserialize_properties(request.object, keep_internal=True)
        inputs = _strip_secrets(raw_inputs, "", secret_paths)
        registration = self.resources.get(response.urn)
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                inputs=inputs,
                secret_paths=sorted(secret_paths),
                dependencies=sorted(request.dependencies),
                property_dependencies={
                    key: sorted(value.urns)
                    for key, value in sorted(request.propertyDependencies.items())
                },
                protect=request.protect,
                ignore_changes=list(request.ignoreChanges),
                custom_timeouts={
                    key: getattr(request.customTimeouts, key)
                    for key in ("create", "update", "delete")
                    if getattr(request.customTimeouts, key)
                },
                delete_before_replace=request.deleteBeforeReplace,
                retain_on_delete=request.retainOnDelete,
                outputs=dict(registration.state) if registration else {},
                id=response.id,
            )
        )
        return response


@dataclass
class ProgramRun:
    """What one offline run of the program declared."""

    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[str] = field(default_factory=list)
    # The flat configuration the program ran with (secure values are the offline stand-in).
    config: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> RecordedResource:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {len(found)}")
        return found[0]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}


@functools.lru_cache(maxsize=4)
def _parse_project_file(text: str) -> dict[str, Any]:
    # Keyed by the file's text, so an edited Pulumi.yaml is parsed again. Parsing its generated
    # `config:` block with PyYAML's pure-Python loader took about a fifth of each program run, and
    # the test suite runs the program hundreds of times; the callers copy what they return.
    return yaml.safe_load(text)


def _project_file() -> dict[str, Any]:
    return _parse_project_file((ROOT / "Pulumi.yaml").read_text())


def project_name() -> str:
    return _project_file()["name"]


def project_defaults() -> dict[str, Any]:
    """The `config:` defaults declared in Pulumi.yaml, keyed without namespace."""
    declared = _project_file().get("config", {})
    # A copy: the parsed document is shared by every run in the process.
    return {
        key: copy.deepcopy(spec["default"]) for key, spec in declared.items() if "default" in spec
    }


def committed_stacks() -> list[str]:
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml"))


def _as_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def stack_file_name(path: Path) -> str:
    """`Pulumi.prod-westeurope.yaml` -> `prod-westeurope`."""
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith(".yaml")) or name == "Pulumi.yaml":
        raise StackFileError(f"{path} is not a stack file: its name must be Pulumi.<stack>.yaml")
    return name[len("Pulumi.") : -len(".yaml")]


def load_stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, path: Path | None = None
) -> tuple[dict[str, str], list[str]]:
    """Read ``Pulumi.<stack>.yaml`` (or ``path``) into the flat string map a Pulumi program
    receives.

    Returns (config, secret_keys). Encrypted ``secure:`` values become a fixed offline stand-in,
    marked secret, because only the CLI can decrypt them.
    """
    path = path or ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(
            f"No stack file {path.name}; committed stacks: "
            f"{', '.join(committed_stacks()) or 'none'}"
        )
    # Bounded and strict (tools/stackfile.py): size, encoding, duplicate keys, alias bombs, and
    # values YAML 1.1 and the CLI's YAML 1.2 would read differently.
    document = read_stack_file(path)
    project = project_name()
    config: dict[str, str] = {
        f"{project}:{key}": _as_config_string(value) for key, value in project_defaults().items()
    }
    secret_keys: list[str] = []
    entries = dict(document.get("config") or {})
    entries.update(overrides or {})
    for key, value in entries.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = OFFLINE_SECRET_VALUE
            secret_keys.append(full_key)
        else:
            config[full_key] = _as_config_string(value)
    return config, secret_keys


@contextmanager
def _program_on_path() -> Iterator[None]:
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(ROOT))


# How the offline run shows an output that a real preview could not know either.
UNKNOWN_OUTPUT = "[unknown until pulumi up]"


def _resolve(value: Any) -> tuple[Any, bool]:
    output = pulumi.Output.from_input(value)
    known = bool(sync_await(output.is_known()))
    resolved = sync_await(output.future()) if known else UNKNOWN_OUTPUT
    secret = bool(sync_await(output.is_secret()))
    return resolved, secret


def _run_main() -> None:
    runpy.run_path(str(PROGRAM), run_name="__main__")


def _is_provider_type_alias(alias: object, resource: object, type_token: str) -> bool:
    """Whether ``alias`` is one a generated provider SDK (``pulumi_azure_native``,
    ``pulumi_docker``) adds to each of its resources: an earlier type token of the same package
    (``azure-native:storage/v20230101:StorageAccount``, ...), with no name, parent, stack or project
    of its own. The program's components and dynamic resources are never such resources."""
    if not type(resource).__module__.startswith("pulumi_"):
        return False
    if not isinstance(alias, pulumi.Alias) or not isinstance(alias.type_, str):
        return False
    # An Alias leaves a field it does not set as ``...`` (the SDK's typing does not say so).
    unset = all(getattr(alias, key) is ... for key in ("name", "parent", "stack", "project"))
    package = type_token.split(":", 1)[0] + ":"
    return unset and alias.type_.startswith(package)


def _without_provider_type_aliases(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """The resource without the provider SDK's own type aliases.

    azure-native gives each resource an alias for each API version that ever declared its type
    (30 and more for an online endpoint; ~320 in a prod run), and the SDK turns each into a URN
    through its own outputs and tasks: about a third of a program run's time. Aliases only let
    the engine match a resource in earlier state under an old type; an offline run has no state,
    registers nothing with the real engine and records no alias, so what it records is the same
    without them (tests/tools/test_offline.py compares). Aliases that name a resource's old name or
    parent, and any alias on the program's own components and dynamic resources, are kept.
    """
    aliases = list(args.opts.aliases or [])
    kept = [
        alias for alias in aliases if not _is_provider_type_alias(alias, args.resource, args.type_)
    ]
    if len(kept) == len(aliases):
        return None
    options = copy.copy(args.opts)
    options.aliases = kept
    return pulumi.ResourceTransformationResult(props=args.props, opts=options)


def run_program(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    preview: bool = True,
    program: Callable[[], None] | None = None,
    stack_file: Path | None = None,
) -> ProgramRun:
    """Run ``__main__.py`` for ``stack`` under mocks and return everything it declared.

    ``overrides`` replace stack-file keys (without namespace for project keys), which lets tests
    vary one setting at a time. ``program`` runs instead of ``__main__.py`` (a component test
    declaring one component with the stack's configuration). ``stack_file`` reads the configuration
    from a stack file elsewhere (a region not committed yet). A configuration error propagates as
    ``SettingsError``.
    """
    config, secret_keys = load_stack_config(stack, overrides, stack_file)
    location = config.get("azure-native:location", "")
    mocks = AzureMocks(location=location, stack=stack)
    monitor = RecordingMonitor(mocks)
    # set_mocks creates a root stack only when none exists; without this reset a second run in
    # the same process would export onto the first run's stack and report its outputs.
    reset_root_stack()
    pulumi.runtime.set_mocks(
        mocks, project=project_name(), stack=stack, preview=preview, monitor=monitor
    )
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.register_stack_transformation(_without_provider_type_aliases)
    with _program_on_path():
        run_program_function(program or _run_main)
    root = get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for name, value in sorted(getattr(root, "outputs", {}).items()):
        resolved, secret = _resolve(value)
        outputs[name] = resolved
        if secret:
            secret_outputs.add(name)
    # Registration order depends on thread scheduling; URN order does not.
    resources = sorted(monitor.recorded, key=lambda resource: resource.urn)
    return ProgramRun(
        stack=stack,
        resources=resources,
        outputs=outputs,
        secret_outputs=secret_outputs,
        invokes=sorted(mocks.invokes),
        config=config,
    )
