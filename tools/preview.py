"""Offline preview: what `pulumi up` would create for a stack, with no cloud, CLI or Docker.

    python -m tools.preview --stack dev [--json FILE] [--graph FILE]

Runs the real ``__main__.py`` under Pulumi's mocks with the stack file's configuration and prints
the resource tree, the settings that matter for each resource, and the stack outputs (secrets as
``[secret]``). Bad configuration exits 2 with the settings errors; nothing is deployed either way.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib import prices
from lib.quota import DeploymentDemand, quota_lines, quota_needed
from tools import cost, graph, placeholders, plan_diff
from tools.offline import (
    ProgramRun,
    RecordedResource,
    StackFileError,
    committed_stacks,
    project_name,
    run_program,
    stack_file_name,
)
from tools.preview_models import render_models

SECRET = "[secret]"

# The inputs worth a glance per resource type: (label, dotted input path).
HIGHLIGHTS: dict[str, list[tuple[str, str]]] = {
    "azure-native:resources:ResourceGroup": [("location", "location")],
    "azure-native:storage:StorageAccount": [
        ("name", "accountName"),
        ("sku", "sku.name"),
        ("tls", "minimumTlsVersion"),
        ("blobPublicAccess", "allowBlobPublicAccess"),
        ("sharedKey", "allowSharedKeyAccess"),
    ],
    "azure-native:keyvault:Vault": [
        ("name", "vaultName"),
        ("rbac", "properties.enableRbacAuthorization"),
        ("purgeProtection", "properties.enablePurgeProtection"),
        ("softDeleteDays", "properties.softDeleteRetentionInDays"),
    ],
    "azure-native:containerregistry:Registry": [
        ("name", "registryName"),
        ("sku", "sku.name"),
        ("adminUser", "adminUserEnabled"),
        ("anonymousPull", "anonymousPullEnabled"),
    ],
    "azure-native:machinelearningservices:Workspace": [
        ("name", "workspaceName"),
        ("publicNetworkAccess", "publicNetworkAccess"),
        ("isolation", "managedNetwork.isolationMode"),
    ],
    "azure-native:machinelearningservices:OnlineEndpoint": [
        ("name", "endpointName"),
        ("auth", "properties.authMode"),
        ("publicNetworkAccess", "properties.publicNetworkAccess"),
    ],
    "azure-native:machinelearningservices:OnlineDeployment": [
        ("name", "deploymentName"),
        ("instanceType", "properties.instanceType"),
        ("instances", "sku.capacity"),
        ("concurrency", "properties.requestSettings.maxConcurrentRequestsPerInstance"),
        ("model", "properties.environmentVariables.MODEL_NAME"),
        ("revision", "properties.environmentVariables.SERVE_REVISION"),
        ("servedAs", "properties.environmentVariables.SERVE_SERVED_MODEL_NAMES"),
        ("tensorParallel", "properties.environmentVariables.SERVE_TENSOR_PARALLEL_SIZE"),
        ("parser", "properties.environmentVariables.SERVE_REASONING_PARSER"),
        ("modelAsset", "properties.model"),
        ("timeout", "properties.requestSettings.requestTimeout"),
    ],
    "azure-native:machinelearningservices:EnvironmentVersion": [
        ("version", "version"),
        ("image", "properties.image"),
    ],
    "azure-native:monitor:AutoscaleSetting": [
        ("enabled", "enabled"),
        ("min", "profiles.0.capacity.minimum"),
        ("default", "profiles.0.capacity.default"),
        ("max", "profiles.0.capacity.maximum"),
        ("profiles", "profiles"),
    ],
    "azure-native:operationalinsights:Workspace": [
        ("name", "workspaceName"),
        ("retentionDays", "retentionInDays"),
    ],
    "azure-native:applicationinsights:Component": [
        ("name", "resourceName"),
        ("ingestion", "ingestionMode"),
    ],
    "azure-native:monitor:DiagnosticSetting": [
        ("logs", "logs.0.categoryGroup"),
        ("metrics", "metrics.0.category"),
    ],
    "azure-native:keyvault:Secret": [("name", "secretName")],
    "docker:index/image:Image": [
        ("platform", "build.platform"),
        ("context", "build.context"),
        ("base", "build.args.BASE_IMAGE"),
    ],
    "pulumi-python:dynamic/containerregistry:ImportImage": [
        ("from", "source_registry"),
        ("image", "source_image"),
    ],
    "pulumi-python:dynamic/model_weights:ModelWeights": [
        ("model", "model"),
        ("revision", "revision"),
        ("asset", "model_version_id"),
    ],
    "pulumi-python:dynamic/traffic:EndpointTraffic": [
        ("traffic", "traffic"),
        ("mirror", "mirror_traffic"),
    ],
    "azure-native:authorization:RoleAssignment": [
        ("role", "roleDefinitionId"),
        ("scope", "scope"),
    ],
}


def _short_type(type_token: str) -> str:
    parts = type_token.split(":")
    return parts[-1] if len(parts) == 3 else type_token


def _show(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def highlights(resource: RecordedResource, placeholder_tokens: frozenset[str] = frozenset()) -> str:
    shown = []
    for label, path in HIGHLIGHTS.get(resource.type, []):
        if resource.is_secret(path):
            shown.append(f"{label}={SECRET}")
            continue
        value = resource.input(path)
        if value is None:
            continue
        if label == "role" and isinstance(value, str):
            value = value.rsplit("/", 1)[-1]
        if label in ("asset", "modelAsset") and isinstance(value, str):
            value = value.rsplit("/workspaces/", 1)[-1]
        if label == "scope" and isinstance(value, str):
            value = value.rsplit("/providers/", 1)[-1]
        mark = placeholders.MARK if placeholders.is_placeholder(value, placeholder_tokens) else ""
        shown.append(f"{label}={_show(value)}{mark}")
    if resource.type == "azure-native:machinelearningservices:OnlineEndpoint":
        traffic = resource.input("properties.traffic")
        if traffic:
            shown.append(f"traffic={_show(traffic)}")
    if resource.protect:
        shown.append("protected")
    return "  ".join(shown)


def render_tree(run: ProgramRun, placeholder_tokens: frozenset[str] = frozenset()) -> str:
    """The resources as a tree of parents and children, each with its highlights."""
    children: dict[str, list[RecordedResource]] = {}
    known = {resource.urn for resource in run.resources}
    # Siblings by name: registration order varies with thread scheduling, names do not.
    for resource in sorted(run.resources, key=lambda resource: resource.name):
        parent = resource.parent if resource.parent in known else ""
        children.setdefault(parent, []).append(resource)
    lines: list[str] = []

    def walk(parent: str, indent: str) -> None:
        siblings = children.get(parent, [])
        for index, resource in enumerate(siblings):
            last = index == len(siblings) - 1
            branch = "└─ " if last else "├─ "
            detail = highlights(resource, placeholder_tokens)
            lines.append(
                f"{indent}{branch}{_short_type(resource.type)} {resource.name}"
                + (f"  [{detail}]" if detail else "")
            )
            walk(resource.urn, indent + ("   " if last else "│  "))

    walk("", "")
    return "\n".join(lines)


def quota_demands(run: ProgramRun) -> list[DeploymentDemand]:
    """Each online deployment at its peak: the highest maximum of the autoscale setting that
    targets it, else its instance count (the same rule as lib.quota.demand_of, read from what the
    program declared)."""
    peaks: dict[str, int] = {}
    for setting in run.of_type("azure-native:monitor:AutoscaleSetting"):
        target = str(setting.input("targetResourceUri", "")).lower()
        maxima = [int(p["capacity"]["maximum"]) for p in setting.input("profiles", []) or []]
        if maxima:
            peaks[target] = max([*maxima, peaks.get(target, 0)])
    demands = []
    for deployment in run.of_type("azure-native:machinelearningservices:OnlineDeployment"):
        count = int(deployment.input("sku.capacity", 1) or 1)
        peak = max(count, peaks.get(str(deployment.id or "").lower(), 0))
        demands.append(
            DeploymentDemand(
                str(deployment.input("deploymentName")),
                str(deployment.input("properties.instanceType")),
                peak,
            )
        )
    return sorted(demands, key=lambda demand: demand.deployment)


def render_quota(run: ProgramRun, region: str) -> str:
    """The "vCPU quota" section (lib/quota.py computes the figures)."""
    return "\n".join(quota_lines(quota_needed(quota_demands(run)), region))


def _redacted(value: Any, secret: bool) -> Any:
    return SECRET if secret else value


def render_outputs(run: ProgramRun, placeholder_tokens: frozenset[str] = frozenset()) -> str:
    width = max((len(name) for name in run.outputs), default=0)
    lines = []
    for name, value in run.outputs.items():
        shown = _redacted(value, name in run.secret_outputs)
        if not isinstance(shown, str):
            shown = json.dumps(shown, sort_keys=True)
        if placeholders.is_placeholder(shown, placeholder_tokens):
            shown += placeholders.MARK
        lines.append(f"  {name.ljust(width)}  {shown}")
    return "\n".join(lines)


def _redact_inputs(value: Any, path: str, secret_paths: Sequence[str]) -> Any:
    if path and path in secret_paths:
        return SECRET
    if isinstance(value, dict):
        return {
            key: _redact_inputs(item, f"{path}.{key}" if path else key, secret_paths)
            for key, item in sorted(value.items())
        }
    if isinstance(value, list):
        return [
            _redact_inputs(item, f"{path}.{index}", secret_paths)
            for index, item in enumerate(value)
        ]
    return value


def to_json(run: ProgramRun) -> dict[str, Any]:
    """Every resource with its full inputs (secrets redacted) and dependencies; stable order."""
    return {
        "stack": run.stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "custom": resource.custom,
                "protect": resource.protect,
                "retainOnDelete": resource.retain_on_delete,
                "ignoreChanges": resource.ignore_changes,
                "customTimeouts": resource.custom_timeouts,
                "dependencies": resource.dependencies,
                "secretInputs": resource.secret_paths,
                "inputs": _redact_inputs(resource.inputs, "", resource.secret_paths),
            }
            for resource in run.resources
        ],
        "outputs": {
            name: _redacted(value, name in run.secret_outputs)
            for name, value in sorted(run.outputs.items())
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.preview",
        description="Show what `pulumi up` would deploy for a stack, offline (no Azure, no CLI).",
    )
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--stack-file",
        metavar="FILE",
        help="preview this stack file instead (e.g. a new region before it is committed)",
    )
    parser.add_argument("--json", metavar="FILE", help="write every resource's inputs as JSON")
    parser.add_argument("--graph", metavar="FILE", help="write a Mermaid diagram of the graph")
    parser.add_argument(
        "--baseline",
        metavar="PLAN.json",
        help="compare with an earlier --json plan: what this change creates, updates, replaces "
        "and deletes, and what it does to the cost",
    )
    arguments = parser.parse_args(argv)

    from settings import SettingsError

    try:
        if arguments.stack_file:
            path = Path(arguments.stack_file)
            run = run_program(stack_file_name(path), stack_file=path)
        else:
            run = run_program(arguments.stack)
    except (SettingsError, StackFileError) as error:
        print(str(error), file=sys.stderr)
        return 2

    baseline = _read_baseline(arguments.baseline) if arguments.baseline else None
    if arguments.baseline and baseline is None:
        return 2
    plan = to_json(run)
    table = prices.load()
    tokens = placeholders.tokens(
        run,
        project=project_name(),
        location=run.config.get("azure-native:location", ""),
        name_salt=run.config.get(f"{project_name()}:nameSalt", ""),
    )
    custom = [resource for resource in run.resources if resource.custom]
    components = len(run.resources) - len(custom)
    print(f"Offline preview of stack '{run.stack}' (mocks: no Azure calls, nothing deployed)\n")
    print(render_tree(run, tokens))
    print("\nOutputs:")
    print(render_outputs(run, tokens))
    print()
    print(render_models(run.outputs))
    print()
    print(cost.render(cost.plan_cost(plan, table)))
    print()
    print(render_quota(run, str(run.outputs.get("region", ""))))
    print(
        f"\n{len(custom)} resources to create in {components} components. "
        f"Stacks in this repo: {', '.join(committed_stacks())}."
    )
    print(placeholders.LEGEND)
    if baseline is not None:
        print()
        print(plan_diff.render(baseline, plan, table, label=str(arguments.baseline)))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n")
        print(f"Wrote {arguments.json}")
    if arguments.graph:
        Path(arguments.graph).write_text(graph.to_mermaid(plan["resources"]))
        print(f"Wrote {arguments.graph}")
    return 0


def _read_baseline(path: str) -> dict[str, Any] | None:
    """An earlier --json plan, or None after saying why it cannot be used (exit 2)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"--baseline {path}: cannot be read as a plan ({error})", file=sys.stderr)
        return None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        print(
            f"--baseline {path}: is not a plan written by `python -m tools.preview --json`",
            file=sys.stderr,
        )
        return None
    return document


if __name__ == "__main__":
    # The azure-native SDK creates hundreds of thousands of objects as it imports, and the cyclic
    # garbage collector walks them again and again, then once more at exit: about half of this
    # command's wall time, for garbage a process this short never needs collected (peak memory is
    # the same either way, ~120 MiB; `python -m tools.bench` measures both).
    gc.disable()
    code = main()
    gc.freeze()
    sys.exit(code)
